"""Service requests (工单): a customer's consultation, suggestion, complaint or after-sales case,
followed from opening to the customer's verdict.

The workflow is a pure state machine (`advance`, no I/O, tested directly):

    open ──assign──▶ assigned ──handle──▶ handled ──close──▶ closed
                     ▲  └─assign (to someone else)┘            │
                     └───────────────reopen────────────────────┘

A request is assigned to a person (a user holding ``service_requests.write``), a department
(dictionary ``department``), or both; handling records what was done; closing takes the
customer's satisfaction (1–5) and comment; reopening (the customer is not satisfied) goes back
to assigned with the satisfaction cleared, the closing event keeping what it was. Anybody who
holds ``service_requests.write`` may take any step; every step is attributed and timestamped
twice: a ServiceRequestEvent (the request's history) and an audit row, in the one transaction.

Each type's dictionary entry sets the deadline (attribute ``deadline_hours``): due = opened +
that; a type without it gives no deadline. Overdue: not closed and the due time passed, by the
injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crm_core import audit
from crm_core.audit import Actor
from crm_core.clock import Clock
from crm_core.customers import customer_exists
from crm_core.dictionary import DictionaryService
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import Customer, DictionaryEntry, ServiceRequest, ServiceRequestEvent, User
from crm_core.schemas import Code, Input
from crm_core.text import Line, Paragraph
from crm_core.users import current_permissions

WRITE_PERMISSION = "service_requests.write"
SATISFACTION = range(1, 6)
CallId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
RecordId = Annotated[int, Field(ge=1, le=2**62)]


# ------------------------------------------------------------------ the workflow (pure)


class Status(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    HANDLED = "handled"
    CLOSED = "closed"


# Not closed: what the customer card and the queues count as open.
OPEN_STATUSES = (Status.OPEN, Status.ASSIGNED, Status.HANDLED)


@dataclass(frozen=True, slots=True)
class Assign:
    assignee_id: int | None
    department: str | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Handle:
    handling: str


@dataclass(frozen=True, slots=True)
class Close:
    satisfaction: int
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Reopen:
    reason: str


Step = Assign | Handle | Close | Reopen
StepName = Literal["assign", "handle", "close", "reopen"]

# Each step: its name, the statuses it may be taken from, where it leads, the event it writes.
FLOW: dict[type[Step], tuple[StepName, frozenset[Status], Status, str]] = {
    Assign: ("assign", frozenset({Status.OPEN, Status.ASSIGNED}), Status.ASSIGNED, "assigned"),
    Handle: ("handle", frozenset({Status.ASSIGNED}), Status.HANDLED, "handled"),
    Close: ("close", frozenset({Status.HANDLED}), Status.CLOSED, "closed"),
    Reopen: ("reopen", frozenset({Status.CLOSED}), Status.ASSIGNED, "reopened"),
}


@dataclass(frozen=True, slots=True)
class Ticket:
    """What the workflow reads and changes of a request."""

    status: Status
    assignee_id: int | None = None
    department: str | None = None
    handling: str = ""
    satisfaction: int | None = None
    satisfaction_comment: str = ""
    closed_at: datetime | None = None


class StepRefused(Conflict):
    """The step is not one the request's status allows."""


def allowed_steps(status: str) -> list[StepName]:
    """The steps a request in this status may take next, in the workflow's order."""
    return [name for name, sources, _, _ in FLOW.values() if status in sources]


