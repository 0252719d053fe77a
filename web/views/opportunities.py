"""Sales opportunities: the list with its filters and the funnel, an opportunity's page (its
development plan, the steps' results, the forms its stage and the user allow), the new and
edit forms, and their API twins. Each operation is one unit of work, committed once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from crm_core.errors import DomainError, NotFound
from crm_core.money import money
from crm_core.opportunities import (
    MOVES,
    ActingUser,
    AssignInput,
    CloseInput,
    Filters,
    FunnelRow,
    Move,
    OpportunityCreate,
    OpportunityService,
    OpportunityUpdate,
    PlanStepInput,
    Stage,
    StepResultInput,
    display_names,
    may,
    opportunity_json,
    step_json,
)
from crm_core.schemas import Input
from crm_core.uow import UnitOfWork
from web.access import requires
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key, settings_key
from web.inputs import form_problem, form_values, path_id, read_form, validate
from web.listing import (
    Paging,
    export_paging,
    export_response,
    query_values,
    read_query,
    requested_export,
)
from web.principal import actor, require_principal
from web.render import render

routes = web.RouteTableDef()
api = ApiRoutes()
STAGES = tuple(stage.value for stage in Stage)
FORM_FIELDS = tuple(OpportunityCreate.model_fields)
# Fields a form leaves empty to keep (or default) them rather than to set them to "".
NUMERIC_FIELDS = ("value", "probability")


class OpportunityQuery(Input):
    stage: Literal["new", "assigned", "developing", "won", "lost", "terminated"] | None = None
    assigned_to: int | None = Field(default=None, ge=1, le=2**31 - 1)
    q: Annotated[str, StringConstraints(max_length=100)] = ""


class FunnelQuery(Input):
    assigned_to: int | None = Field(default=None, ge=1, le=2**31 - 1)


class ProbabilityInput(Input):
    probability: int = Field(ge=0, le=100)


def _who(request: web.Request) -> ActingUser:
    return ActingUser(actor(request), require_principal(request).permissions)


def _service(request: web.Request, uow: UnitOfWork) -> OpportunityService:
    return OpportunityService(
        uow.session, clock=request.app[clock_key], region=request.app[settings_key].default_region
    )


# The operations the pages and the API share.


async def find_opportunities(
    request: web.Request, wanted: OpportunityQuery, paging: Paging
) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        service = _service(request, uow)
        found = await service.search(
            Filters(stage=wanted.stage, assigned_to=wanted.assigned_to, text=wanted.q),
            limit=paging.limit,
            offset=paging.offset,
        )
        names = await display_names(uow.session, {o.assigned_to for o in found})
        funnel = await service.funnel(assigned_to=wanted.assigned_to)
    items = [_with_name(opportunity_json(o), names) for o in found]
    return {**paging.page_of(items), "funnel": [_funnel_json(row) for row in funnel]}


async def funnel_of(request: web.Request, assigned_to: int | None) -> list[dict[str, Any]]:
    async with UnitOfWork(request.app[db_key]) as uow:
        rows = await _service(request, uow).funnel(assigned_to=assigned_to)
    return [_funnel_json(row) for row in rows]


async def opportunity_view(request: web.Request, opportunity_id: int) -> dict[str, Any]:
    """The opportunity, its plan, and the moves this user may make on it now."""
    who = _who(request)
    async with UnitOfWork(request.app[db_key]) as uow:
        service = _service(request, uow)
        item = await service.get(opportunity_id)
        steps = await service.steps(item.id)
        names = await display_names(
            uow.session, {item.assigned_to, item.created_by, *(s.user_id for s in steps)}
        )
    allowed = [
        move.value
        for move in Move
        if item.stage in MOVES[move]
        and may(
            move,
            user_id=who.actor.user_id,
            permissions=who.permissions,
            assignee=item.assigned_to,
        )
    ]
    return {
        **_with_name(opportunity_json(item), names),
        "created_by_name": names.get(item.created_by or 0, ""),
        "steps": [{**step_json(s), "user_name": names.get(s.user_id or 0, "")} for s in steps],
        "allowed": allowed,
    }


async def change_opportunity(
    request: web.Request,
    opportunity_id: int,
    operation: Callable[[OpportunityService, ActingUser], Awaitable[object]],
) -> dict[str, Any]:
    """Apply one change and commit it; the opportunity as it is now."""
    async with UnitOfWork(request.app[db_key]) as uow:
        await operation(_service(request, uow), _who(request))
        await uow.commit()
    return await opportunity_view(request, opportunity_id)


async def create_opportunity(request: web.Request, data: OpportunityCreate) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        item = await _service(request, uow).create(data, _who(request))
        await uow.commit()
    return await opportunity_view(request, item.id)


async def delete_opportunity(request: web.Request, opportunity_id: int) -> None:
    async with UnitOfWork(request.app[db_key]) as uow:
        await _service(request, uow).delete(opportunity_id, _who(request))
        await uow.commit()


async def account_managers(request: web.Request) -> list[dict[str, Any]]:
    async with UnitOfWork(request.app[db_key]) as uow:
        people = await _service(request, uow).account_managers()
    return [{"id": u.id, "username": u.username, "display_name": u.display_name} for u in people]


def _with_name(item: dict[str, Any], names: dict[int, str]) -> dict[str, Any]:
    return {**item, "assigned_name": names.get(item["assigned_to"] or 0, "")}


def _funnel_json(row: FunnelRow) -> dict[str, Any]:
    return {"stage": row.stage, "count": row.count, "value": money(row.value_cents)}


# Pages.


@routes.get("/opportunities")
@requires("opportunities.read")
async def opportunities_page(request: web.Request) -> web.Response:
    if (kind := requested_export(request)) is not None:
        wanted, _ = read_query(request, OpportunityQuery)
        found = await find_opportunities(request, wanted, export_paging())
        return await export_response(found["items"], kind, "opportunities")
    values = query_values(request.query, (*OpportunityQuery.model_fields, "page"))
    error, fields, status = "", {}, 200
    found: dict[str, Any] = {"items": [], "page": 1, "more": False, "funnel": []}
    try:
        wanted, paging = read_query(request, OpportunityQuery)
        found = await find_opportunities(request, wanted, paging)
    except DomainError as exc:
        status, error, fields = form_problem(exc)
    return render(
        request,
        "opportunities.html",
        {
            "values": values,
            "found": found,
            "stages": STAGES,
            "managers": await account_managers(request),
            "error": error,
            "fields": fields,
        },
        status=status,
    )


def _form_input(values: dict[str, Any]) -> dict[str, Any]:
    """What a form sent, as the model takes it: an empty number keeps (or defaults) it."""
    return {
        name: values[name]
        for name in FORM_FIELDS
        if name in values and not (name in NUMERIC_FIELDS and values[name] == "")
    }


def _form(
    request: web.Request,
    *,
    values: dict[str, Any],
    opportunity_id: int | None = None,
    problem: DomainError | None = None,
) -> web.Response:
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    return render(
        request,
        "opportunity_form.html",
        {"values": values, "opportunity_id": opportunity_id, "error": error, "fields": fields},
        status=status,
    )


@routes.get("/opportunities/new")
@requires("opportunities.assign")
async def new_opportunity_page(request: web.Request) -> web.Response:
    return _form(request, values={})


@routes.post("/opportunities/new")
@requires("opportunities.assign")
async def new_opportunity_submit(request: web.Request) -> web.Response:
    values = form_values(await read_form(request))
    try:
        made = await create_opportunity(request, validate(OpportunityCreate, _form_input(values)))
    except DomainError as exc:
        return _form(request, values=values, problem=exc)
    raise web.HTTPSeeOther(f"/opportunities/{made['id']}?saved=created")


@routes.get("/opportunities/{opportunity_id}")
@requires("opportunities.read")
async def opportunity_page(request: web.Request) -> web.Response:
    return await _opportunity_page(request, path_id(request, "opportunity_id"))


async def _opportunity_page(
    request: web.Request,
    opportunity_id: int,
    *,
    problem: DomainError | None = None,
    form: str = "",
    values: dict[str, Any] | None = None,
) -> web.Response:
    """The page; after a refused form, with its message beside that form (``form``)."""
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    view = await opportunity_view(request, opportunity_id)
    who = require_principal(request)
    return render(
        request,
        "opportunity.html",
        {
            "o": view,
            "managers": await account_managers(request) if who.can("opportunities.assign") else [],
            "error": error,
            "fields": fields,
            "form": form,
            "values": values or {},
            "saved": "" if problem else request.query.get("saved", "")[:20],
        },
        status=status,
    )


async def _page_change(
    request: web.Request,
    form: str,
    model: type[Input],
    operation: Callable[[OpportunityService, ActingUser, Any], Awaitable[object]],
    *,
    given: Callable[[dict[str, Any]], dict[str, Any]] = lambda values: values,
) -> web.Response:
    """A form on the opportunity's page: done, back to the page; refused, the page again
    with the message beside the form and what was typed."""
    opportunity_id = path_id(request, "opportunity_id")
    values = form_values(await read_form(request))
    try:
        data = validate(model, given(values))
        await change_opportunity(
            request, opportunity_id, lambda service, who: operation(service, who, data)
        )
    except DomainError as exc:
        if isinstance(exc, NotFound) and exc.field is None:
            raise
        return await _opportunity_page(
            request, opportunity_id, problem=exc, form=form, values=values
        )
    raise web.HTTPSeeOther(f"/opportunities/{opportunity_id}?saved={form}")


@routes.get("/opportunities/{opportunity_id}/edit")
@requires("opportunities.assign")
async def edit_opportunity_page(request: web.Request) -> web.Response:
    view = await opportunity_view(request, path_id(request, "opportunity_id"))
    values = {name: view.get(name, "") for name in FORM_FIELDS}
    values["phone"] = view["phone_raw"]
    return _form(request, values=values, opportunity_id=view["id"])


@routes.post("/opportunities/{opportunity_id}/edit")
@requires("opportunities.assign")
async def edit_opportunity_submit(request: web.Request) -> web.Response:
    opportunity_id = path_id(request, "opportunity_id")
    values = form_values(await read_form(request))
    try:
        data = validate(OpportunityUpdate, _form_input(values))
        await change_opportunity(
            request,
            opportunity_id,
            lambda service, who: service.update(opportunity_id, data, who),
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return _form(request, values=values, opportunity_id=opportunity_id, problem=exc)
    raise web.HTTPSeeOther(f"/opportunities/{opportunity_id}?saved=edited")


@routes.post("/opportunities/{opportunity_id}/delete")
@requires("opportunities.assign")
async def delete_opportunity_submit(request: web.Request) -> web.Response:
    opportunity_id = path_id(request, "opportunity_id")
    try:
        await delete_opportunity(request, opportunity_id)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _opportunity_page(request, opportunity_id, problem=exc, form="delete")
    raise web.HTTPSeeOther("/opportunities?deleted=1")


@routes.post("/opportunities/{opportunity_id}/assign")
@requires("opportunities.assign")
async def assign_submit(request: web.Request) -> web.Response:
    return await _page_change(
        request,
        "assign",
        AssignInput,
        lambda service, who, data: service.assign(path_id(request, "opportunity_id"), data, who),
    )


@routes.post("/opportunities/{opportunity_id}/probability")
@requires("opportunities.write")
async def probability_submit(request: web.Request) -> web.Response:
    return await _page_change(
        request,
        "probability",
        ProbabilityInput,
        lambda service, who, data: service.update(
            path_id(request, "opportunity_id"),
            OpportunityUpdate(probability=data.probability),
            who,
        ),
    )


@routes.post("/opportunities/{opportunity_id}/steps")
@requires("opportunities.write")
async def plan_step_submit(request: web.Request) -> web.Response:
    return await _page_change(
        request,
        "step",
        PlanStepInput,
        lambda service, who, data: service.add_step(path_id(request, "opportunity_id"), data, who),
    )


@routes.post("/opportunities/{opportunity_id}/steps/{step_id}/result")
@requires("opportunities.write")
async def step_result_submit(request: web.Request) -> web.Response:
    step_id = path_id(request, "step_id")
    return await _page_change(
        request,
        f"result-{step_id}",
        StepResultInput,
        lambda service, who, data: service.record_result(
            path_id(request, "opportunity_id"), step_id, data, who
        ),
    )


@routes.post("/opportunities/{opportunity_id}/close")
@requires("opportunities.write")
async def close_submit(request: web.Request) -> web.Response:
    return await _page_change(
        request,
        "close",
        CloseInput,
        lambda service, who, data: service.close(path_id(request, "opportunity_id"), data, who),
    )


# The API.


@api.route(
    "GET",
    "/opportunities",
    summary=(
        "Find opportunities: stage, assigned_to (the account manager), q (part of the "
        "prospect's, title's or contact's name); page, per_page; with the funnel of the same "
        "account manager (or everyone's)"
    ),
    access="opportunities.read",
    tag="opportunities",
)
async def api_opportunities(request: web.Request) -> object:
    wanted, paging = read_query(request, OpportunityQuery)
    return await find_opportunities(request, wanted, paging)


@api.route(
    "GET",
    "/opportunities/funnel",
    summary="Count and value of the opportunities in each stage (assigned_to: one manager's)",
    access="opportunities.read",
    tag="opportunities",
)
async def api_funnel(request: web.Request) -> object:
    wanted, _ = read_query(request, FunnelQuery)
    return {
        "assigned_to": wanted.assigned_to,
        "stages": await funnel_of(request, wanted.assigned_to),
    }


@api.route(
    "GET",
    "/opportunities/account-managers",
    summary="The users an opportunity can be assigned to (active, holding opportunities.write)",
    access="opportunities.assign",
    tag="opportunities",
)
async def api_account_managers(request: web.Request) -> object:
    return await account_managers(request)


@api.route(
    "POST",
    "/opportunities",
    summary="Enter an opportunity (sales manager: needs opportunities.write too)",
    access="opportunities.assign",
    body=OpportunityCreate,
    status=201,
    tag="opportunities",
)
async def api_create_opportunity(request: web.Request, data: OpportunityCreate) -> object:
    return await create_opportunity(request, data)


@api.route(
    "GET",
    "/opportunities/{opportunity_id}",
    summary="An opportunity with its development plan and the moves allowed to me now",
    access="opportunities.read",
    tag="opportunities",
)
async def api_opportunity(request: web.Request) -> object:
    return await opportunity_view(request, path_id(request, "opportunity_id"))


@api.route(
    "PATCH",
    "/opportunities/{opportunity_id}",
    summary=(
        "Change an unassigned opportunity (sales manager); once assigned only its probability "
        "(its account manager too)"
    ),
    access="opportunities.write",
    body=OpportunityUpdate,
    tag="opportunities",
)
async def api_update_opportunity(request: web.Request, data: OpportunityUpdate) -> object:
    opportunity_id = path_id(request, "opportunity_id")
    return await change_opportunity(
        request, opportunity_id, lambda service, who: service.update(opportunity_id, data, who)
    )


@api.route(
    "DELETE",
    "/opportunities/{opportunity_id}",
    summary="Delete an unassigned opportunity",
    access="opportunities.assign",
    tag="opportunities",
)
async def api_delete_opportunity(request: web.Request) -> object:
    opportunity_id = path_id(request, "opportunity_id")
    await delete_opportunity(request, opportunity_id)
    return {"id": opportunity_id, "deleted": True}


@api.route(
    "POST",
    "/opportunities/{opportunity_id}/assign",
    summary="Assign the opportunity to an account manager (again: to another one)",
    access="opportunities.assign",
    body=AssignInput,
    tag="opportunities",
)
async def api_assign(request: web.Request, data: AssignInput) -> object:
    opportunity_id = path_id(request, "opportunity_id")
    return await change_opportunity(
        request, opportunity_id, lambda service, who: service.assign(opportunity_id, data, who)
    )


@api.route(
    "POST",
    "/opportunities/{opportunity_id}/steps",
    summary="Plan a development step (its date and what is to be done)",
    access="opportunities.write",
    body=PlanStepInput,
    status=201,
    tag="opportunities",
)
async def api_plan_step(request: web.Request, data: PlanStepInput) -> object:
    opportunity_id = path_id(request, "opportunity_id")
    return await change_opportunity(
        request, opportunity_id, lambda service, who: service.add_step(opportunity_id, data, who)
    )


@api.route(
    "POST",
    "/opportunities/{opportunity_id}/steps/{step_id}/result",
    summary="Record a step's result (the first one: the development has begun)",
    access="opportunities.write",
    body=StepResultInput,
    tag="opportunities",
)
async def api_step_result(request: web.Request, data: StepResultInput) -> object:
    opportunity_id = path_id(request, "opportunity_id")
    step_id = path_id(request, "step_id")
    return await change_opportunity(
        request,
        opportunity_id,
        lambda service, who: service.record_result(opportunity_id, step_id, data, who),
    )


@api.route(
    "POST",
    "/opportunities/{opportunity_id}/close",
    summary=(
        "Close: won (creates the customer, with the contact and number; customer_id), lost "
        "or terminated (with a reason)"
    ),
    access="opportunities.write",
    body=CloseInput,
    tag="opportunities",
)
async def api_close(request: web.Request, data: CloseInput) -> object:
    opportunity_id = path_id(request, "opportunity_id")
    return await change_opportunity(
        request, opportunity_id, lambda service, who: service.close(opportunity_id, data, who)
    )
