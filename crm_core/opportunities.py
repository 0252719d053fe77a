"""Sales opportunities (销售机会) and their development plans (客户开发计划).

The sales manager enters an opportunity, edits or deletes it while it is unassigned, and
assigns it to an account manager. The account manager plans the steps of its development with
dates, records each step's result, and closes it: won (the prospect becomes a customer,
created here), lost or terminated, with a reason.

The stages and who may move an opportunity between them are pure (``advance``, ``may``), tested
without a database; ``OpportunityService`` applies them to the rows, with an audit row for
every change in the same transaction. It never commits: the owner of the unit of work does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import Actor
from crm_core.clock import Clock
from crm_core.customers import CustomerService
from crm_core.errors import Conflict, Forbidden, InvalidInput, NotFound
from crm_core.models import Opportunity, PlanStep, RolePermission, User
from crm_core.models.users import user_roles
from crm_core.money import Price, cents, money
from crm_core.phones import normalise
from crm_core.schemas import CustomerCreate, Input
from crm_core.text import Line, Paragraph


class Stage(StrEnum):
    NEW = "new"  # entered, not assigned yet
    ASSIGNED = "assigned"  # an account manager has it; no step result recorded yet
    DEVELOPING = "developing"  # at least one step's result is recorded
    WON = "won"
    LOST = "lost"
    TERMINATED = "terminated"


OPEN_STAGES = frozenset({Stage.NEW, Stage.ASSIGNED, Stage.DEVELOPING})


class Move(StrEnum):
    EDIT = "edit"  # change what the opportunity is: prospect, contact, value, …
    DELETE = "delete"
    ASSIGN = "assign"  # to an account manager (again: to another one)
    ESTIMATE = "estimate"  # change the probability as the development goes
    PLAN = "plan"  # add a step to the development plan
    RECORD = "record"  # record a step's result
    WIN = "win"
    LOSE = "lose"
    TERMINATE = "terminate"


# Each move: the stages it may start from, and the stage it leads to (None: the row is gone).
MOVES: dict[Move, dict[Stage, Stage | None]] = {
    Move.EDIT: {Stage.NEW: Stage.NEW},
    Move.DELETE: {Stage.NEW: None},
    Move.ASSIGN: {
        Stage.NEW: Stage.ASSIGNED,
        Stage.ASSIGNED: Stage.ASSIGNED,
        Stage.DEVELOPING: Stage.DEVELOPING,
    },
    Move.ESTIMATE: {stage: stage for stage in OPEN_STAGES},
    Move.PLAN: {Stage.ASSIGNED: Stage.ASSIGNED, Stage.DEVELOPING: Stage.DEVELOPING},
    Move.RECORD: {Stage.ASSIGNED: Stage.DEVELOPING, Stage.DEVELOPING: Stage.DEVELOPING},
    # Won or lost needs a development that happened; stopping one may come before any result.
    Move.WIN: {Stage.DEVELOPING: Stage.WON},
    Move.LOSE: {Stage.DEVELOPING: Stage.LOST},
    Move.TERMINATE: {Stage.ASSIGNED: Stage.TERMINATED, Stage.DEVELOPING: Stage.TERMINATED},
}
CLOSING: dict[str, Move] = {"won": Move.WIN, "lost": Move.LOSE, "terminated": Move.TERMINATE}
WHY_NOT = {
    Move.EDIT: "only an unassigned opportunity can be edited",
    Move.DELETE: "only an unassigned opportunity can be deleted",
    Move.ASSIGN: "a closed opportunity cannot be assigned",
    Move.ESTIMATE: "a closed opportunity keeps its probability",
    Move.PLAN: "steps are planned on an assigned opportunity that is still open",
    Move.RECORD: "results are recorded on an assigned opportunity that is still open",
    Move.WIN: "an opportunity is won after its development began (a step's result recorded)",
    Move.LOSE: "an opportunity is lost after its development began (a step's result recorded)",
    Move.TERMINATE: "only an assigned opportunity that is still open can be terminated",
}


def advance(stage: str, move: Move) -> Stage | None:
    """The stage ``move`` leads to from ``stage``; Conflict when it is not allowed there."""
    targets = MOVES[move]
    if stage not in targets:
        raise Conflict(f"cannot {move} an opportunity that is {stage}: {WHY_NOT[move]}")
    return targets[Stage(stage)]


WRITE, ASSIGN = "opportunities.write", "opportunities.assign"
MANAGER = frozenset({WRITE, ASSIGN})
MANAGERS_ONLY = frozenset({Move.EDIT, Move.DELETE, Move.ASSIGN})


def may(
    move: Move, *, user_id: int | None, permissions: frozenset[str], assignee: int | None
) -> bool:
    """Entering, changing and assigning is the sales manager's (write and assign); the work
    on an assigned opportunity is its account manager's, or a sales manager's."""
    if MANAGER <= permissions:
        return True
    if move in MANAGERS_ONLY:
        return False
    return WRITE in permissions and user_id is not None and user_id == assignee


@dataclass(frozen=True, slots=True)
class ActingUser:
    """Who acts (for the audit trail) and what they may do (for ``may``)."""

    actor: Actor
    permissions: frozenset[str]


# Inputs: one model each for the form, the API body and the OpenAPI schema.
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]


class OpportunityCreate(Input):
    prospect_name: Line(200)  # type: ignore[valid-type]
    title: Line(200, min_length=0) = ""  # type: ignore[valid-type]
    contact_name: Line(200, min_length=0) = ""  # type: ignore[valid-type]
    phone: Phone = ""
    source: Line(64, min_length=0) = ""  # type: ignore[valid-type]
    description: Paragraph(5000) = ""  # type: ignore[valid-type]
    value: Price = Decimal(0)
    probability: int = Field(default=0, ge=0, le=100, description="percent")


class OpportunityUpdate(Input):
    """The fields given change. Once assigned, only the probability may."""

    prospect_name: Line(200) | None = None  # type: ignore[valid-type]
    title: Line(200, min_length=0) | None = None  # type: ignore[valid-type]
    contact_name: Line(200, min_length=0) | None = None  # type: ignore[valid-type]
    phone: Phone | None = None
    source: Line(64, min_length=0) | None = None  # type: ignore[valid-type]
    description: Paragraph(5000) | None = None  # type: ignore[valid-type]
    value: Price | None = None
    probability: int | None = Field(default=None, ge=0, le=100, description="percent")


class AssignInput(Input):
    account_manager_id: int = Field(ge=1, le=2**31 - 1)


class PlanStepInput(Input):
    planned_on: date
    action: Line(500)  # type: ignore[valid-type]


class StepResultInput(Input):
    result: Paragraph(5000, min_length=1)  # type: ignore[valid-type]


class CloseInput(Input):
    outcome: Annotated[str, StringConstraints(pattern=r"^(won|lost|terminated)$")]
    reason: Line(500, min_length=0) = ""  # type: ignore[valid-type]


@dataclass(frozen=True, slots=True)
class Filters:
    stage: str | None = None
    assigned_to: int | None = None
    text: str = ""  # in the prospect's name, the title or the contact's name


@dataclass(frozen=True, slots=True)
class FunnelRow:
    stage: str
    count: int
    value_cents: int


def snapshot(item: Opportunity) -> dict[str, Any]:
    return {
        "title": item.title,
        "prospect_name": item.prospect_name,
        "contact_name": item.contact_name,
        "phone": item.phone_e164,
        "source": item.source,
        "description": item.description,
        "value": money(item.value_cents),
        "probability": item.probability,
        "stage": item.stage,
        "assigned_to": item.assigned_to,
    }


def opportunity_json(item: Opportunity) -> dict[str, Any]:
    return {
        "id": item.id,
        **snapshot(item),
        "phone_raw": item.phone_raw,
        "value_cents": item.value_cents,
        "created_by": item.created_by,
        "assigned_at": item.assigned_at.isoformat() if item.assigned_at else None,
        "customer_id": item.customer_id,
        "close_reason": item.close_reason,
        "closed_at": item.closed_at.isoformat() if item.closed_at else None,
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
    }


def step_json(step: PlanStep) -> dict[str, Any]:
    return {
        "id": step.id,
        "planned_on": step.planned_on.isoformat(),
        "action": step.action,
        "result": step.result,
        "done_at": step.done_at.isoformat() if step.done_at else None,
        "user_id": step.user_id,
    }


class OpportunityService:
    def __init__(self, session: AsyncSession, *, clock: Clock, region: str) -> None:
        self.session = session
        self.clock = clock
        self.region = region

    async def create(self, data: OpportunityCreate, who: ActingUser) -> Opportunity:
        self._check(Move.EDIT, who, assignee=None)
        now = self.clock()
        item = Opportunity(
            stage=Stage.NEW.value,
            created_by=who.actor.user_id,
            close_reason="",
            created_at=now,
            updated_at=now,
        )
        self._set(item, data.model_dump())
        self.session.add(item)
        await self.session.flush()
        self._audit(who, "opportunity.create", item, after=snapshot(item))
        return item

    async def get(self, opportunity_id: int, *, for_change: bool = False) -> Opportunity:
        query = select(Opportunity).where(Opportunity.id == opportunity_id)
        if for_change:
            # Two closings at once must not make two customers (PostgreSQL locks the row;
            # SQLite has one writer at a time).
            query = query.with_for_update()
        item = await self.session.scalar(query)
        if item is None:
            raise NotFound(f"no opportunity {opportunity_id}")
        return item

    async def update(
        self, opportunity_id: int, data: OpportunityUpdate, who: ActingUser
    ) -> Opportunity:
        item = await self.get(opportunity_id, for_change=True)
        changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
        core = sorted(changes.keys() - {"probability"})
        if core:
            self._check(Move.EDIT, who, assignee=item.assigned_to)
            if item.stage != Stage.NEW:
                raise Conflict(
                    f"cannot change {', '.join(core)}: {WHY_NOT[Move.EDIT]}",
                    fields={name: WHY_NOT[Move.EDIT] for name in core},
                )
        if "probability" in changes:
            self._check(Move.ESTIMATE, who, assignee=item.assigned_to)
            advance(item.stage, Move.ESTIMATE)
        before = snapshot(item)
        self._set(item, changes)
        after = snapshot(item)
        if after != before:
            item.updated_at = self.clock()
            self._audit(who, "opportunity.update", item, before=before, after=after)
        return item

    async def delete(self, opportunity_id: int, who: ActingUser) -> None:
        item = await self.get(opportunity_id, for_change=True)
        self._check(Move.DELETE, who, assignee=item.assigned_to)
        advance(item.stage, Move.DELETE)
        self._audit(who, "opportunity.delete", item, before=snapshot(item))
        await self.session.delete(item)
        await self.session.flush()

    async def assign(self, opportunity_id: int, data: AssignInput, who: ActingUser) -> Opportunity:
        item = await self.get(opportunity_id, for_change=True)
        self._check(Move.ASSIGN, who, assignee=item.assigned_to)
        stage = advance(item.stage, Move.ASSIGN)
        if not await self.session.scalar(
            select(User.id).where(
                User.id == data.account_manager_id,
                User.is_active.is_(True),
                User.id.in_(_holders_of(WRITE)),
            )
        ):
            raise InvalidInput(
                f"user {data.account_manager_id} is not an active account manager "
                "(someone who may work on opportunities)",
                field="account_manager_id",
            )
        if data.account_manager_id == item.assigned_to:
            return item
        before = snapshot(item)
        now = self.clock()
        item.assigned_to, item.assigned_at, item.updated_at = data.account_manager_id, now, now
        item.stage = str(stage)
        self._audit(who, "opportunity.assign", item, before=before, after=snapshot(item))
        return item

    async def add_step(self, opportunity_id: int, data: PlanStepInput, who: ActingUser) -> PlanStep:
        item = await self.get(opportunity_id, for_change=True)
        self._check(Move.PLAN, who, assignee=item.assigned_to)
        advance(item.stage, Move.PLAN)
        now = self.clock()
        step = PlanStep(
            opportunity_id=item.id,
            planned_on=data.planned_on,
            action=data.action,
            result="",
            user_id=who.actor.user_id,
            created_at=now,
        )
        self.session.add(step)
        item.updated_at = now
        await self.session.flush()
        self._audit(who, "opportunity.plan_step", item, after={"step": step_json(step)})
        return step

    async def record_result(
        self, opportunity_id: int, step_id: int, data: StepResultInput, who: ActingUser
    ) -> PlanStep:
        item = await self.get(opportunity_id, for_change=True)
        self._check(Move.RECORD, who, assignee=item.assigned_to)
        stage = advance(item.stage, Move.RECORD)
        step = await self.session.scalar(
            select(PlanStep).where(PlanStep.id == step_id, PlanStep.opportunity_id == item.id)
        )
        if step is None:
            raise NotFound(f"no step {step_id} in opportunity {item.id}", field="step_id")
        if step.done_at is not None:
            raise Conflict("this step's result is recorded already", field="result")
        now = self.clock()
        before = item.stage
        step.result, step.done_at, step.user_id = data.result, now, who.actor.user_id
        item.stage, item.updated_at = str(stage), now
        self._audit(
            who,
            "opportunity.step_result",
            item,
            before={"stage": before},
            after={"stage": item.stage, "step": step_json(step)},
        )
        return step

    async def close(self, opportunity_id: int, data: CloseInput, who: ActingUser) -> Opportunity:
        item = await self.get(opportunity_id, for_change=True)
        move = CLOSING[data.outcome]
        self._check(move, who, assignee=item.assigned_to)
        stage = advance(item.stage, move)
        if move is not Move.WIN and not data.reason:
            raise InvalidInput(f"say why the opportunity is {data.outcome}", field="reason")
        before = snapshot(item)
        if move is Move.WIN:
            customer = await CustomerService(
                self.session, clock=self.clock, region=self.region
            ).create(await self._customer_of(item), who.actor)
            item.customer_id = customer.id
        now = self.clock()
        item.stage, item.close_reason, item.closed_at, item.updated_at = (
            str(stage),
            data.reason,
            now,
            now,
        )
        after = {
            **snapshot(item),
            "close_reason": item.close_reason,
            "customer_id": item.customer_id,
        }
        self._audit(who, "opportunity.close", item, before=before, after=after)
        return item

    async def steps(self, opportunity_id: int) -> list[PlanStep]:
        rows = await self.session.scalars(
            select(PlanStep)
            .where(PlanStep.opportunity_id == opportunity_id)
            .order_by(PlanStep.planned_on, PlanStep.id)
        )
        return list(rows.all())

    async def search(
        self, filters: Filters, *, limit: int = 50, offset: int = 0
    ) -> list[Opportunity]:
        query = select(Opportunity)
        if filters.stage:
            query = query.where(Opportunity.stage == filters.stage)
        if filters.assigned_to is not None:
            query = query.where(Opportunity.assigned_to == filters.assigned_to)
        if text := filters.text.strip().lower():
            # A part of a name, any case; LIKE's own wildcards in the text are taken literally.
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                func.lower(Opportunity.prospect_name).like(pattern, escape="\\")
                | func.lower(Opportunity.title).like(pattern, escape="\\")
                | func.lower(Opportunity.contact_name).like(pattern, escape="\\")
            )
        query = query.order_by(Opportunity.updated_at.desc(), Opportunity.id.desc())
        return list(await self.session.scalars(query.limit(limit).offset(offset)))

    async def funnel(self, *, assigned_to: int | None = None) -> list[FunnelRow]:
        """How many opportunities are in each stage and what they are worth, every stage
        listed (zero included); only one account manager's when ``assigned_to`` is given."""
        query = select(
            Opportunity.stage, func.count(), func.coalesce(func.sum(Opportunity.value_cents), 0)
        ).group_by(Opportunity.stage)
        if assigned_to is not None:
            query = query.where(Opportunity.assigned_to == assigned_to)
        found = {stage: (count, value) for stage, count, value in await self.session.execute(query)}
        return [
            FunnelRow(
                stage.value, int(found.get(stage, (0, 0))[0]), int(found.get(stage, (0, 0))[1])
            )
            for stage in Stage
        ]

    async def account_managers(self) -> list[User]:
        """The active users an opportunity can be assigned to: those who may work on one."""
        rows = await self.session.scalars(
            select(User)
            .where(User.id.in_(_holders_of(WRITE)), User.is_active.is_(True))
            .order_by(User.display_name, User.id)
        )
        return list(rows.all())

    async def _customer_of(self, item: Opportunity) -> CustomerCreate:
        """The customer a won opportunity becomes: the prospect, its contact and number, and
        the account manager who won it (while still active)."""
        number = []
        if item.phone_e164:
            # As entered, unless the default region changed meanwhile and reads it otherwise.
            same = normalise(item.phone_raw, self.region).e164 == item.phone_e164
            number = [{"number": item.phone_raw if same else item.phone_e164, "label": "main"}]
        given: dict[str, Any] = {"name": item.prospect_name}
        if item.contact_name:
            given["contacts"] = [{"name": item.contact_name, "is_primary": True, "numbers": number}]
        else:
            given["numbers"] = number
        if item.assigned_to is not None and await self.session.scalar(
            select(User.id).where(User.id == item.assigned_to, User.is_active.is_(True))
        ):
            given["account_manager_id"] = item.assigned_to
        try:
            return CustomerCreate.model_validate(given)
        except ValidationError as exc:
            problem = exc.errors(include_url=False, include_input=False)[0]
            raise InvalidInput(
                f"the prospect cannot become a customer: {problem['msg']}", field="prospect_name"
            ) from exc

    def _set(self, item: Opportunity, values: dict[str, Any]) -> None:
        """Copy checked input onto the row: the number normalised, the value in cents."""
        for name, value in values.items():
            if name == "phone":
                item.phone_raw, item.phone_e164 = self._phone(value)
            elif name == "value":
                item.value_cents = cents(value)
            else:
                setattr(item, name, value)
        if not item.title:
            item.title = item.prospect_name

    def _phone(self, raw: str) -> tuple[str, str]:
        if not raw:
            return "", ""
        number = normalise(raw, self.region)
        if not number.usable:
            raise InvalidInput(f"{raw!r} is not a phone number", field="phone")
        return number.raw, number.e164

    @staticmethod
    def _check(move: Move, who: ActingUser, *, assignee: int | None) -> None:
        if not may(move, user_id=who.actor.user_id, permissions=who.permissions, assignee=assignee):
            if move in MANAGERS_ONLY:
                raise Forbidden(f"to {move} opportunities needs {WRITE} and {ASSIGN}")
            raise Forbidden(f"only the assigned account manager or a sales manager may {move}")

    def _audit(
        self,
        who: ActingUser,
        action: str,
        item: Opportunity,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        audit.record(
            self.session,
            who.actor,
            at=self.clock(),
            action=action,
            entity_type="opportunity",
            entity_id=item.id,
            before=before,
            after=after,
        )


def _holders_of(permission: str) -> Select[tuple[int]]:
    """The ids of the users one of whose roles holds ``permission``."""
    return (
        select(user_roles.c.user_id)
        .join(RolePermission, RolePermission.role_id == user_roles.c.role_id)
        .where(RolePermission.permission == permission)
    )


async def display_names(session: AsyncSession, user_ids: Iterable[int | None]) -> dict[int, str]:
    """The display name of each of these users (those that exist), for lists and pages."""
    wanted = sorted({i for i in user_ids if i is not None})
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows.all()}