def advance(ticket: Ticket, step: Step, *, at: datetime) -> Ticket:
    """The request after the step, or a refusal naming the field at fault."""
    name, sources, target, _ = FLOW[type(step)]
    if ticket.status not in sources:
        raise StepRefused(
            f"a request that is {ticket.status} cannot {name} "
            f"(it can: {', '.join(allowed_steps(ticket.status)) or 'nothing'})",
            field="status",
        )
    match step:
        case Assign(assignee_id=assignee, department=department):
            if assignee is None and not department:
                raise InvalidInput(
                    "assign to a person or a department",
                    fields={
                        "assignee_id": "give a person or a department",
                        "department": "give a person or a department",
                    },
                )
            return replace(ticket, status=target, assignee_id=assignee, department=department)
        case Handle(handling=handling):
            if not handling.strip():
                raise InvalidInput("say what was done", field="handling")
            return replace(ticket, status=target, handling=handling)
        case Close(satisfaction=score, comment=comment):
            if score not in SATISFACTION:
                raise InvalidInput("a satisfaction score from 1 to 5", field="satisfaction")
            return replace(
                ticket,
                status=target,
                satisfaction=score,
                satisfaction_comment=comment,
                closed_at=at,
            )
        case Reopen(reason=reason):
            if not reason.strip():
                raise InvalidInput("say why the customer is not satisfied", field="reason")
            return replace(
                ticket, status=target, satisfaction=None, satisfaction_comment="", closed_at=None
            )
    raise TypeError(f"not a step: {step!r}")  # pragma: no cover - the match is exhaustive


def event_name(step: Step) -> str:
    return FLOW[type(step)][3]


def due_at(opened_at: datetime, deadline_hours: object) -> datetime | None:
    """When a request opened then is due; None when its type sets no (sensible) deadline."""
    if isinstance(deadline_hours, bool) or not isinstance(deadline_hours, int | float):
        return None
    if not 0 < deadline_hours <= 24 * 366:
        return None
    return opened_at + timedelta(hours=deadline_hours)


def is_overdue(status: str, due: datetime | None, now: datetime) -> bool:
    return status != Status.CLOSED and due is not None and due < now


# ------------------------------------------------------------------ inputs


class ServiceRequestOpen(Input):
    customer_id: RecordId
    service_type: Code
    subject: Line(500)  # type: ignore[valid-type]
    description: Paragraph(10_000) = ""  # type: ignore[valid-type]
    call_id: CallId | None = Field(default=None, description="The call it was opened during")
    # Optional: assign at once (an agent sending a complaint straight to a department).
    assignee_id: RecordId | None = None
    department: Code | None = None


class AssignInput(Input):
    assignee_id: RecordId | None = None
    department: Code | None = None
    note: Paragraph(2000) = ""  # type: ignore[valid-type]


class HandleInput(Input):
    handling: Paragraph(10_000, min_length=1)  # type: ignore[valid-type]


class CloseInput(Input):
    satisfaction: int = Field(ge=1, le=5, description="The customer's satisfaction, 1 to 5")
    comment: Paragraph(1000) = ""  # type: ignore[valid-type]


class ReopenInput(Input):
    reason: Paragraph(2000, min_length=1)  # type: ignore[valid-type]


# ------------------------------------------------------------------ queries' shapes


@dataclass(frozen=True, slots=True)
class RequestRow:
    request: ServiceRequest
    customer_name: str
    assignee_name: str | None


@dataclass(frozen=True, slots=True)
class RequestPage:
    rows: list[RequestRow]
    total: int
    page: int
    per_page: int

    @property
    def more(self) -> bool:
        return self.page * self.per_page < self.total


@dataclass(frozen=True, slots=True)
class RequestFilter:
    customer_id: int | None = None
    assignee_id: int | None = None
    department: str | None = None
    service_type: str | None = None
    statuses: tuple[str, ...] | None = tuple(s.value for s in OPEN_STATUSES)  # None: any
    overdue_only: bool = False


STATUS_CHOICES: dict[str, tuple[str, ...] | None] = {
    "active": tuple(s.value for s in OPEN_STATUSES),
    "all": None,
    **{s.value: (s.value,) for s in Status},
}


def statuses_of(choice: str) -> tuple[str, ...] | None:
    """A status filter as the pages and the API take it: active (not closed), all, or one."""
    if choice not in STATUS_CHOICES:
        raise InvalidInput(f"status is one of: {', '.join(STATUS_CHOICES)}", field="status")
    return STATUS_CHOICES[choice]


