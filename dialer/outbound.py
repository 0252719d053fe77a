"""The outbound agent's commands: join a campaign (its queue), preview the next entry and dial
or skip it, and record the result of a campaign call, which moves the list entry on and acts
on the CRM where the result means something there.

Preview: an entry shown to an agent is reserved for them (nobody else is shown it) until they
dial or skip it, or for `RESERVATION` at most. The checks (do-not-call, the callee's local
time, attempts) run when it is shown and again immediately before the dial."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core import dialling
from crm_core.audit import Actor, record
from crm_core.call_lists import PENDING, promised_callbacks
from crm_core.callbacks import CallbackService
from crm_core.clock import Clock
from crm_core.do_not_call import DncCreate, DoNotCallService
from crm_core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from crm_core.interactions import WrapUp, wrap_up
from crm_core.models import CallListEntry, Campaign, Interaction, Order
from crm_core.opportunities import MANAGER, ActingUser, OpportunityCreate, OpportunityService
from crm_core.orders import CONFIRMED, OrderService
from crm_core.service_requests import ServiceRequestOpen, ServiceRequestService
from crm_core.uow import UnitOfWork
from cti.ami.actions import new_channel_id
from desk import notifications as note
from desk.commands import Desk
from dialer.campaigns import may_work
from dialer.compliance import after_dial
from dialer.plans import Plan, checked, settle
from dialer.results import AgentResult, CrmAction, DialOutcome, meaning

log = structlog.get_logger("dialer.outbound")
RESERVATION = timedelta(minutes=15)  # a preview left open this long goes back to the list
WORKABLE = ("running", "paused")  # a paused campaign's preview still works: agents finish
PREVIEW_CANDIDATES = 20  # due entries read per preview: most pass their checks


@dataclass(frozen=True, slots=True)
class Result:
    """An agent's result of a campaign call, with its wrap-up."""

    wrap_up: WrapUp
    callback_at: datetime | None = None
    personal: bool = False  # the callback is for this agent (else whoever is free)


