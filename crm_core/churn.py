"""Churn warnings (客户流失预警): customers who stopped ordering, and what is done about it.

A scheduled check (desk/scheduler.py runs ``check_churn``) flags every customer without an
order for ``months`` months (no order placed within the window; customers created within it
are new, not lost) with an open warning, and sets ``customers.churn_flag`` (the card shows it).
A customer who orders again has the warning cleared, and the flag taken off, on the next
check. Meanwhile the account manager records measures against the churn (暂缓流失: the warning
is postponed), or confirms it with a reason from the dictionary (确认流失: churned).

A customer has at most one warning that is not cleared. The statuses and their moves are pure
(``next_status``); every change has its audit row in the same transaction; nothing here
commits."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import SYSTEM, Actor
from crm_core.clock import Clock
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import ChurnMeasure, ChurnWarning, Customer, DictionaryEntry, Order
from crm_core.schemas import Code, Input
from crm_core.text import Line, Paragraph

OPEN, POSTPONED, CHURNED, CLEARED = "open", "postponed", "churned", "cleared"
STATUSES = (OPEN, POSTPONED, CHURNED, CLEARED)
# A warning that still stands: the customer is flagged, and is not flagged a second time.
STANDING = (OPEN, POSTPONED, CHURNED)
# Each move: the statuses it may start from, and the status it leads to.
MOVES: dict[str, dict[str, str]] = {
    "measure": {OPEN: POSTPONED, POSTPONED: POSTPONED},
    "confirm": {OPEN: CHURNED, POSTPONED: CHURNED},
    "clear": {OPEN: CLEARED, POSTPONED: CLEARED, CHURNED: CLEARED},  # the customer ordered
}
MEASURE_CATEGORY, REASON_CATEGORY = "churn_measure", "churn_reason"
CHUNK = 500  # ids per IN list: well inside both databases' limits on bound parameters


def next_status(status: str, move: str) -> str:
    """The status ``move`` leads to; Conflict when it is not allowed from ``status``."""
    targets = MOVES[move]
    if status not in targets:
        raise Conflict(f"cannot {move} a churn warning that is {status}", field="status")
    return targets[status]


def months_before(moment: datetime, months: int) -> datetime:
    """The same time ``months`` calendar months earlier (31 August − 6 months: 28 or 29
    February)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def reason_text(code: str, note: str) -> str:
    """The stored reason: the dictionary code, then the account manager's words, if any
    (``competitor: moved to Initech``). Codes have no ':', so the two part again."""
    return f"{code}: {note}" if note else code


def reason_parts(text: str) -> tuple[str, str]:
    code, _, note = text.partition(": ")
    return code, note


@dataclass(frozen=True, slots=True)
class ChurnCheck:
    """What one check did: the customers flagged and those whose warning was cleared."""

    flagged: tuple[int, ...]
    cleared: tuple[int, ...]

    def summary(self) -> str:
        return f"flagged {len(self.flagged)}, cleared {len(self.cleared)}"


async def check_churn(
    session: AsyncSession, *, now: datetime, months: int, actor: Actor = SYSTEM
) -> ChurnCheck:
    """Clear the warnings of customers who ordered again, then flag those without an order
    since ``months`` ago. Running it twice flags nobody twice."""
    cleared = await _clear_the_returned(session, now=now, actor=actor)
    flagged = await _flag_the_silent(
        session, now=now, since=months_before(now, months), actor=actor
    )
    return ChurnCheck(flagged=tuple(flagged), cleared=tuple(cleared))


async def _clear_the_returned(session: AsyncSession, *, now: datetime, actor: Actor) -> list[int]:
    ordered_again = exists().where(
        Order.customer_id == ChurnWarning.customer_id,
        or_(ChurnWarning.last_order_at.is_(None), Order.placed_at > ChurnWarning.last_order_at),
    )
    warnings = list(
        await session.scalars(
            select(ChurnWarning)
            .where(ChurnWarning.status.in_(STANDING), ordered_again)
            .order_by(ChurnWarning.id)
        )
    )
    for warning in warnings:
        before = warning.status
        warning.status = next_status(warning.status, "clear")
        warning.resolved_at, warning.resolved_by = now, actor.user_id
        _audit(session, actor, now, "churn.clear", warning, before={"status": before})
    customers = [w.customer_id for w in warnings]
    await _set_flag(session, customers, False)
    return customers


async def _flag_the_silent(
    session: AsyncSession, *, now: datetime, since: datetime, actor: Actor
) -> list[int]:
    ordered_since = exists().where(Order.customer_id == Customer.id, Order.placed_at >= since)
    standing = exists().where(
        ChurnWarning.customer_id == Customer.id, ChurnWarning.status.in_(STANDING)
    )
    last_order = (
        select(func.max(Order.placed_at)).where(Order.customer_id == Customer.id).scalar_subquery()
    )
    rows = await session.execute(
        select(Customer.id, last_order)
        .where(Customer.created_at < since, ~ordered_since, ~standing)
        .order_by(Customer.id)
    )
    flagged = []
    for customer_id, last_order_at in rows.all():
        warning = ChurnWarning(
            customer_id=customer_id,
            status=OPEN,
            last_order_at=last_order_at,
            flagged_at=now,
            reason="",
        )
        session.add(warning)
        flagged.append(warning)
    await session.flush()
    for warning in flagged:
        _audit(session, actor, now, "churn.flag", warning)
    customers = [w.customer_id for w in flagged]
    await _set_flag(session, customers, True)
    return customers