def request_json(row: RequestRow, now: datetime) -> dict[str, Any]:
    item = row.request
    return {
        "id": item.id,
        "customer_id": item.customer_id,
        "customer_name": row.customer_name,
        "service_type": item.service_type,
        "subject": item.subject,
        "description": item.description,
        "status": item.status,
        "call_id": item.call_linked_id,
        "created_by": item.created_by,
        "assignee_id": item.assignee_id,
        "assignee_name": row.assignee_name,
        "department": item.department,
        "opened_at": item.opened_at.isoformat(),
        "due_at": item.due_at.isoformat() if item.due_at else None,
        "overdue": is_overdue(item.status, item.due_at, now),
        "handling": item.handling,
        "satisfaction": item.satisfaction,
        "satisfaction_comment": item.satisfaction_comment,
        "closed_at": item.closed_at.isoformat() if item.closed_at else None,
        "updated_at": item.updated_at.isoformat() if item.updated_at else None,
        "next_steps": allowed_steps(item.status),
    }


@dataclass(frozen=True, slots=True)
class EventRow:
    event: ServiceRequestEvent
    user_name: str | None

    def as_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "action": e.action,
            "from_status": e.from_status,
            "to_status": e.to_status,
            "note": e.note,
            "user_id": e.user_id,
            "user_name": self.user_name,
            "at": e.at.isoformat(),
        }


# ------------------------------------------------------------------ the service

Channel = Literal["call", "page", "api"]
OPENED_VIA: dict[Channel, str] = {
    "call": "during call {call}",
    "page": "on the customer's page",
    "api": "through the API",
}


def _snapshot(item: ServiceRequest) -> dict[str, Any]:
    return {
        "status": item.status,
        "assignee_id": item.assignee_id,
        "department": item.department,
        "satisfaction": item.satisfaction,
    }


