"""Service requests: the workflow as a pure state machine (every step from every status), due
dates from the dictionary, overdue by the clock, reopening, and the queues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm_core.audit import Actor
from crm_core.errors import InvalidInput, NotFound
from crm_core.models import AuditEntry, DictionaryEntry, ServiceRequestEvent
from crm_core.service_requests import (
    Assign,
    AssignInput,
    Close,
    CloseInput,
    Handle,
    HandleInput,
    Reopen,
    ReopenInput,
    RequestFilter,
    ServiceRequestOpen,
    ServiceRequestService,
    Status,
    StepRefused,
    Ticket,
    advance,
    allowed_steps,
    due_at,
    is_overdue,
)
from crm_core.uow import UnitOfWork
from tests.conftest import add_user
from tests.web.telephony import add_customer
from web.appkeys import clock_key, db_key

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
STEPS = {
    "assign": Assign(assignee_id=7, department=None),
    "handle": Handle("replaced the charger"),
    "close": Close(4, "quick"),
    "reopen": Reopen("it broke again"),
}
# The whole table: where each step leads from each status; missing pairs are refused.
ALLOWED = {
    ("open", "assign"): "assigned",
    ("assigned", "assign"): "assigned",
    ("assigned", "handle"): "handled",
    ("handled", "close"): "closed",
    ("closed", "reopen"): "assigned",
}


# ------------------------------------------------------------------ the pure workflow


@pytest.mark.parametrize("status", [s.value for s in Status])
@pytest.mark.parametrize("step", list(STEPS))
def test_each_step_is_taken_only_from_the_statuses_the_workflow_allows(status, step):
    ticket = Ticket(Status(status), assignee_id=3, handling="earlier work")
    expected = ALLOWED.get((status, step))
    if expected is None:
        with pytest.raises(StepRefused) as refused:
            advance(ticket, STEPS[step], at=T0)
        assert refused.value.field == "status" and status in refused.value.message
    else:
        assert advance(ticket, STEPS[step], at=T0).status == expected


def test_a_request_goes_open_assigned_handled_closed():
    ticket = Ticket(Status.OPEN)
    ticket = advance(ticket, Assign(assignee_id=None, department="technical"), at=T0)
    assert (ticket.status, ticket.department, ticket.assignee_id) == ("assigned", "technical", None)
    ticket = advance(ticket, Handle("reset the router"), at=T0 + timedelta(hours=1))
    assert (ticket.status, ticket.handling) == ("handled", "reset the router")
    ticket = advance(ticket, Close(5, "great"), at=T0 + timedelta(hours=2))
    assert ticket == Ticket(
        Status.CLOSED,
        department="technical",
        handling="reset the router",
        satisfaction=5,
        satisfaction_comment="great",
        closed_at=T0 + timedelta(hours=2),
    )


def test_reopening_goes_back_to_assigned_and_clears_the_satisfaction():
    closed = Ticket(
        Status.CLOSED,
        assignee_id=3,
        department="service",
        handling="refunded",
        satisfaction=2,
        satisfaction_comment="slow",
        closed_at=T0,
    )
    reopened = advance(closed, Reopen("refund never arrived"), at=T0 + timedelta(days=1))
    assert reopened == Ticket(
        Status.ASSIGNED, assignee_id=3, department="service", handling="refunded"
    )


def test_reassigning_replaces_the_person_and_the_department():
    ticket = Ticket(Status.ASSIGNED, assignee_id=3, department="service")
    moved = advance(ticket, Assign(assignee_id=None, department="billing"), at=T0)
    assert (moved.assignee_id, moved.department) == (None, "billing")


@pytest.mark.parametrize("score", [0, 6, -1, 100])
def test_a_satisfaction_outside_one_to_five_is_refused(score):
    with pytest.raises(InvalidInput) as refused:
        advance(Ticket(Status.HANDLED), Close(score), at=T0)
    assert refused.value.field == "satisfaction"


@pytest.mark.parametrize("score", [1, 5])
def test_the_ends_of_the_satisfaction_scale_are_accepted(score):
    assert advance(Ticket(Status.HANDLED), Close(score), at=T0).satisfaction == score


@pytest.mark.parametrize(
    ("ticket", "step", "field"),
    [
        (Ticket(Status.OPEN), Assign(None, None), "assignee_id"),
        (Ticket(Status.OPEN), Assign(None, ""), "department"),
        (Ticket(Status.ASSIGNED), Handle("  \n "), "handling"),
        (Ticket(Status.CLOSED), Reopen(" "), "reason"),
    ],
)
def test_a_step_without_its_substance_is_refused_naming_the_field(ticket, step, field):
    with pytest.raises(InvalidInput) as refused:
        advance(ticket, step, at=T0)
    assert field in refused.value.fields


def test_the_forms_offered_follow_the_status():
    assert allowed_steps("open") == ["assign"]
    assert allowed_steps("assigned") == ["assign", "handle"]
    assert allowed_steps("handled") == ["close"]
    assert allowed_steps("closed") == ["reopen"]
    assert allowed_steps("pending") == []


def test_the_due_time_is_the_opening_plus_the_types_deadline():
    assert due_at(T0, 24) == T0 + timedelta(hours=24)
    assert due_at(T0, 1.5) == T0 + timedelta(minutes=90)
    for nonsense in (None, "48", 0, -5, True, 10**9):
        assert due_at(T0, nonsense) is None


def test_overdue_means_not_closed_and_past_the_due_time():
    due = T0 + timedelta(hours=48)
    assert not is_overdue("assigned", due, due)
    assert is_overdue("assigned", due, due + timedelta(seconds=1))
    assert is_overdue("handled", due, due + timedelta(days=3))
    assert not is_overdue("closed", due, due + timedelta(days=3))
    assert not is_overdue("open", None, due + timedelta(days=3))


# ------------------------------------------------------------------ with a database


def as_actor(user) -> Actor:
    return Actor(user_id=user.id, name=user.username)


async def open_request(app, actor: Actor, customer_id: int, kind: str = "complaint", **extra):
    async with UnitOfWork(app[db_key]) as uow:
        service = ServiceRequestService(uow.session, clock=app[clock_key])
        item = await service.open(
            ServiceRequestOpen(
                customer_id=customer_id, service_type=kind, subject=f"a {kind}", **extra
            ),
            actor,
            channel="page",
        )
        await uow.commit()
        return item.id


async def step(app, actor: Actor, name: str, request_id: int, data) -> None:
    async with UnitOfWork(app[db_key]) as uow:
        service = ServiceRequestService(uow.session, clock=app[clock_key])
        await getattr(service, name)(request_id, data, actor)
        await uow.commit()


async def counts(app) -> tuple[int, int]:
    async with app[db_key]() as db:
        events = await db.scalar(select(func.count()).select_from(ServiceRequestEvent))
        audits = await db.scalar(select(func.count()).select_from(AuditEntry))
    return events, audits


async def test_each_type_is_due_after_its_own_deadline(app, client):
    sol = await add_user(app, "sol", "service_staff")
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    hours = {"consultation": 24, "suggestion": 168, "complaint": 48, "after_sales": 72}
    for kind, deadline in hours.items():
        request_id = await open_request(app, as_actor(sol), acme, kind)
        async with app[db_key]() as db:
            row = await ServiceRequestService(db, clock=app[clock_key]).get(request_id)
        assert row.request.due_at == app[clock_key]() + timedelta(hours=deadline), kind


async def test_a_type_without_a_deadline_opens_without_a_due_time(app, client):
    sol = await add_user(app, "sol", "service_staff")
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    async with app[db_key]() as db:
        entry = await db.scalar(
            select(DictionaryEntry).where(
                DictionaryEntry.category == "service_request_type",
                DictionaryEntry.code == "suggestion",
            )
        )
        entry.attributes = {}
        await db.commit()
    request_id = await open_request(app, as_actor(sol), acme, "suggestion")
    async with app[db_key]() as db:
        row = await ServiceRequestService(db, clock=app[clock_key]).get(request_id)
    assert row.request.due_at is None


async def test_every_step_is_an_event_and_an_audit_row_attributed_and_timestamped(
    app, client, clock
):
    sol = await add_user(app, "sol", "service_staff", display_name="Sol Service")
    ann = await add_user(app, "ann", "inbound_agent", display_name="Ann Agent")
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    request_id = await open_request(app, as_actor(ann), acme, call_id="1700000000.5")
    clock.advance(minutes=5)
    await step(app, as_actor(sol), "assign", request_id, AssignInput(assignee_id=sol.id))
    clock.advance(hours=2)
    await step(app, as_actor(sol), "handle", request_id, HandleInput(handling="apologised"))
    clock.advance(hours=1)
    await step(app, as_actor(ann), "close", request_id, CloseInput(satisfaction=2, comment="meh"))
    clock.advance(days=1)
    await step(app, as_actor(ann), "reopen", request_id, ReopenInput(reason="still angry"))
    async with app[db_key]() as db:
        service = ServiceRequestService(db, clock=app[clock_key])
        row = await service.get(request_id)
        history = [e.as_dict() for e in await service.history(request_id)]
        audits = list(
            await db.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity_type == "service_request")
                .order_by(AuditEntry.id)
            )
        )
    assert row.request.call_linked_id == "1700000000.5"
    assert (row.request.status, row.request.satisfaction, row.request.closed_at) == (
        "assigned",
        None,
        None,
    )
    assert [(e["action"], e["from_status"], e["to_status"], e["user_name"]) for e in history] == [
        ("opened", "", "open", "Ann Agent"),
        ("assigned", "open", "assigned", "Sol Service"),
        ("handled", "assigned", "handled", "Sol Service"),
        ("closed", "handled", "closed", "Ann Agent"),
        ("reopened", "closed", "assigned", "Ann Agent"),
    ]
    assert history[0]["note"] == "during call 1700000000.5"
    assert history[1]["note"] == "to Sol Service"
    assert history[3]["note"] == "satisfaction 2/5: meh"  # kept after the reopening cleared it
    start = T0.isoformat()
    assert [e["at"] for e in history] == [
        start,
        (T0 + timedelta(minutes=5)).isoformat(),
        (T0 + timedelta(minutes=125)).isoformat(),
        (T0 + timedelta(minutes=185)).isoformat(),
        (T0 + timedelta(minutes=185, days=1)).isoformat(),
    ]
    assert [(a.action, a.actor_id, a.at) for a in audits] == [
        ("service_request.open", ann.id, T0),
        ("service_request.assign", sol.id, T0 + timedelta(minutes=5)),
        ("service_request.handle", sol.id, T0 + timedelta(minutes=125)),
        ("service_request.close", ann.id, T0 + timedelta(minutes=185)),
        ("service_request.reopen", ann.id, T0 + timedelta(minutes=185, days=1)),
    ]
    assert audits[-1].before["satisfaction"] == 2 and audits[-1].after["satisfaction"] is None


async def test_opening_with_a_department_assigns_at_once(app, client):
    ann = await add_user(app, "ann", "inbound_agent")
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    request_id = await open_request(app, as_actor(ann), acme, department="technical")
    async with app[db_key]() as db:
        service = ServiceRequestService(db, clock=app[clock_key])
        row = await service.get(request_id)
        history = await service.history(request_id)
    assert (row.request.status, row.request.department) == ("assigned", "technical")
    assert [e.event.action for e in history] == ["opened", "assigned"]
    assert history[1].event.note == "to Technical support"


async def test_a_refused_step_changes_nothing(app, client):
    sol = await add_user(app, "sol", "service_staff")
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    request_id = await open_request(app, as_actor(sol), acme)
    before = await counts(app)
    with pytest.raises(StepRefused):
        await step(app, as_actor(sol), "close", request_id, CloseInput(satisfaction=4))
    with pytest.raises(StepRefused):
        await step(app, as_actor(sol), "handle", request_id, HandleInput(handling="done"))
    assert await counts(app) == before
    async with app[db_key]() as db:
        row = await ServiceRequestService(db, clock=app[clock_key]).get(request_id)
    assert (row.request.status, row.request.satisfaction, row.request.handling) == (
        "open",
        None,
        "",
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"service_type": "repair"}, "service_type"),
        ({"department": "marketing"}, "department"),
        ({"customer_id": 999}, "customer_id"),
    ],
)
async def test_opening_with_an_unknown_choice_is_refused_and_writes_nothing(
    app, client, data, field
):
    ann = await add_user(app, "ann", "inbound_agent")
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    before = await counts(app)
    given = {"customer_id": acme, "service_type": "complaint", "subject": "x", **data}
    async with UnitOfWork(app[db_key]) as uow:
        service = ServiceRequestService(uow.session, clock=app[clock_key])
        with pytest.raises((InvalidInput, NotFound)) as refused:
            await service.open(ServiceRequestOpen(**given), as_actor(ann))
    assert field in refused.value.fields
    assert await counts(app) == before


async def test_only_an_active_user_who_may_handle_requests_can_be_assigned(app, client):
    sol = await add_user(app, "sol", "service_staff")
    lead = await add_user(app, "lead", "team_lead")  # reads customers, no service requests
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    request_id = await open_request(app, as_actor(sol), acme)
    for assignee in (lead.id, 9999):
        with pytest.raises(InvalidInput) as refused:
            await step(app, as_actor(sol), "assign", request_id, AssignInput(assignee_id=assignee))
        assert refused.value.field == "assignee_id"


async def test_overdue_follows_the_clock_and_ends_with_closing(app, client, clock):
    sol = await add_user(app, "sol", "service_staff")
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    complaint = await open_request(app, as_actor(sol), acme, "complaint")  # due in 48 h
    consultation = await open_request(app, as_actor(sol), acme, "consultation")  # due in 24 h

    async def overdue_ids() -> list[int]:
        async with app[db_key]() as db:
            found = await ServiceRequestService(db, clock=app[clock_key]).search(
                RequestFilter(overdue_only=True)
            )
        return [r.request.id for r in found.rows]

    clock.advance(hours=24)
    assert await overdue_ids() == []  # due exactly now: not yet overdue
    clock.advance(seconds=1)
    assert await overdue_ids() == [consultation]
    clock.advance(hours=24)
    assert await overdue_ids() == [consultation, complaint]  # the longest overdue first
    await step(app, as_actor(sol), "assign", consultation, AssignInput(department="service"))
    await step(app, as_actor(sol), "handle", consultation, HandleInput(handling="answered"))
    await step(app, as_actor(sol), "close", consultation, CloseInput(satisfaction=5))
    assert await overdue_ids() == [complaint]


async def test_queues_by_customer_assignee_and_department_put_overdue_first(app, client, clock):
    sol = await add_user(app, "sol", "service_staff")
    bea = await add_user(app, "bea", "service_staff")
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    other = await add_customer(app, "Other Co", "+1 555 123 9999")
    me = as_actor(sol)
    old = await open_request(app, me, acme, "consultation")  # due T0 + 24 h
    clock.advance(hours=1)
    mine = await open_request(app, me, acme, "suggestion", assignee_id=sol.id)
    hers = await open_request(app, me, other, "complaint", assignee_id=bea.id)
    billing = await open_request(app, me, other, "after_sales", department="billing")
    await step(app, me, "assign", old, AssignInput(assignee_id=sol.id, department="billing"))
    clock.advance(hours=30)  # `old` is overdue now, the others not

    async def ids(**wanted) -> list[int]:
        async with app[db_key]() as db:
            found = await ServiceRequestService(db, clock=app[clock_key]).search(
                RequestFilter(**wanted)
            )
        return [r.request.id for r in found.rows]

    assert await ids(customer_id=acme) == [old, mine]
    assert await ids(assignee_id=sol.id) == [old, mine]
    assert await ids(assignee_id=bea.id) == [hers]
    assert await ids(department="billing") == [old, billing]
    # The rest by due time: complaint (48 h), after-sales (72 h), suggestion (168 h).
    assert await ids() == [old, hers, billing, mine]
    async with app[db_key]() as db:
        service = ServiceRequestService(db, clock=app[clock_key])
        first = await service.search(RequestFilter(), per_page=3)
        second = await service.search(RequestFilter(), page=2, per_page=3)
    assert [r.request.id for r in first.rows] == [old, hers, billing] and first.more
    assert [r.request.id for r in second.rows] == [mine] and not second.more
    assert first.total == second.total == 4