class OutboundDesk:
    def __init__(
        self,
        *,
        db: async_sessionmaker,
        clock: Clock,
        desk: Desk,
        default_trunk: str,
        region: str,
    ) -> None:
        self.db = db
        self.clock = clock
        self.desk = desk
        self.default_trunk = default_trunk
        self.region = region

    # ------------------------------------------------------------ campaigns to work

    async def workable(self, user_id: int) -> list[dict[str, Any]]:
        """The campaigns this agent may work now."""
        async with self.db() as session:
            rows = await session.scalars(
                sa.select(Campaign).where(Campaign.status.in_(WORKABLE)).order_by(Campaign.name)
            )
            return [
                {"id": c.id, "name": c.name, "mode": c.mode, "status": c.status, "queue": c.queue}
                for c in rows
                if may_work(c, user_id)
            ]

    async def join(self, user_id: int, campaign_id: int) -> dict[str, Any]:
        """Ready in the campaign's queue: its answered calls (predictive, progressive) come to
        this agent's phone."""
        plan = await self._plan(campaign_id, user_id)
        state = await self.desk.set_state(user_id, "ready", None, [plan.queue])
        return {**state, "campaign_id": plan.id, "mode": str(plan.mode)}

    async def leave(self, user_id: int, campaign_id: int) -> dict[str, Any]:
        plan = await self._plan(campaign_id, None)
        return await self.desk.set_state(user_id, "logged_out", None, [plan.queue])

    # ------------------------------------------------------------ preview

    async def next_entry(self, user_id: int, campaign_id: int) -> dict[str, Any] | None:
        """The entry this agent is shown: the one reserved for them already (a reload), else
        their own callbacks due, else the next due entry that passes the checks."""
        plan = await self._plan(campaign_id, user_id)
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            session = uow.session
            held = await _reserved(session, plan.id, user_id)
            if held is None:
                held = await self._reserve(session, plan, user_id, now)
            shown = await dialling.entry_for_pop(session, held) if held else None
            await uow.commit()
        return shown

    async def _reserve(
        self, session: AsyncSession, plan: Plan, user_id: int, now: datetime
    ) -> int | None:
        await session.execute(  # previews left open too long go back to the list
            sa.update(CallListEntry)
            .where(
                CallListEntry.campaign_id == plan.id,
                CallListEntry.reserved_at < now - RESERVATION,
            )
            .values(reserved_by=None, reserved_at=None)
            .execution_options(synchronize_session=False)
        )
        for entry in await dialling.due_entries(
            session, plan.id, now, PREVIEW_CANDIDATES, agent=user_id
        ):
            check = await checked(session, plan, entry, now, windows=(), predictive=False)
            if not check.allowed:
                continue
            taken = await session.execute(
                sa.update(CallListEntry)
                .where(
                    CallListEntry.id == entry.id,
                    CallListEntry.state == PENDING,
                    CallListEntry.reserved_by.is_(None),
                )
                .values(reserved_by=user_id, reserved_at=now)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                return entry.id
        return None

    async def dial(self, user_id: int, campaign_id: int, entry_id: int) -> dict[str, Any]:
        """Dial the entry shown to this agent: the checks once more (a number put on the
        register a second ago is not dialled), the claim with its evidence, then the agent's
        phone rings and the number is dialled."""
        plan = await self._plan(campaign_id, user_id)
        phone = await self.desk.phone_of(user_id)
        now = self.clock()
        call_id = new_channel_id()
        async with UnitOfWork(self.db) as uow:
            session = uow.session
            entry = await _held_entry(session, plan.id, entry_id, user_id)
            check = await checked(session, plan, entry, now, windows=(), predictive=False)
            if check.allowed:
                await _release(session, entry_id)
                claimed = await dialling.claim(
                    session,
                    campaign_id=plan.id,
                    entry_id=entry_id,
                    call_id=call_id,
                    checks=check.evidence,
                    fence=0,
                    now=now,
                    agent_user_id=user_id,
                )
                if not claimed:
                    raise Conflict("this entry is no longer in the list")
            await uow.commit()
        if not check.allowed:
            raise Conflict(f"not dialled: {check.refusal}")
        tags = {"campaign": str(plan.id), "entry": str(entry_id), "user_id": str(user_id)}
        if entry.customer_id:
            tags["customer_id"] = str(entry.customer_id)
        try:
            placed = await self.desk.router.run(
                "dial",
                interface=phone.interface,
                number=entry.number,
                tags=tags,
                caller_id=f"<{plan.caller_id}>" if plan.caller_id else phone.user.extension,
                channel_id=call_id,
            )
        except DomainError:
            await self._not_placed(plan, call_id, now)
            raise
        log.info("dialer.preview_dialled", campaign=plan.name, call_id=call_id, entry=entry_id)
        return {**placed, "entry_id": entry_id, "checks": check.evidence}

    async def _not_placed(self, plan: Plan, call_id: str, now: datetime) -> None:
        """The PBX refused the dial: the attempt is over, the entry due again."""
        async with UnitOfWork(self.db) as uow:
            await settle(uow.session, plan, call_id, DialOutcome.FAILED, now)
            await uow.commit()

    async def skip(
        self, user_id: int, actor: Actor, campaign_id: int, entry_id: int, reason: str
    ) -> None:
        """Not now: the entry goes back to the list (for another agent or later)."""
        plan = await self._plan(campaign_id, user_id)
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            await _held_entry(uow.session, plan.id, entry_id, user_id)
            await _release(uow.session, entry_id)
            record(
                uow.session,
                actor,
                at=now,
                action="call_list_entry.skip",
                entity_type="call_list_entry",
                entity_id=entry_id,
                after={"reason": reason[:200]},
            )
            await uow.commit()

    # ------------------------------------------------------------ results

    async def wrap_up(self, user_id: int, actor: Actor, result: Result) -> Interaction:
        """The wrap-up of any call; for a campaign call whose disposition is an outbound
        result, also the list entry's next state and the result's act in the CRM, in the
        same transaction."""
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            session = uow.session
            item = await wrap_up(session, result.wrap_up, actor, now=now)
            await self._campaign_result(session, user_id, actor, result, item, now)
            await uow.commit()
        await self.desk.notifier.publish(
            note.WrapUpDone(user_id=user_id, call_id=result.wrap_up.call_id)
        )
        return item

    async def _campaign_result(
        self,
        session: AsyncSession,
        user_id: int,
        actor: Actor,
        result: Result,
        item: Interaction,
        now: datetime,
    ) -> None:
        attempt = await dialling.attempt_of(session, result.wrap_up.call_id)
        try:
            outcome = AgentResult(result.wrap_up.disposition)
        except ValueError:
            outcome = None
        if attempt is None or attempt.entry_id is None or outcome is None:
            if result.callback_at is not None:
                raise InvalidInput("a callback time goes with a campaign call's callback")
            return
        if result.callback_at is not None and outcome is not AgentResult.CALLBACK:
            raise InvalidInput("a callback time goes with the result 'callback'")
        if result.callback_at is not None and result.callback_at <= now:
            raise InvalidInput("the callback time has passed", field="callback_at")
        campaign = await session.get_one(Campaign, attempt.campaign_id)
        plan = Plan.of(campaign, default_trunk=self.default_trunk)
        fate = after_dial(plan.rules, outcome, attempt.attempts, now, result.callback_at)
        await dialling.settle_entry(
            session,
            attempt.entry_id,
            state=str(fate.state),
            next_attempt_at=fate.next_attempt_at,
            outcome=str(outcome),
            at=now,
            actor=actor,
            owner_user_id=user_id if result.personal and outcome is AgentResult.CALLBACK else None,
        )
        entry = await session.get_one(CallListEntry, attempt.entry_id)
        customer_id = item.customer_id or entry.customer_id
        if outcome is not AgentResult.NO_CONTACT:  # the customer was reached: promise kept
            await CallbackService(session, clock=lambda: now, region=self.region).kept(
                promised_callbacks(entry.fields), actor, call_id=attempt.call_id
            )
        if outcome is AgentResult.DO_NOT_CALL:
            await DoNotCallService(session, clock=lambda: now, region=self.region).add(
                DncCreate(number=entry.number_e164, reason=f"asked on call {attempt.call_id}"),
                actor,
                source="call_result",
            )
        await self._act(session, meaning(outcome).action, entry, customer_id, actor, now)

    async def _act(
        self,
        session: AsyncSession,
        action: CrmAction,
        entry: CallListEntry,
        customer_id: int | None,
        actor: Actor,
        now: datetime,
    ) -> None:
        """What the result means in the CRM (a sale opens the order form on the agent's
        screen: nothing to do here)."""
        clock = lambda: now  # noqa: E731 - the services' clock is the wrap-up's moment
        if action is CrmAction.CONFIRM_ORDER:
            if entry.reason_kind != "order_confirmation" or not entry.reason_ref.isdigit():
                raise InvalidInput("this call was not about an order to confirm")
            order = await session.get(Order, int(entry.reason_ref))
            if order is not None and order.status != CONFIRMED:
                await OrderService(session, clock=clock).transition(
                    order.id, CONFIRMED, actor, note="confirmed by the customer on the phone"
                )
        elif action is CrmAction.OPEN_SERVICE_REQUEST:
            if customer_id is None:
                raise InvalidInput("a complaint needs the customer: save the caller first")
            await ServiceRequestService(session, clock=clock).open(
                ServiceRequestOpen(
                    customer_id=customer_id,
                    service_type="complaint",
                    subject=f"Complaint on an outbound call ({entry.reason_text[:400]})",
                    call_id=None,
                ),
                actor,
                channel="call",
            )
        elif action is CrmAction.CREATE_OPPORTUNITY:
            # The result is the authority here, whoever may create opportunities by hand.
            await OpportunityService(session, clock=clock, region=self.region).create(
                OpportunityCreate(
                    prospect_name=entry.name or entry.number_e164,
                    title=entry.reason_text[:200],
                    phone=entry.number_e164,
                    source="outbound campaign",
                    value=Decimal(0),
                ),
                ActingUser(actor, MANAGER),
            )

    async def _plan(self, campaign_id: int, user_id: int | None) -> Plan:
        """The campaign ``user_id`` works (None: leaving it, whatever its state)."""
        async with self.db() as session:
            row = await session.get(Campaign, campaign_id)
        if row is None:
            raise NotFound("no such campaign")
        if user_id is not None:
            if row.status not in WORKABLE:
                raise Conflict(f"the campaign is {row.status}: it cannot be worked")
            if not may_work(row, user_id):
                raise Forbidden("this campaign is worked by the agents chosen for it")
        return Plan.of(row, default_trunk=self.default_trunk)


async def _reserved(session: AsyncSession, campaign_id: int, user_id: int) -> int | None:
    return await session.scalar(
        sa.select(CallListEntry.id).where(
            CallListEntry.campaign_id == campaign_id,
            CallListEntry.reserved_by == user_id,
            CallListEntry.state == PENDING,
        )
    )


async def _held_entry(
    session: AsyncSession, campaign_id: int, entry_id: int, user_id: int
) -> dialling.Due:
    row = await session.get(CallListEntry, entry_id)
    if row is None or row.campaign_id != campaign_id:
        raise NotFound("no such entry in this campaign")
    if row.reserved_by != user_id or row.state != PENDING:
        raise Conflict("this entry is not shown to you: ask for the next one")
    return dialling.Due(
        row.id, row.number_e164, row.attempts, row.last_outcome == "callback", row.customer_id
    )


async def _release(session: AsyncSession, entry_id: int) -> None:
    await session.execute(
        sa.update(CallListEntry)
        .where(CallListEntry.id == entry_id)
        .values(reserved_by=None, reserved_at=None)
        .execution_options(synchronize_session=False)
    )