class ServiceRequestService:
    """Commands and queries over one session; never commits (the caller's unit of work
    does)."""

    def __init__(self, session: AsyncSession, *, clock: Clock) -> None:
        self.session = session
        self.clock = clock
        self._dictionary = DictionaryService(session, clock=clock)

    # -------------------------------------------------------------- reference data

    async def types(self, *, active_only: bool = True) -> list[DictionaryEntry]:
        return await self._dictionary.entries("service_request_type", active_only=active_only)

    async def departments(self, *, active_only: bool = True) -> list[DictionaryEntry]:
        return await self._dictionary.entries("department", active_only=active_only)

    async def assignees(self) -> list[User]:
        """Active users who may be given requests (they hold service_requests.write)."""
        users = list(await self.session.scalars(select(User).where(User.is_active.is_(True))))
        return sorted(
            (u for u in users if WRITE_PERMISSION in u.permissions),
            key=lambda u: (u.display_name.casefold(), u.id),
        )

    # -------------------------------------------------------------- commands

    async def open(
        self, data: ServiceRequestOpen, actor: Actor, *, channel: Channel = "api"
    ) -> ServiceRequest:
        types = {e.code: e for e in await self.types()}
        if data.service_type not in types:
            raise InvalidInput(
                f"choose a type: {', '.join(types) or 'none is set up'}", field="service_type"
            )
        if not await customer_exists(self.session, data.customer_id):
            raise NotFound(f"no customer {data.customer_id}", field="customer_id")
        now = self.clock()
        item = ServiceRequest(
            customer_id=data.customer_id,
            service_type=data.service_type,
            subject=data.subject,
            description=data.description,
            status=Status.OPEN.value,
            opened_at=now,
            call_linked_id=data.call_id,
            created_by=actor.user_id,
            due_at=due_at(now, (types[data.service_type].attributes or {}).get("deadline_hours")),
            handling="",
            satisfaction_comment="",
            updated_at=now,
        )
        assignment = None
        if data.assignee_id is not None or data.department:
            assignment = Assign(data.assignee_id, data.department)
            await self._check_assignment(assignment)  # before anything is written
        self.session.add(item)
        await self.session.flush()
        via = "call" if data.call_id else channel
        self._event(item, "opened", "", OPENED_VIA[via].format(call=data.call_id), actor, now)
        audit.record(
            self.session,
            actor,
            at=now,
            action="service_request.open",
            entity_type="service_request",
            entity_id=item.id,
            after={
                **_snapshot(item),
                "customer_id": item.customer_id,
                "service_type": item.service_type,
                "due_at": item.due_at.isoformat() if item.due_at else None,
                "call_id": item.call_linked_id,
                "channel": via,
            },
        )
        if assignment is not None:
            await self._take(item, assignment, actor)
        return item

    async def assign(self, request_id: int, data: AssignInput, actor: Actor) -> ServiceRequest:
        return await self._step(
            request_id, Assign(data.assignee_id, data.department, data.note), actor
        )

    async def handle(self, request_id: int, data: HandleInput, actor: Actor) -> ServiceRequest:
        return await self._step(request_id, Handle(data.handling), actor)

    async def close(self, request_id: int, data: CloseInput, actor: Actor) -> ServiceRequest:
        return await self._step(request_id, Close(data.satisfaction, data.comment), actor)

    async def reopen(self, request_id: int, data: ReopenInput, actor: Actor) -> ServiceRequest:
        return await self._step(request_id, Reopen(data.reason), actor)

    async def _step(self, request_id: int, step: Step, actor: Actor) -> ServiceRequest:
        # Locked (PostgreSQL) so that two people acting at once take their steps in turn.
        item = await self.session.scalar(
            select(ServiceRequest)
            .where(ServiceRequest.id == request_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if item is None:
            raise NotFound(f"no service request {request_id}")
        if isinstance(step, Assign):
            await self._check_assignment(step)
        await self._take(item, step, actor)
        return item

    async def _take(self, item: ServiceRequest, step: Step, actor: Actor) -> None:
        now = self.clock()
        before = _snapshot(item)
        after = advance(_ticket(item), step, at=now)
        item.status = after.status.value
        item.assignee_id = after.assignee_id
        item.department = after.department
        item.handling = after.handling
        item.satisfaction = after.satisfaction
        item.satisfaction_comment = after.satisfaction_comment
        item.closed_at = after.closed_at
        item.updated_at = now
        self._event(item, event_name(step), before["status"], await self._note(step), actor, now)
        audit.record(
            self.session,
            actor,
            at=now,
            action=f"service_request.{FLOW[type(step)][0]}",
            entity_type="service_request",
            entity_id=item.id,
            before=before,
            after=_snapshot(item),
        )
        await self.session.flush()

    def _event(
        self, item: ServiceRequest, action: str, source: str, note: str, actor: Actor, at: datetime
    ) -> None:
        self.session.add(
            ServiceRequestEvent(
                request_id=item.id,
                action=action,
                from_status=source,
                to_status=item.status,
                note=note,
                user_id=actor.user_id,
                at=at,
            )
        )

    async def _check_assignment(self, step: Assign) -> None:
        if step.department is not None:
            codes = {e.code for e in await self.departments()}
            if step.department not in codes:
                raise InvalidInput(
                    f"choose a department: {', '.join(sorted(codes)) or 'none is set up'}",
                    field="department",
                )
        if step.assignee_id is not None:
            held = (await current_permissions(self.session, [step.assignee_id])).get(
                step.assignee_id
            )
            if held is None:
                raise InvalidInput(f"no active user {step.assignee_id}", field="assignee_id")
            if WRITE_PERMISSION not in held:
                raise InvalidInput("this user may not handle service requests", field="assignee_id")

    async def _note(self, step: Step) -> str:
        """The history's words for a step (names as they are now, kept as they were)."""
        match step:
            case Assign(assignee_id=assignee, department=department, note=note):
                to = []
                if assignee is not None:
                    name = await self.session.scalar(
                        select(User.display_name).where(User.id == assignee)
                    )
                    to.append(name or f"user {assignee}")
                if department:
                    labels = {e.code: e.label for e in await self.departments(active_only=False)}
                    to.append(labels.get(department, department))
                return "to " + " · ".join(to) + (f"\n{note}" if note.strip() else "")
            case Handle(handling=handling):
                return handling
            case Close(satisfaction=score, comment=comment):
                return f"satisfaction {score}/5" + (f": {comment}" if comment.strip() else "")
            case Reopen(reason=reason):
                return reason
        return ""  # pragma: no cover

    # -------------------------------------------------------------- queries

    async def get(self, request_id: int) -> RequestRow:
        rows = await self._rows(select_rows().where(ServiceRequest.id == request_id))
        if not rows:
            raise NotFound(f"no service request {request_id}")
        return rows[0]

    async def history(self, request_id: int) -> list[EventRow]:
        rows = await self.session.execute(
            select(ServiceRequestEvent, User.display_name)
            .outerjoin(User, User.id == ServiceRequestEvent.user_id)
            .where(ServiceRequestEvent.request_id == request_id)
            .order_by(ServiceRequestEvent.at, ServiceRequestEvent.id)
        )
        return [EventRow(event, name) for event, name in rows]

    async def search(
        self, wanted: RequestFilter, *, page: int = 1, per_page: int = 50
    ) -> RequestPage:
        """Requests matching the filter: overdue first (the longest overdue first), then by
        due time (none last), then first come first served."""
        now = self.clock()
        conditions = _conditions(wanted, now)
        total = await self.session.scalar(
            select(func.count()).select_from(ServiceRequest).where(*conditions)
        )
        overdue = _overdue(now)
        query = (
            select_rows()
            .where(*conditions)
            .order_by(
                case((overdue, 0), else_=1),
                case((ServiceRequest.due_at.is_(None), 1), else_=0),
                ServiceRequest.due_at,
                ServiceRequest.id,
            )
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        return RequestPage(await self._rows(query), total or 0, page, per_page)

    async def _rows(self, query: Any) -> list[RequestRow]:
        return [RequestRow(*row) for row in await self.session.execute(query)]


def select_rows() -> Any:
    return (
        select(ServiceRequest, Customer.name, User.display_name)
        .join(Customer, Customer.id == ServiceRequest.customer_id)
        .outerjoin(User, User.id == ServiceRequest.assignee_id)
    )


def _overdue(now: datetime) -> ColumnElement[bool]:
    return and_(
        ServiceRequest.status != Status.CLOSED.value,
        ServiceRequest.due_at.is_not(None),
        ServiceRequest.due_at < now,
    )


def _conditions(wanted: RequestFilter, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if wanted.customer_id is not None:
        conditions.append(ServiceRequest.customer_id == wanted.customer_id)
    if wanted.assignee_id is not None:
        conditions.append(ServiceRequest.assignee_id == wanted.assignee_id)
    if wanted.department is not None:
        conditions.append(ServiceRequest.department == wanted.department)
    if wanted.service_type is not None:
        conditions.append(ServiceRequest.service_type == wanted.service_type)
    if wanted.statuses is not None:
        conditions.append(ServiceRequest.status.in_(wanted.statuses))
    if wanted.overdue_only:
        conditions.append(_overdue(now))
    return conditions


def _ticket(item: ServiceRequest) -> Ticket:
    try:
        status = Status(item.status)
    except ValueError:
        raise Conflict(
            f"the request has an unknown status {item.status!r}", field="status"
        ) from None
    return Ticket(
        status=status,
        assignee_id=item.assignee_id,
        department=item.department,
        handling=item.handling or "",
        satisfaction=item.satisfaction,
        satisfaction_comment=item.satisfaction_comment or "",
        closed_at=item.closed_at,
    )
