"""Personal callbacks: a call back promised to a customer, at a time, by one user, to one of the
customer's numbers.

A callback is scheduled (in the future, within a year), then either done or cancelled, once;
each of the three is an audit row in the same transaction. Its owner is a user who can see it
and act on it (see OWNER_NEEDS); by default the user who schedules it. Only its owner or the
user who scheduled it may mark it done or cancel it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import Actor
from crm_core.clock import Clock
from crm_core.customers import customer_exists
from crm_core.errors import Conflict, Forbidden, InvalidInput, NotFound
from crm_core.models import Callback, Customer, PhoneNumber
from crm_core.phones import normalise
from crm_core.schemas import Input
from crm_core.text import Paragraph
from crm_core.users import current_permissions

# What an owner must hold: to see the callback (customers.read) and to act on it (either).
OWNER_NEEDS = "customers.read"
OWNER_NEEDS_ONE_OF = ("calls.handle", "customers.write")
FURTHEST = timedelta(days=366)
CallId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
RecordId = Annotated[int, Field(ge=1, le=2**62)]
CallbackStatus = Literal["scheduled", "done", "cancelled"]


class CallbackCreate(Input):
    customer_id: RecordId
    due_at: AwareDatetime = Field(description="When to call back (with its time zone)")
    number: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None
    ) = Field(default=None, description="One of the customer's numbers; default: their first")
    owner_user_id: RecordId | None = Field(default=None, description="Default: me")
    note: Paragraph(1000) = ""  # type: ignore[valid-type]
    call_id: CallId | None = Field(default=None, description="The call it was promised on")


@dataclass(frozen=True, slots=True)
class CallbackRow:
    callback: Callback
    customer_name: str

    def as_dict(self, now: datetime) -> dict[str, Any]:
        c = self.callback
        return {
            "id": c.id,
            "customer_id": c.customer_id,
            "customer_name": self.customer_name,
            "number": c.number,
            "due_at": c.due_at.isoformat(),
            "due": c.status == "scheduled" and c.due_at <= now,
            "owner_user_id": c.owner_user_id,
            "note": c.note,
            "status": c.status,
            "call_id": c.call_linked_id,
            "created_by": c.created_by,
            "created_at": c.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CallbackPage:
    rows: list[CallbackRow]
    total: int
    page: int
    per_page: int

    @property
    def more(self) -> bool:
        return self.page * self.per_page < self.total


def _snapshot(item: Callback) -> dict[str, Any]:
    return {
        "customer_id": item.customer_id,
        "number": item.number,
        "due_at": item.due_at.isoformat(),
        "owner_user_id": item.owner_user_id,
        "status": item.status,
    }


class CallbackService:
    """Commands and queries over one session; never commits."""

    def __init__(self, session: AsyncSession, *, clock: Clock, region: str) -> None:
        self.session = session
        self.clock = clock
        self.region = region

    async def schedule(self, data: CallbackCreate, actor: Actor) -> Callback:
        now = self.clock()
        if data.due_at <= now:
            raise InvalidInput("a callback is due in the future", field="due_at")
        if data.due_at > now + FURTHEST:
            raise InvalidInput("a callback is due within a year", field="due_at")
        if not await customer_exists(self.session, data.customer_id):
            raise NotFound(f"no customer {data.customer_id}", field="customer_id")
        number = await self._number(data.customer_id, data.number)
        owner = data.owner_user_id if data.owner_user_id is not None else actor.user_id
        if owner is None:
            raise InvalidInput("say who will call back", field="owner_user_id")
        await self._check_owner(owner)
        item = Callback(
            customer_id=data.customer_id,
            call_linked_id=data.call_id,
            number=number,
            due_at=data.due_at,
            owner_user_id=owner,
            note=data.note,
            status="scheduled",
            created_by=actor.user_id,
            created_at=now,
        )
        self.session.add(item)
        await self.session.flush()
        audit.record(
            self.session,
            actor,
            at=now,
            action="callback.schedule",
            entity_type="callback",
            entity_id=item.id,
            after={**_snapshot(item), "call_id": item.call_linked_id},
        )
        return item

    async def done(self, callback_id: int, actor: Actor) -> Callback:
        return await self._finish(callback_id, "done", actor)

    async def cancel(self, callback_id: int, actor: Actor) -> Callback:
        return await self._finish(callback_id, "cancelled", actor)

    async def kept(self, callback_ids: Collection[int], actor: Actor, *, call_id: str) -> int:
        """Callbacks kept by a campaign call (``call_id``), whoever made it: those still
        scheduled are done, each with its audit row. Returns how many."""
        if not callback_ids:
            return 0
        items = await self.session.scalars(
            select(Callback)
            .where(Callback.id.in_(callback_ids), Callback.status == "scheduled")
            .with_for_update()
        )
        count = 0
        for item in items:
            before = _snapshot(item)
            item.status = "done"
            audit.record(
                self.session,
                actor,
                at=self.clock(),
                action="callback.done",
                entity_type="callback",
                entity_id=item.id,
                before=before,
                after={**_snapshot(item), "call_id": call_id},
            )
            count += 1
        await self.session.flush()
        return count

    async def _finish(self, callback_id: int, status: CallbackStatus, actor: Actor) -> Callback:
        item = await self.session.scalar(
            select(Callback)
            .where(Callback.id == callback_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if item is None:
            raise NotFound(f"no callback {callback_id}")
        if actor.user_id not in (item.owner_user_id, item.created_by):
            raise Forbidden("only its owner, or who scheduled it, may close a callback")
        if item.status != "scheduled":
            raise Conflict(f"the callback is {item.status} already", field="status")
        before = _snapshot(item)
        item.status = status
        audit.record(
            self.session,
            actor,
            at=self.clock(),
            action="callback.done" if status == "done" else "callback.cancel",
            entity_type="callback",
            entity_id=item.id,
            before=before,
            after=_snapshot(item),
        )
        await self.session.flush()
        return item

    async def get(self, callback_id: int) -> CallbackRow:
        rows = await self.session.execute(
            select(Callback, Customer.name)
            .join(Customer, Customer.id == Callback.customer_id)
            .where(Callback.id == callback_id)
        )
        row = rows.first()
        if row is None:
            raise NotFound(f"no callback {callback_id}")
        return CallbackRow(*row)

    async def of_owner(
        self,
        owner_user_id: int,
        *,
        status: CallbackStatus = "scheduled",
        due_only: bool = False,
        page: int = 1,
        per_page: int = 50,
    ) -> CallbackPage:
        """A user's callbacks, the soonest due first; `due_only`: those whose time has come."""
        conditions = [Callback.owner_user_id == owner_user_id, Callback.status == status]
        if due_only:
            conditions.append(Callback.due_at <= self.clock())
        total = await self.session.scalar(
            select(func.count()).select_from(Callback).where(*conditions)
        )
        rows = await self.session.execute(
            select(Callback, Customer.name)
            .join(Customer, Customer.id == Callback.customer_id)
            .where(*conditions)
            .order_by(Callback.due_at, Callback.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        return CallbackPage([CallbackRow(*row) for row in rows], total or 0, page, per_page)

    async def numbers_of(self, customer_id: int) -> list[PhoneNumber]:
        return list(
            await self.session.scalars(
                select(PhoneNumber)
                .where(PhoneNumber.customer_id == customer_id)
                .order_by(PhoneNumber.id)
            )
        )

    async def _number(self, customer_id: int, given: str | None) -> str:
        """The E.164 to call: the given one if it is the customer's, else their first."""
        owned = [n.e164 for n in await self.numbers_of(customer_id)]
        if given is None:
            if not owned:
                raise InvalidInput("the customer has no number to call back", field="number")
            return owned[0]
        number = normalise(given, self.region)
        if not number.usable:
            raise InvalidInput(f"{given!r} is not a phone number", field="number")
        if number.e164 not in owned:
            raise InvalidInput("choose one of the customer's numbers", field="number")
        return number.e164

    async def _check_owner(self, user_id: int) -> None:
        held = (await current_permissions(self.session, [user_id])).get(user_id)
        if held is None:
            raise InvalidInput(f"no active user {user_id}", field="owner_user_id")
        if OWNER_NEEDS not in held or not any(p in held for p in OWNER_NEEDS_ONE_OF):
            raise InvalidInput("this user may not make callbacks", field="owner_user_id")
