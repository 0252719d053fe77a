"""Sales opportunities: the stages as a pure state machine, who may move them, and the service
on both databases (no web app: the service over its own sessions)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from crm_core.audit import SYSTEM, Actor
from crm_core.customers import CustomerService
from crm_core.db import create_engine, session_factory
from crm_core.errors import Conflict, Forbidden, InvalidInput
from crm_core.models import AuditEntry, Customer, Opportunity, PlanStep
from crm_core.opportunities import (
    MOVES,
    ActingUser,
    AssignInput,
    CloseInput,
    Move,
    OpportunityCreate,
    OpportunityService,
    OpportunityUpdate,
    PlanStepInput,
    Stage,
    StepResultInput,
    advance,
    may,
)
from crm_core.passwords import Passwords
from crm_core.schemas import UserCreate
from crm_core.users import UserService, current_permissions

# Every move the stages allow, written out: (from, move, to); None: the opportunity is gone.
ALLOWED = {
    ("new", "edit", "new"),
    ("new", "delete", None),
    ("new", "assign", "assigned"),
    ("assigned", "assign", "assigned"),
    ("developing", "assign", "developing"),
    ("new", "estimate", "new"),
    ("assigned", "estimate", "assigned"),
    ("developing", "estimate", "developing"),
    ("assigned", "plan", "assigned"),
    ("developing", "plan", "developing"),
    ("assigned", "record", "developing"),
    ("developing", "record", "developing"),
    ("developing", "win", "won"),
    ("developing", "lose", "lost"),
    ("assigned", "terminate", "terminated"),
    ("developing", "terminate", "terminated"),
}
EVERY_PAIR = [(stage.value, move) for stage in Stage for move in Move]
SALES_MANAGER = frozenset({"opportunities.read", "opportunities.write", "opportunities.assign"})
ACCOUNT_MANAGER = frozenset({"opportunities.read", "opportunities.write"})


@pytest.mark.parametrize(("stage", "move"), EVERY_PAIR, ids=[f"{s}-{m}" for s, m in EVERY_PAIR])
def test_each_stage_allows_exactly_its_moves(stage, move):
    allowed = {(s, m): to for s, m, to in ALLOWED}
    if (stage, move.value) in allowed:
        assert advance(stage, move) == allowed[(stage, move.value)]
    else:
        with pytest.raises(Conflict, match=f"cannot {move.value} an opportunity that is {stage}"):
            advance(stage, move)


def test_the_table_lists_no_move_the_test_does_not_know():
    table = {
        (s.value, m.value, t.value if t else None) for m, ts in MOVES.items() for s, t in ts.items()
    }
    assert table == ALLOWED


def test_closed_opportunities_allow_nothing():
    for stage in (Stage.WON, Stage.LOST, Stage.TERMINATED):
        assert not any(stage in MOVES[move] for move in Move)


@pytest.mark.parametrize("move", list(Move))
def test_the_sales_manager_may_make_every_move(move):
    assert may(move, user_id=1, permissions=SALES_MANAGER, assignee=2)


@pytest.mark.parametrize("move", [Move.EDIT, Move.DELETE, Move.ASSIGN])
def test_an_account_manager_never_enters_changes_or_assigns(move):
    assert not may(move, user_id=2, permissions=ACCOUNT_MANAGER, assignee=2)


@pytest.mark.parametrize(
    "move", [Move.ESTIMATE, Move.PLAN, Move.RECORD, Move.WIN, Move.LOSE, Move.TERMINATE]
)
def test_an_account_manager_works_only_on_their_own(move):
    assert may(move, user_id=2, permissions=ACCOUNT_MANAGER, assignee=2)
    assert not may(move, user_id=3, permissions=ACCOUNT_MANAGER, assignee=2)
    assert not may(move, user_id=2, permissions=ACCOUNT_MANAGER, assignee=None)
    assert not may(move, user_id=2, permissions=frozenset({"opportunities.read"}), assignee=2)


def test_a_value_with_three_decimals_is_refused_not_rounded():
    with pytest.raises(ValidationError) as refused:
        OpportunityCreate(prospect_name="Acme", value=Decimal("10.005"))
    assert refused.value.errors()[0]["loc"] == ("value",)
    assert OpportunityCreate(prospect_name="Acme", value="10.05").value == Decimal("10.05")


# On both databases.

PASSWORDS = Passwords(time_cost=1, memory_kib=256, parallelism=1)


@pytest.fixture
async def db(database_url):
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


async def user(db, clock, name: str, *roles: str) -> ActingUser:
    async with db() as session:
        made = await UserService(session, passwords=PASSWORDS, clock=clock).create(
            UserCreate(
                username=name,
                display_name=name.title(),
                password="correct horse battery",
                roles=list(roles),
            ),
            SYSTEM,
        )
        await session.commit()
        held = (await current_permissions(session, [made.id]))[made.id]
    return ActingUser(Actor(user_id=made.id, name=name), held)


@pytest.fixture
async def people(db, clock):
    """(sales manager, account manager ann, account manager bob, inbound agent)."""
    return (
        await user(db, clock, "sam", "sales_manager"),
        await user(db, clock, "ann", "account_manager"),
        await user(db, clock, "bob", "account_manager"),
        await user(db, clock, "ivy", "inbound_agent"),
    )


def service(session, clock) -> OpportunityService:
    return OpportunityService(session, clock=clock, region="US")


ACME = OpportunityCreate(
    prospect_name="Acme Ltd",
    contact_name="Wile Coyote",
    phone="(555) 123-4567",
    source="trade fair",
    description="Wants 40 seats",
    value="12500.50",
    probability=30,
)


async def entered(db, clock, who: ActingUser, data: OpportunityCreate = ACME) -> int:
    async with db() as session:
        item = await service(session, clock).create(data, who)
        await session.commit()
        return item.id


async def act(db, clock, operation):
    """Run one operation in its own transaction and commit it."""
    async with db() as session:
        result = await operation(service(session, clock))
        await session.commit()
        return result


async def refused(db, clock, operation, error):
    """The operation is refused, and leaves nothing behind."""
    async with db() as session:
        before = await session.scalar(select(func.count()).select_from(AuditEntry))
        with pytest.raises(error) as caught:
            await operation(service(session, clock))
        await session.rollback()
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == before
    return caught.value


async def loaded(db, opportunity_id: int) -> Opportunity:
    async with db() as session:
        return await session.get(Opportunity, opportunity_id)


async def actions(db, opportunity_id: int) -> list[str]:
    async with db() as session:
        rows = await session.scalars(
            select(AuditEntry.action)
            .where(
                AuditEntry.entity_type == "opportunity", AuditEntry.entity_id == str(opportunity_id)
            )
            .order_by(AuditEntry.id)
        )
        return list(rows)


async def test_the_sales_manager_enters_edits_and_deletes_an_unassigned_opportunity(
    db, clock, people
):
    sam, *_ = people
    made = await entered(db, clock, sam)
    item = await loaded(db, made)
    assert (item.stage, item.title, item.phone_raw, item.phone_e164) == (
        "new",
        "Acme Ltd",
        "(555) 123-4567",
        "+15551234567",
    )
    assert (item.value_cents, item.probability, item.created_by) == (1250050, 30, sam.actor.user_id)
    await act(
        db, clock, lambda s: s.update(made, OpportunityUpdate(value="99", title="Big deal"), sam)
    )
    item = await loaded(db, made)
    assert (item.value_cents, item.title) == (9900, "Big deal")
    await act(db, clock, lambda s: s.delete(made, sam))
    assert await loaded(db, made) is None
    assert await actions(db, made) == [
        "opportunity.create",
        "opportunity.update",
        "opportunity.delete",
    ]


async def test_a_number_that_is_not_one_is_refused_naming_the_field(db, clock, people):
    sam, *_ = people
    bad = ACME.model_copy(update={"phone": "call me maybe"})
    error = await refused(db, clock, lambda s: s.create(bad, sam), InvalidInput)
    assert error.field == "phone"
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Opportunity)) == 0


async def test_only_a_sales_manager_enters_edits_deletes_and_assigns(db, clock, people):
    sam, ann, _, ivy = people
    made = await entered(db, clock, sam)
    for who in (ann, ivy):
        await refused(db, clock, lambda s, who=who: s.create(ACME, who), Forbidden)
        await refused(
            db,
            clock,
            lambda s, who=who: s.update(made, OpportunityUpdate(title="x"), who),
            Forbidden,
        )
        await refused(db, clock, lambda s, who=who: s.delete(made, who), Forbidden)
        await refused(
            db,
            clock,
            lambda s, who=who: s.assign(
                made, AssignInput(account_manager_id=ann.actor.user_id), who
            ),
            Forbidden,
        )
    assert (await loaded(db, made)).stage == "new"


async def test_it_is_assigned_only_to_someone_who_may_work_on_opportunities(db, clock, people):
    sam, ann, _, ivy = people
    made = await entered(db, clock, sam)
    error = await refused(
        db,
        clock,
        lambda s: s.assign(made, AssignInput(account_manager_id=ivy.actor.user_id), sam),
        InvalidInput,
    )
    assert error.field == "account_manager_id"
    await act(
        db, clock, lambda s: s.assign(made, AssignInput(account_manager_id=ann.actor.user_id), sam)
    )
    item = await loaded(db, made)
    assert (item.stage, item.assigned_to, item.assigned_at) == (
        "assigned",
        ann.actor.user_id,
        clock(),
    )


async def test_once_assigned_it_can_no_longer_be_edited_or_deleted(db, clock, people):
    sam, ann, *_ = people
    made = await entered(db, clock, sam)
    await act(
        db, clock, lambda s: s.assign(made, AssignInput(account_manager_id=ann.actor.user_id), sam)
    )
    error = await refused(
        db,
        clock,
        lambda s: s.update(made, OpportunityUpdate(prospect_name="Other", value="1"), sam),
        Conflict,
    )
    assert set(error.fields) == {"prospect_name", "value"}
    await refused(db, clock, lambda s: s.delete(made, sam), Conflict)
    item = await loaded(db, made)
    assert (item.prospect_name, item.value_cents) == ("Acme Ltd", 1250050)
    # What the development teaches may still change: the chance of success.
    await act(db, clock, lambda s: s.update(made, OpportunityUpdate(probability=60), ann))
    assert (await loaded(db, made)).probability == 60


async def test_the_assigned_account_manager_plans_and_records_the_development(db, clock, people):
    sam, ann, bob, _ = people
    made = await entered(db, clock, sam)
    await act(
        db, clock, lambda s: s.assign(made, AssignInput(account_manager_id=ann.actor.user_id), sam)
    )
    first = await act(
        db,
        clock,
        lambda s: s.add_step(
            made, PlanStepInput(planned_on=date(2026, 12, 1), action="Visit"), ann
        ),
    )
    second = await act(
        db,
        clock,
        lambda s: s.add_step(
            made, PlanStepInput(planned_on=date(2026, 12, 8), action="Quote"), sam
        ),
    )
    # Somebody else's opportunity is not bob's to work on.
    await refused(
        db,
        clock,
        lambda s: s.add_step(made, PlanStepInput(planned_on=date(2026, 12, 2), action="x"), bob),
        Forbidden,
    )
    await refused(
        db,
        clock,
        lambda s: s.record_result(made, first.id, StepResultInput(result="x"), bob),
        Forbidden,
    )
    assert (await loaded(db, made)).stage == "assigned"
    await act(
        db,
        clock,
        lambda s: s.record_result(made, first.id, StepResultInput(result="Liked the demo"), ann),
    )
    assert (await loaded(db, made)).stage == "developing"
    await refused(
        db,
        clock,
        lambda s: s.record_result(made, first.id, StepResultInput(result="again"), ann),
        Conflict,
    )
    async with db() as session:
        steps = await service(session, clock).steps(made)
    assert [(s.id, s.action, s.result, s.done_at) for s in steps] == [
        (first.id, "Visit", "Liked the demo", clock()),
        (second.id, "Quote", "", None),
    ]
    assert await actions(db, made) == [
        "opportunity.create",
        "opportunity.assign",
        "opportunity.plan_step",
        "opportunity.plan_step",
        "opportunity.step_result",
    ]


async def developing(db, clock, people) -> int:
    sam, ann, *_ = people
    made = await entered(db, clock, sam)
    await act(
        db, clock, lambda s: s.assign(made, AssignInput(account_manager_id=ann.actor.user_id), sam)
    )
    step = await act(
        db,
        clock,
        lambda s: s.add_step(
            made, PlanStepInput(planned_on=date(2026, 12, 1), action="Visit"), ann
        ),
    )
    await act(
        db, clock, lambda s: s.record_result(made, step.id, StepResultInput(result="ok"), ann)
    )
    return made


async def test_won_creates_the_customer_with_its_contact_and_number(db, clock, people):
    _, ann, *_ = people
    made = await developing(db, clock, people)
    await act(db, clock, lambda s: s.close(made, CloseInput(outcome="won"), ann))
    item = await loaded(db, made)
    assert item.stage == "won" and item.closed_at == clock() and item.customer_id is not None
    async with db() as session:
        customer = await session.get(Customer, item.customer_id)
        assert (customer.name, customer.account_manager_id) == ("Acme Ltd", ann.actor.user_id)
        assert [(c.name, c.is_primary) for c in customer.contacts] == [("Wile Coyote", True)]
        # Calls from the number now find the new customer, and its contact.
        matches = await CustomerService(session, clock=clock, region="US").find_by_number(
            "+15551234567"
        )
        assert [(m.customer_id, m.contact_name) for m in matches] == [(customer.id, "Wile Coyote")]
        created = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "customer.create", AuditEntry.entity_id == str(customer.id))
        )
    assert created == 1
    # Closed is closed.
    await refused(
        db, clock, lambda s: s.close(made, CloseInput(outcome="lost", reason="x"), ann), Conflict
    )


async def test_won_without_a_contact_gives_the_number_to_the_customer(db, clock, people):
    sam, ann, *_ = people
    made = await entered(
        db, clock, sam, OpportunityCreate(prospect_name="Solo Shop", phone="+1 555 987 6543")
    )
    await act(
        db, clock, lambda s: s.assign(made, AssignInput(account_manager_id=ann.actor.user_id), sam)
    )
    step = await act(
        db,
        clock,
        lambda s: s.add_step(made, PlanStepInput(planned_on=date(2026, 12, 1), action="Call"), ann),
    )
    await act(
        db, clock, lambda s: s.record_result(made, step.id, StepResultInput(result="ok"), ann)
    )
    await act(db, clock, lambda s: s.close(made, CloseInput(outcome="won"), ann))
    async with db() as session:
        customer = await session.get(Customer, (await session.get(Opportunity, made)).customer_id)
        assert customer.contacts == []
        assert [n.e164 for n in customer.numbers] == ["+15559876543"]


async def test_won_or_lost_needs_a_recorded_result_and_lost_needs_a_reason(db, clock, people):
    sam, ann, *_ = people
    made = await entered(db, clock, sam)
    await act(
        db, clock, lambda s: s.assign(made, AssignInput(account_manager_id=ann.actor.user_id), sam)
    )
    await refused(db, clock, lambda s: s.close(made, CloseInput(outcome="won"), ann), Conflict)
    await refused(
        db, clock, lambda s: s.close(made, CloseInput(outcome="lost", reason="x"), ann), Conflict
    )
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 0
    other = await developing(db, clock, people)
    error = await refused(
        db, clock, lambda s: s.close(other, CloseInput(outcome="lost"), ann), InvalidInput
    )
    assert error.field == "reason"
    await act(
        db, clock, lambda s: s.close(other, CloseInput(outcome="lost", reason="Too dear"), ann)
    )
    item = await loaded(db, other)
    assert (item.stage, item.close_reason, item.customer_id) == ("lost", "Too dear", None)


async def test_an_assigned_opportunity_can_be_terminated_with_a_reason(db, clock, people):
    sam, ann, *_ = people
    made = await entered(db, clock, sam)
    await refused(
        db,
        clock,
        lambda s: s.close(made, CloseInput(outcome="terminated", reason="x"), sam),
        Conflict,
    )
    await act(
        db, clock, lambda s: s.assign(made, AssignInput(account_manager_id=ann.actor.user_id), sam)
    )
    await act(
        db, clock, lambda s: s.close(made, CloseInput(outcome="terminated", reason="Merged"), ann)
    )
    item = await loaded(db, made)
    assert (item.stage, item.close_reason) == ("terminated", "Merged")
    await refused(
        db,
        clock,
        lambda s: s.add_step(made, PlanStepInput(planned_on=date(2026, 12, 1), action="x"), ann),
        Conflict,
    )
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(PlanStep)) == 0


async def test_the_funnel_counts_and_values_every_stage_per_account_manager(db, clock, people):
    sam, ann, bob, _ = people
    first = await entered(db, clock, sam, ACME.model_copy(update={"value": Decimal("100")}))
    second = await entered(db, clock, sam, ACME.model_copy(update={"value": Decimal("20.5")}))
    await entered(db, clock, sam, ACME.model_copy(update={"value": Decimal("1")}))
    await act(
        db, clock, lambda s: s.assign(first, AssignInput(account_manager_id=ann.actor.user_id), sam)
    )
    await act(
        db,
        clock,
        lambda s: s.assign(second, AssignInput(account_manager_id=bob.actor.user_id), sam),
    )
    async with db() as session:
        everyone = await service(session, clock).funnel()
        anns = await service(session, clock).funnel(assigned_to=ann.actor.user_id)
    assert [(r.stage, r.count, r.value_cents) for r in everyone] == [
        ("new", 1, 100),
        ("assigned", 2, 12050),
        ("developing", 0, 0),
        ("won", 0, 0),
        ("lost", 0, 0),
        ("terminated", 0, 0),
    ]
    assert [(r.stage, r.count, r.value_cents) for r in anns if r.count] == [("assigned", 1, 10000)]
