"""Churn warnings: the check with a clock moved by hand (who is flagged, who is cleared), and the
account manager's measures and confirmations, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm_core.audit import SYSTEM, Actor
from crm_core.churn import (
    MOVES,
    ChurnService,
    ConfirmInput,
    MeasureInput,
    WarningFilters,
    check_churn,
    months_before,
    next_status,
    reason_parts,
)
from crm_core.customers import CustomerService
from crm_core.db import create_engine, session_factory
from crm_core.errors import Conflict, InvalidInput
from crm_core.models import AuditEntry, ChurnMeasure, ChurnWarning, Customer, Order
from crm_core.schemas import CustomerCreate

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # a Saturday, 02:00
WINDOW_START = datetime(2026, 5, 28, 2, 0, tzinfo=UTC)  # six months before


def test_months_are_calendar_months_and_the_day_is_kept_where_the_month_has_it():
    assert months_before(NOW, 6) == WINDOW_START
    assert months_before(datetime(2026, 8, 31, tzinfo=UTC), 6) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2028, 8, 31, tzinfo=UTC), 6) == datetime(2028, 2, 29, tzinfo=UTC)
    assert months_before(datetime(2026, 3, 15, tzinfo=UTC), 15) == datetime(
        2024, 12, 15, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("status", "move", "to"),
    [
        ("open", "measure", "postponed"),
        ("postponed", "measure", "postponed"),
        ("open", "confirm", "churned"),
        ("postponed", "confirm", "churned"),
        ("open", "clear", "cleared"),
        ("postponed", "clear", "cleared"),
        ("churned", "clear", "cleared"),
    ],
)
def test_a_warning_moves_on(status, move, to):
    assert next_status(status, move) == to


@pytest.mark.parametrize(
    ("status", "move"),
    [
        ("churned", "measure"),
        ("cleared", "measure"),
        ("churned", "confirm"),
        ("cleared", "confirm"),
        ("cleared", "clear"),
    ],
)
def test_a_closed_warning_refuses_the_move(status, move):
    with pytest.raises(Conflict, match=f"cannot {move} a churn warning that is {status}"):
        next_status(status, move)


def test_every_move_is_covered_above():
    assert {(s, m) for m, starts in MOVES.items() for s in starts} == {
        ("open", "measure"),
        ("postponed", "measure"),
        ("open", "confirm"),
        ("postponed", "confirm"),
        ("open", "clear"),
        ("postponed", "clear"),
        ("churned", "clear"),
    }


def test_the_reason_keeps_its_code_and_the_note_apart():
    assert reason_parts("competitor: went to Initech: cheaper") == (
        "competitor",
        "went to Initech: cheaper",
    )
    assert reason_parts("price") == ("price", "")


# On both databases.


@pytest.fixture
async def db(database_url):
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


async def customer(db, name: str, *, created: datetime, orders: tuple[datetime, ...] = ()) -> int:
    async with db() as session:
        made = await CustomerService(session, clock=lambda: created, region="US").create(
            CustomerCreate(name=name), SYSTEM
        )
        for index, placed in enumerate(orders):
            session.add(order(made.id, placed, index))
        await session.commit()
        return made.id


def order(customer_id: int, placed: datetime, index: int = 0) -> Order:
    return Order(
        customer_id=customer_id,
        reference=f"SO-{customer_id}-{index}-{placed:%Y%m%d}",
        status="completed",
        summary="",
        amount_cents=1000,
        currency="USD",
        placed_at=placed,
    )


async def check(db, now: datetime = NOW, months: int = 6):
    async with db() as session:
        result = await check_churn(session, now=now, months=months)
        await session.commit()
        return result


async def flags(db) -> dict[str, bool]:
    async with db() as session:
        rows = await session.execute(select(Customer.name, Customer.churn_flag))
        return dict(rows.all())


async def warnings(db) -> list[tuple[str, str]]:
    async with db() as session:
        rows = await session.execute(
            select(Customer.name, ChurnWarning.status)
            .join(Customer, Customer.id == ChurnWarning.customer_id)
            .order_by(ChurnWarning.id)
        )
        return [tuple(r) for r in rows.all()]


async def audit_actions(db) -> list[str]:
    async with db() as session:
        rows = await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity_type == "churn_warning")
            .order_by(AuditEntry.id)
        )
        return list(rows)


OLD = datetime(2025, 1, 10, tzinfo=UTC)


@pytest.fixture
async def customers(db) -> dict[str, int]:
    return {
        "silent": await customer(
            db, "Silent", created=OLD, orders=(datetime(2026, 3, 1, tzinfo=UTC),)
        ),
        "never": await customer(db, "Never ordered", created=OLD),
        "active": await customer(
            db, "Active", created=OLD, orders=(datetime(2026, 10, 1, tzinfo=UTC),)
        ),
        "at the edge": await customer(db, "At the edge", created=OLD, orders=(WINDOW_START,)),
        "new": await customer(db, "New", created=datetime(2026, 9, 1, tzinfo=UTC)),
        "created at the edge": await customer(db, "Created at the edge", created=WINDOW_START),
    }


async def test_customers_without_an_order_in_six_months_are_flagged(db, customers):
    result = await check(db)
    assert sorted(result.flagged) == sorted([customers["silent"], customers["never"]])
    assert result.summary() == "flagged 2, cleared 0"
    assert await flags(db) == {
        "Silent": True,
        "Never ordered": True,
        "Active": False,
        "At the edge": False,
        "New": False,
        "Created at the edge": False,
    }
    async with db() as session:
        found = await session.execute(
            select(
                ChurnWarning.customer_id,
                ChurnWarning.status,
                ChurnWarning.last_order_at,
                ChurnWarning.flagged_at,
            ).order_by(ChurnWarning.customer_id)
        )
        assert [tuple(r) for r in found.all()] == [
            (customers["silent"], "open", datetime(2026, 3, 1, tzinfo=UTC), NOW),
            (customers["never"], "open", None, NOW),
        ]
    assert await audit_actions(db) == ["churn.flag", "churn.flag"]


async def test_a_second_check_flags_nobody_twice(db, customers):
    await check(db)
    again = await check(db)
    assert again.flagged == () and again.cleared == ()
    # A week on, those at the window's edge a week ago are past it; the others stay as they are.
    week_on = await check(db, NOW + timedelta(days=7))
    assert week_on.flagged == (customers["at the edge"], customers["created at the edge"])
    assert await warnings(db) == [
        ("Silent", "open"),
        ("Never ordered", "open"),
        ("At the edge", "open"),
        ("Created at the edge", "open"),
    ]


async def test_the_window_follows_the_setting(db, customers):
    result = await check(db, months=9)  # since 28 February: Silent's March order counts
    assert result.flagged == (customers["never"],)


async def test_a_customer_who_orders_again_is_cleared_on_the_next_check(db, customers):
    await check(db)
    async with db() as session:
        session.add(order(customers["silent"], NOW + timedelta(days=2)))
        await session.commit()
    result = await check(db, NOW + timedelta(days=7))
    assert result.cleared == (customers["silent"],)
    assert customers["silent"] not in result.flagged
    assert (await warnings(db))[:2] == [("Silent", "cleared"), ("Never ordered", "open")]
    assert (await flags(db))["Silent"] is False
    async with db() as session:
        cleared = await session.scalar(
            select(ChurnWarning).where(ChurnWarning.customer_id == customers["silent"])
        )
    assert cleared.resolved_at == NOW + timedelta(days=7)
    assert (await audit_actions(db)).count("churn.clear") == 1
    # Silent for six months again: a new warning, the cleared one kept as history.
    later = NOW + timedelta(days=2) + timedelta(days=200)
    result = await check(db, later)
    assert customers["silent"] in result.flagged
    assert [status for name, status in await warnings(db) if name == "Silent"] == [
        "cleared",
        "open",
    ]


ANN = Actor(user_id=None, name="ann")


async def the_warning_of(db, customer_id: int) -> int:
    async with db() as session:
        return await session.scalar(
            select(ChurnWarning.id).where(ChurnWarning.customer_id == customer_id)
        )


async def test_a_measure_postpones_the_churn_and_a_confirmation_closes_it(db, clock, customers):
    await check(db)
    warning_id = await the_warning_of(db, customers["silent"])
    async with db() as session:
        churn = ChurnService(session, clock=clock)
        await churn.record_measure(
            warning_id, MeasureInput(measure="call", note="Spoke to the buyer"), ANN
        )
        await churn.record_measure(warning_id, MeasureInput(measure="discount"), ANN)
        await session.commit()
    async with db() as session:
        churn = ChurnService(session, clock=clock)
        warning, _ = await churn.get(warning_id)
        assert warning.status == "postponed"
        assert [(m.measure, m.note) for m in await churn.measures(warning_id)] == [
            ("call", "Spoke to the buyer"),
            ("discount", ""),
        ]
        await churn.confirm(
            warning_id, ConfirmInput(reason="competitor", note="Went to Initech"), ANN
        )
        await session.commit()
    async with db() as session:
        warning, _ = await ChurnService(session, clock=clock).get(warning_id)
    assert (warning.status, warning.reason, warning.resolved_at) == (
        "churned",
        "competitor: Went to Initech",
        clock(),
    )
    # A confirmed churn stays flagged, and is not flagged again.
    assert (await flags(db))["Silent"] is True
    assert customers["silent"] not in (await check(db, NOW + timedelta(days=7))).flagged
    assert (await audit_actions(db))[:5] == [
        "churn.flag",
        "churn.flag",
        "churn.measure",
        "churn.measure",
        "churn.confirm",
    ]


async def test_answers_outside_the_dictionary_or_after_the_end_are_refused(db, clock, customers):
    await check(db)
    warning_id = await the_warning_of(db, customers["never"])
    async with db() as session:
        churn = ChurnService(session, clock=clock)
        with pytest.raises(InvalidInput) as bad_measure:
            await churn.record_measure(warning_id, MeasureInput(measure="bribe"), ANN)
        with pytest.raises(InvalidInput) as bad_reason:
            await churn.confirm(warning_id, ConfirmInput(reason="bored"), ANN)
        await session.rollback()
    assert (bad_measure.value.field, bad_reason.value.field) == ("measure", "reason")
    async with db() as session:
        churn = ChurnService(session, clock=clock)
        assert (await churn.get(warning_id))[0].status == "open"
        await churn.confirm(warning_id, ConfirmInput(reason="closed"), ANN)
        await session.commit()
    async with db() as session:
        churn = ChurnService(session, clock=clock)
        with pytest.raises(Conflict):
            await churn.record_measure(warning_id, MeasureInput(measure="call"), ANN)
        with pytest.raises(Conflict):
            await churn.confirm(warning_id, ConfirmInput(reason="price"), ANN)
        await session.rollback()
        assert await session.scalar(select(func.count()).select_from(ChurnMeasure)) == 0


async def test_the_list_shows_the_warnings_still_to_be_worked_on(db, clock, customers):
    await check(db)
    async with db() as session:
        churn = ChurnService(session, clock=clock)
        await churn.confirm(
            await the_warning_of(db, customers["never"]), ConfirmInput(reason="price"), ANN
        )
        await session.commit()
        standing = await churn.warnings(WarningFilters())
        churned = await churn.warnings(WarningFilters(statuses=("churned",)))
    assert [c.name for _, c in standing] == ["Silent"]
    assert [c.name for _, c in churned] == ["Never ordered"]
