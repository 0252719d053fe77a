"""Orders: the workflow as a pure table, totals in cents, stock taken on confirmation (all or
nothing) and returned on cancellation, and the queries the pages and call lists use."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.audit import SYSTEM
from crm_core.cards import OPEN_ORDER
from crm_core.db import create_engine, session_factory
from crm_core.errors import Conflict, Forbidden, InvalidInput
from crm_core.models import AuditEntry, Order, OrderEvent, OrderLine, StockMovement
from crm_core.money import cents, money
from crm_core.orders import (
    CANCELLED,
    CONFIRMED,
    NEXT,
    OPEN_STATUSES,
    STATUSES,
    LineInput,
    OrderCreate,
    OrderFilter,
    OrderService,
    OrderUpdate,
    Status,
    TransitionRefused,
    orders_awaiting_confirmation,
    step,
)
from crm_core.products import OutOfStock, ProductService, ProductUpdate, StockMovementCreate
from crm_core.uow import UnitOfWork
from tests.support.shop import Shop, open_shop

# The workflow, pure.

ALLOWED = {
    ("draft", "awaiting_confirmation"),
    ("draft", "cancelled"),
    ("awaiting_confirmation", "confirmed"),
    ("awaiting_confirmation", "cancelled"),
    ("confirmed", "shipped"),
    ("confirmed", "cancelled"),
    ("shipped", "completed"),
}


@pytest.mark.parametrize(("before", "after"), sorted(ALLOWED))
def test_each_move_of_the_workflow_is_allowed(before, after):
    move = step(before, after)
    assert (move.from_status, move.to_status) == (before, after)


@pytest.mark.parametrize(
    ("before", "after"),
    sorted({(a, b) for a in STATUSES for b in STATUSES} - ALLOWED),
)
def test_every_other_move_is_refused_naming_the_field(before, after):
    with pytest.raises(TransitionRefused) as refused:
        step(before, after)
    assert refused.value.field == "to" and refused.value.code == "conflict"
    assert before in refused.value.message and after in refused.value.message


def test_stock_is_taken_on_confirmation_and_returned_only_when_a_confirmed_order_is_cancelled():
    takes = {(a, b) for a, b in ALLOWED if step(a, b).takes_stock}
    returns = {(a, b) for a, b in ALLOWED if step(a, b).returns_stock}
    assert takes == {("awaiting_confirmation", "confirmed")}
    assert returns == {("confirmed", "cancelled")}


def test_an_unknown_status_is_bad_input():
    with pytest.raises(InvalidInput) as bad:
        step("draft", "lost")
    assert bad.value.fields == {"to": "'lost' is not an order status"}


def test_the_statuses_agree_everywhere():
    assert set(NEXT) == set(STATUSES) == set(typing.get_args(Status))
    assert OPEN_ORDER == OPEN_STATUSES  # the customer card's open orders
    assert not NEXT["completed"] and not NEXT["cancelled"]  # closed for good


@given(st.lists(st.sampled_from(STATUSES), max_size=30))
def test_whatever_is_asked_stock_is_held_exactly_while_confirmed_shipped_or_completed(asked):
    status, held = "draft", 0
    for wanted in asked:
        try:
            move = step(status, wanted)
        except TransitionRefused:
            continue
        held += move.takes_stock - move.returns_stock
        status = move.to_status
        assert held == (status in ("confirmed", "shipped", "completed"))


# Through the service, on both databases.


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def shop(sessions, clock) -> Shop:
    return await open_shop(sessions, clock)


async def count(sessions, model) -> int:
    async with sessions() as db:
        return await db.scalar(select(func.count()).select_from(model))


async def detail(shop: Shop, order_id: int) -> dict:
    async with UnitOfWork(shop.sessions) as uow:
        return await OrderService(uow.session, clock=shop.clock).detail(order_id)


async def test_an_order_is_priced_from_the_products_and_totalled_in_cents(shop):
    order_id = await shop.order((shop.chair, 3), (shop.desk, 2), submit=False)
    order = await detail(shop, order_id)
    assert [(x["product_code"], x["unit_price"], x["line_total"]) for x in order["lines"]] == [
        ("P-100", "19.99", "59.97"),
        ("P-7", "5.00", "10.00"),
    ]
    assert order["amount"] == "69.97" and order["currency"] == "USD"
    assert order["status"] == "draft" and order["reference"] == f"SO-{order_id:06d}"
    assert order["summary"] == "3 × P-100 Chair, 2 × P-7 Desk"
    assert order["created_by"] == shop.ann.user_id and order["created_by_name"] == "Ann"
    assert [(e["from"], e["to"], e["user"]) for e in order["events"]] == [(None, "draft", "Ann")]
    # A later price change leaves the order as it was taken.
    async with UnitOfWork(shop.sessions) as uow:
        await ProductService(uow.session, clock=shop.clock).update(
            shop.chair, ProductUpdate(unit_price=Decimal("25")), SYSTEM
        )
        await uow.commit()
    assert (await detail(shop, order_id))["amount"] == "69.97"


def test_money_is_decimal_at_the_edges_and_cents_inside():
    assert cents(Decimal("19.99")) == 1999 and cents(Decimal("1E+3")) == 100_000
    assert money(1999) == "19.99" and money(5) == "0.05" and money(-250) == "-2.50"
    with pytest.raises(ValueError):
        cents(Decimal("1.234"))


async def create(shop: Shop, lines: list[dict], *, may_set_price: bool = False, **extra) -> int:
    async with UnitOfWork(shop.sessions) as uow:
        order = await OrderService(uow.session, clock=shop.clock).create(
            OrderCreate(customer_id=shop.customer, lines=lines, **extra),
            shop.ann,
            may_set_price=may_set_price,
        )
        await uow.commit()
        return order.id


async def test_another_price_needs_the_permission_to_manage_products(shop):
    with pytest.raises(Forbidden) as refused:
        await create(shop, [{"product_id": shop.chair, "quantity": 1, "unit_price": "15.00"}])
    assert refused.value.field == "lines.0.unit_price"
    assert await count(shop.sessions, Order) == 0
    # The product's own price, said again, is no override.
    same = await create(shop, [{"product_id": shop.chair, "quantity": 1, "unit_price": "19.99"}])
    assert (await detail(shop, same))["amount"] == "19.99"
    cheaper = await create(
        shop,
        [{"product_id": shop.chair, "quantity": 2, "unit_price": "15.50"}],
        may_set_price=True,
    )
    assert (await detail(shop, cheaper))["amount"] == "31.00"
    # An agent changing the quantity keeps the manager's price.
    async with UnitOfWork(shop.sessions) as uow:
        await OrderService(uow.session, clock=shop.clock).update(
            cheaper,
            OrderUpdate(lines=[LineInput(product_id=shop.chair, quantity=3)]),
            shop.bob,
            may_set_price=False,
        )
        await uow.commit()
    assert (await detail(shop, cheaper))["amount"] == "46.50"


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([(999, 1)], "lines.0.product_id"),
        ([("chair", 1), ("chair", 2)], "lines.1.product_id"),
        ([("chair", 1_000_000), ("desk", 1_000_000)], "lines"),  # a total above 2^31 cents
    ],
)
async def test_a_bad_line_names_its_field_and_nothing_is_written(shop, lines, field):
    ids = {"chair": shop.chair, "desk": shop.desk}
    with pytest.raises(InvalidInput) as bad:
        await create(shop, [{"product_id": ids.get(p, p), "quantity": q} for p, q in lines])
    assert field in bad.value.fields
    assert await count(shop.sessions, Order) == 0 and await count(shop.sessions, OrderLine) == 0


async def test_an_inactive_product_or_an_unknown_customer_is_refused(shop):
    async with UnitOfWork(shop.sessions) as uow:
        await ProductService(uow.session, clock=shop.clock).update(
            shop.desk, ProductUpdate(is_active=False), SYSTEM
        )
        await uow.commit()
    with pytest.raises(InvalidInput) as bad:
        await create(shop, [{"product_id": shop.desk, "quantity": 1}])
    assert bad.value.fields == {"lines.0.product_id": "P-7 Desk is no longer sold"}
    async with UnitOfWork(shop.sessions) as uow:
        with pytest.raises(InvalidInput) as bad:
            await OrderService(uow.session, clock=shop.clock).create(
                OrderCreate(customer_id=4242, lines=[{"product_id": shop.chair, "quantity": 1}]),
                shop.ann,
                may_set_price=False,
            )
    assert bad.value.field == "customer_id"


async def test_confirming_takes_every_line_and_cancelling_gives_it_back(shop, clock):
    order_id = await shop.order((shop.chair, 3), (shop.desk, 2))
    clock.advance(minutes=5)
    await shop.move(order_id, CONFIRMED, by=shop.bob)
    assert (await shop.stock(shop.chair), await shop.stock(shop.desk)) == (2, 0)
    async with shop.sessions() as db:
        taken = (
            await db.execute(
                select(
                    StockMovement.product_id,
                    StockMovement.kind,
                    StockMovement.quantity,
                    StockMovement.user_id,
                    StockMovement.reason,
                )
                .where(StockMovement.order_id == order_id)
                .order_by(StockMovement.id)
            )
        ).all()
    ref = f"SO-{order_id:06d}"
    assert taken == [
        (shop.chair, "out", -3, shop.bob.user_id, f"order {ref} confirmed"),
        (shop.desk, "out", -2, shop.bob.user_id, f"order {ref} confirmed"),
    ]
    clock.advance(minutes=5)
    await shop.move(order_id, CANCELLED)
    assert (await shop.stock(shop.chair), await shop.stock(shop.desk)) == (5, 2)
    order = await detail(shop, order_id)
    assert [(e["from"], e["to"], e["user"], e["at"]) for e in order["events"]] == [
        (None, "draft", "Ann", "2026-11-25T09:00:00+00:00"),
        ("draft", "awaiting_confirmation", "Ann", "2026-11-25T09:00:00+00:00"),
        ("awaiting_confirmation", "confirmed", "Bob", "2026-11-25T09:05:00+00:00"),
        ("confirmed", "cancelled", "Ann", "2026-11-25T09:10:00+00:00"),
    ]
    assert order["next"] == [] and not order["editable"]
    async with shop.sessions() as db:
        back = (
            await db.execute(
                select(StockMovement.kind, func.sum(StockMovement.quantity))
                .where(StockMovement.order_id == order_id)
                .group_by(StockMovement.kind)
            )
        ).all()
        audited = (
            await db.scalars(
                select(AuditEntry.after)
                .where(AuditEntry.action == "order.transition")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert dict(back) == {"out": -5, "in": 5}
    assert [a["status"] for a in audited] == ["awaiting_confirmation", "confirmed", "cancelled"]


async def test_cancelling_before_confirmation_moves_no_stock(shop):
    order_id = await shop.order((shop.chair, 1))
    await shop.move(order_id, CANCELLED)
    assert await shop.stock(shop.chair) == 5
    assert await count(shop.sessions, StockMovement) == 2  # the two deliveries


async def test_a_confirmation_short_of_one_line_takes_nothing_and_says_what_is_left(shop):
    order_id = await shop.order((shop.chair, 2), (shop.desk, 3))
    events = await count(shop.sessions, OrderEvent)
    with pytest.raises(OutOfStock) as short:
        await shop.move(order_id, CONFIRMED)
    assert short.value.message == "not enough stock: P-7 Desk: only 2 left in Main, 3 wanted"
    assert short.value.fields == {"lines.1.quantity": "P-7 Desk: only 2 left in Main, 3 wanted"}
    assert short.value.details() == {
        "shortages": [
            {"product_id": shop.desk, "warehouse_id": shop.main, "available": 2, "wanted": 3}
        ]
    }
    assert (await shop.stock(shop.chair), await shop.stock(shop.desk)) == (5, 2)
    assert (await detail(shop, order_id))["status"] == "awaiting_confirmation"
    assert await count(shop.sessions, StockMovement) == 2
    assert await count(shop.sessions, OrderEvent) == events


async def test_shipped_then_completed_and_a_closed_order_moves_no_more(shop):
    order_id = await shop.order((shop.desk, 1))
    for to in ("confirmed", "shipped", "completed"):
        await shop.move(order_id, to)
    with pytest.raises(TransitionRefused):
        await shop.move(order_id, CANCELLED)
    assert await shop.stock(shop.desk) == 1


async def test_of_two_moves_from_the_same_status_the_second_is_refused(shop):
    order_id = await shop.order((shop.desk, 1))
    async with UnitOfWork(shop.sessions) as first, UnitOfWork(shop.sessions) as second:
        late = OrderService(second.session, clock=shop.clock)
        seen = await late.get(order_id)  # read (and held) while it still awaits confirmation
        await OrderService(first.session, clock=shop.clock).transition(
            order_id, CONFIRMED, shop.ann
        )
        await first.commit()
        with pytest.raises(TransitionRefused) as refused:
            await late.transition(order_id, CANCELLED, shop.bob)
    assert "changed meanwhile" in refused.value.message and seen.status == "confirmed"
    assert (await detail(shop, order_id))["status"] == "confirmed"
    assert await shop.stock(shop.desk) == 1


async def test_lines_are_fixed_once_confirmed(shop):
    order_id = await shop.order((shop.desk, 1))
    await shop.move(order_id, CONFIRMED)
    async with UnitOfWork(shop.sessions) as uow:
        with pytest.raises(Conflict):
            await OrderService(uow.session, clock=shop.clock).update(
                order_id,
                OrderUpdate(lines=[LineInput(product_id=shop.desk, quantity=2)]),
                shop.ann,
                may_set_price=False,
            )


async def test_stock_taken_by_hand_never_goes_below_zero(shop):
    async with UnitOfWork(shop.sessions) as uow:
        service = ProductService(uow.session, clock=shop.clock)
        for kind, quantity in (("out", 3), ("adjustment", -3)):
            with pytest.raises(OutOfStock) as short:
                await service.move(
                    shop.desk,
                    StockMovementCreate(
                        warehouse_id=shop.main, kind=kind, quantity=quantity, reason="count"
                    ),
                    SYSTEM,
                )
            assert short.value.fields == {"quantity": "P-7 Desk: only 2 left in Main, 3 wanted"}
        await service.move(
            shop.desk,
            StockMovementCreate(
                warehouse_id=shop.main, kind="adjustment", quantity=-2, reason="lost"
            ),
            SYSTEM,
        )
        await uow.commit()
    assert await shop.stock(shop.desk) == 0


async def test_orders_are_found_by_customer_agent_status_day_and_product(shop, clock):
    first = await shop.order((shop.chair, 1))
    clock.advance(days=1)
    second = await shop.order((shop.desk, 1), by=shop.bob, submit=False)
    clock.advance(days=1)
    third = await shop.order((shop.chair, 1), (shop.desk, 1))
    await shop.move(third, CONFIRMED)

    async def found(**wanted) -> list[int]:
        async with UnitOfWork(shop.sessions) as uow:
            rows = await OrderService(uow.session, clock=shop.clock).search(OrderFilter(**wanted))
        return [row.order.id for row in rows]

    assert await found() == [third, second, first]  # newest first
    assert await found(customer_id=shop.customer) == [third, second, first]
    assert await found(customer_id=shop.customer + 1) == []
    assert await found(created_by=shop.bob.user_id) == [second]
    assert await found(status=["awaiting_confirmation", "draft"]) == [second, first]
    assert await found(product_id=shop.desk) == [third, second]
    assert await found(placed_from=date(2026, 11, 26)) == [third, second]
    assert await found(placed_to=date(2026, 11, 26)) == [second, first]
    assert await found(placed_from=date(2026, 11, 26), placed_to=date(2026, 11, 26)) == [second]
    with pytest.raises(InvalidInput) as bad:
        await found(placed_from=date(2026, 11, 27), placed_to=date(2026, 11, 26))
    assert bad.value.field == "placed_to"
    async with UnitOfWork(shop.sessions) as uow:
        rows = await OrderService(uow.session, clock=shop.clock).search(
            OrderFilter(), limit=2, offset=2
        )
    assert [r.order.id for r in rows] == [first]
    assert rows[0].customer_name == "Acme Ltd" and rows[0].created_by_name == "Ann"


async def test_orders_awaiting_confirmation_are_listed_for_call_lists_oldest_first(shop, clock):
    waiting = await shop.order((shop.chair, 1))
    clock.advance(hours=2)
    await shop.order((shop.desk, 1), submit=False)  # a draft: not yet
    confirmed = await shop.order((shop.desk, 1))
    await shop.move(confirmed, CONFIRMED)
    later = await shop.order((shop.chair, 1))
    async with shop.sessions() as db:
        found = await orders_awaiting_confirmation(db)
        early = await orders_awaiting_confirmation(
            db, waiting_since_before=clock() - timedelta(hours=1)
        )
        after_first = await orders_awaiting_confirmation(db, after_id=waiting, limit=10)
    assert [(o.order_id, o.customer_name, o.amount_cents) for o in found] == [
        (waiting, "Acme Ltd", 1999),
        (later, "Acme Ltd", 1999),
    ]
    assert found[0].awaiting_since == clock() - timedelta(hours=2)
    assert [o.order_id for o in early] == [waiting]
    assert [o.order_id for o in after_first] == [later]