async def _set_flag(session: AsyncSession, customer_ids: list[int], flag: bool) -> None:
    for start in range(0, len(customer_ids), CHUNK):
        await session.execute(
            update(Customer)
            .where(Customer.id.in_(customer_ids[start : start + CHUNK]))
            .values(churn_flag=flag)
            .execution_options(synchronize_session=False)
        )


class MeasureInput(Input):
    measure: Code  # dictionary: churn_measure
    note: Paragraph(1000) = ""  # type: ignore[valid-type]


class ConfirmInput(Input):
    reason: Code  # dictionary: churn_reason
    note: Line(400, min_length=0) = ""  # type: ignore[valid-type]


@dataclass(frozen=True, slots=True)
class WarningFilters:
    statuses: tuple[str, ...] = (OPEN, POSTPONED)
    account_manager_id: int | None = None  # the customers of one account manager


def warning_json(warning: ChurnWarning, customer: Customer) -> dict[str, Any]:
    code, note = reason_parts(warning.reason)
    return {
        "id": warning.id,
        "customer_id": warning.customer_id,
        "customer_name": customer.name,
        "account_manager_id": customer.account_manager_id,
        "status": warning.status,
        "last_order_at": warning.last_order_at.isoformat() if warning.last_order_at else None,
        "flagged_at": warning.flagged_at.isoformat(),
        "reason": code,
        "reason_note": note,
        "resolved_by": warning.resolved_by,
        "resolved_at": warning.resolved_at.isoformat() if warning.resolved_at else None,
    }


def measure_json(measure: ChurnMeasure) -> dict[str, Any]:
    return {
        "id": measure.id,
        "measure": measure.measure,
        "note": measure.note,
        "user_id": measure.user_id,
        "created_at": measure.created_at.isoformat(),
    }


class ChurnService:
    def __init__(self, session: AsyncSession, *, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def warnings(
        self, filters: WarningFilters, *, limit: int = 50, offset: int = 0
    ) -> list[tuple[ChurnWarning, Customer]]:
        query = (
            select(ChurnWarning, Customer)
            .join(Customer, Customer.id == ChurnWarning.customer_id)
            .where(ChurnWarning.status.in_(filters.statuses))
        )
        if filters.account_manager_id is not None:
            query = query.where(Customer.account_manager_id == filters.account_manager_id)
        query = query.order_by(ChurnWarning.flagged_at.desc(), ChurnWarning.id.desc())
        rows = await self.session.execute(query.limit(limit).offset(offset))
        return [(warning, customer) for warning, customer in rows.all()]

    async def get(self, warning_id: int) -> tuple[ChurnWarning, Customer]:
        row = (
            await self.session.execute(
                select(ChurnWarning, Customer)
                .join(Customer, Customer.id == ChurnWarning.customer_id)
                .where(ChurnWarning.id == warning_id)
                .with_for_update(of=ChurnWarning)
            )
        ).first()
        if row is None:
            raise NotFound(f"no churn warning {warning_id}")
        return row[0], row[1]

    async def measures(self, warning_id: int) -> list[ChurnMeasure]:
        rows = await self.session.scalars(
            select(ChurnMeasure)
            .where(ChurnMeasure.warning_id == warning_id)
            .order_by(ChurnMeasure.created_at, ChurnMeasure.id)
        )
        return list(rows.all())

    async def record_measure(
        self, warning_id: int, data: MeasureInput, actor: Actor
    ) -> ChurnMeasure:
        """A measure taken against the churn: the warning is postponed (暂缓流失)."""
        warning, _ = await self.get(warning_id)
        status = next_status(warning.status, "measure")
        await self._check_entry(MEASURE_CATEGORY, data.measure, "measure")
        now = self.clock()
        measure = ChurnMeasure(
            warning_id=warning.id,
            measure=data.measure,
            note=data.note,
            user_id=actor.user_id,
            created_at=now,
        )
        self.session.add(measure)
        before, warning.status = warning.status, status
        await self.session.flush()
        _audit(
            self.session,
            actor,
            now,
            "churn.measure",
            warning,
            before={"status": before},
            extra={"measure": measure_json(measure)},
        )
        return measure

    async def confirm(self, warning_id: int, data: ConfirmInput, actor: Actor) -> ChurnWarning:
        """The customer is lost for good (确认流失), for a reason from the dictionary."""
        warning, _ = await self.get(warning_id)
        status = next_status(warning.status, "confirm")
        await self._check_entry(REASON_CATEGORY, data.reason, "reason")
        now = self.clock()
        before, warning.status = warning.status, status
        warning.reason = reason_text(data.reason, data.note)
        warning.resolved_by, warning.resolved_at = actor.user_id, now
        _audit(self.session, actor, now, "churn.confirm", warning, before={"status": before})
        return warning

    async def choices(self, category: str) -> list[tuple[str, str]]:
        """(code, label) of the active entries of a dictionary category, in their order."""
        rows = await self.session.execute(
            select(DictionaryEntry.code, DictionaryEntry.label)
            .where(DictionaryEntry.category == category, DictionaryEntry.is_active.is_(True))
            .order_by(DictionaryEntry.sort_order, DictionaryEntry.code)
        )
        return [(code, label) for code, label in rows.all()]

    async def _check_entry(self, category: str, code: str, field: str) -> None:
        if code not in {c for c, _ in await self.choices(category)}:
            raise InvalidInput(f"choose a {field} from the dictionary ({category})", field=field)


def _audit(
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    action: str,
    warning: ChurnWarning,
    *,
    before: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    audit.record(
        session,
        actor,
        at=now,
        action=action,
        entity_type="churn_warning",
        entity_id=warning.id,
        before=before,
        after={
            "customer_id": warning.customer_id,
            "status": warning.status,
            "reason": warning.reason,
            **(extra or {}),
        },
    )
