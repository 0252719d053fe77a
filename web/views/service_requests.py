"""Service requests: the queues (my requests, a department's, everyone's; overdue first and
flagged), a request's page with its history and the form of each step its status allows, the
new-request form on a customer, and their API twins under /api/v1/service-requests.

Reading needs ``service_requests.read``; opening and every step need
``service_requests.write``. A request shows its customer's name to whoever may read it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from crm_core.errors import DomainError, InvalidInput, NotFound
from crm_core.models import Customer, DictionaryEntry
from crm_core.schemas import Code
from crm_core.service_requests import (
    AssignInput,
    Channel,
    CloseInput,
    HandleInput,
    ReopenInput,
    RequestFilter,
    ServiceRequestOpen,
    ServiceRequestService,
    request_json,
    statuses_of,
)
from crm_core.uow import UnitOfWork
from web.access import requires
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key
from web.inputs import form_problem, form_values, read_form, validate
from web.listing import EXPORT_LIMIT, export_response, requested_export
from web.principal import actor, require_principal
from web.render import render

routes = web.RouteTableDef()
api = ApiRoutes()

STEP_INPUTS: dict[str, type[BaseModel]] = {
    "assign": AssignInput,
    "handle": HandleInput,
    "close": CloseInput,
    "reopen": ReopenInput,
}
VIEWS = ("mine", "department", "all")
# Kept when empty, so that the refusal names them (other empty form fields mean "not given").
REQUIRED_TEXT = frozenset({"subject", "handling", "reason"})


class RequestQuery(BaseModel):
    """The filters of a queue, from a query string (pages and API alike)."""

    model_config = ConfigDict(extra="ignore")

    customer_id: int | None = Field(default=None, ge=1, le=2**62)
    assignee: str | None = Field(
        default=None, pattern=r"^(me|[1-9][0-9]{0,17})$", description="me, or a user id"
    )
    department: Code | None = None
    service_type: Code | None = None
    status: str = Field(default="active", description="active (not closed), all, or a status")
    overdue: bool = False
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=50, ge=1, le=100)


def _labels(*entries: list[DictionaryEntry]) -> dict[str, dict[str, str]]:
    """Dictionary labels for the pages, by category then code."""
    return {group[0].category: {e.code: e.label for e in group} for group in entries if group}


def _record_id(request: web.Request, key: str, what: str) -> int:
    value = request.match_info[key]
    if not value.isdigit() or len(value) > 18:
        raise NotFound(f"no {what} {value[:20]!r}")
    return int(value)


def _query_values(request: web.Request) -> dict[str, str]:
    # Empty fields of a GET form mean "no filter".
    return {k: v[:100] for k, v in request.query.items() if v != ""}


def _assignee(given: str | None, user_id: int) -> int | None:
    if given is None:
        return None
    return user_id if given == "me" else int(given)


async def _filter(
    service: ServiceRequestService, query: RequestQuery, user_id: int
) -> RequestFilter:
    if query.department is not None:
        known = {e.code for e in await service.departments(active_only=False)}
        if query.department not in known:
            raise InvalidInput(f"no department {query.department!r}", field="department")
    if query.service_type is not None:
        known = {e.code for e in await service.types(active_only=False)}
        if query.service_type not in known:
            raise InvalidInput(f"no type {query.service_type!r}", field="service_type")
    return RequestFilter(
        customer_id=query.customer_id,
        assignee_id=_assignee(query.assignee, user_id),
        department=query.department,
        service_type=query.service_type,
        statuses=statuses_of(query.status),
        overdue_only=query.overdue,
    )


async def _detail(service: ServiceRequestService, request_id: int) -> dict[str, Any]:
    row = await service.get(request_id)
    item = request_json(row, service.clock())
    item["history"] = [e.as_dict() for e in await service.history(request_id)]
    return item


async def open_request(
    request: web.Request, data: ServiceRequestOpen, channel: Channel
) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        service = ServiceRequestService(uow.session, clock=request.app[clock_key])
        item = await service.open(data, actor(request), channel=channel)
        await uow.commit()
        return await _detail(service, item.id)


async def take_step(
    request: web.Request, request_id: int, step: str, data: BaseModel
) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        service = ServiceRequestService(uow.session, clock=request.app[clock_key])
        await getattr(service, step)(request_id, data, actor(request))
        await uow.commit()
        return await _detail(service, request_id)


# ------------------------------------------------------------------ API


@api.route(
    "GET",
    "/service-requests",
    summary="Service requests: by customer, assignee (me), department, type, status; "
    "overdue first; paginated",
    access="service_requests.read",
    tag="service requests",
)
async def list_requests(request: web.Request) -> object:
    query = validate(RequestQuery, _query_values(request))
    who = require_principal(request)
    async with request.app[db_key]() as db:
        service = ServiceRequestService(db, clock=request.app[clock_key])
        found = await service.search(
            await _filter(service, query, who.user_id), page=query.page, per_page=query.per_page
        )
        now = service.clock()
    return {
        "requests": [request_json(row, now) for row in found.rows],
        "total": found.total,
        "page": found.page,
        "per_page": found.per_page,
        "more": found.more,
    }


@api.route(
    "POST",
    "/service-requests",
    summary="Open a service request for a customer (from a call: give call_id)",
    access="service_requests.write",
    body=ServiceRequestOpen,
    status=201,
    tag="service requests",
)
async def post_request(request: web.Request, data: ServiceRequestOpen) -> object:
    return await open_request(request, data, "api")


@api.route(
    "GET",
    "/service-requests/{request_id}",
    summary="A service request with its history and the steps it can take next",
    access="service_requests.read",
    tag="service requests",
)
async def get_request(request: web.Request) -> object:
    request_id = _record_id(request, "request_id", "service request")
    async with request.app[db_key]() as db:
        return await _detail(ServiceRequestService(db, clock=request.app[clock_key]), request_id)


def _step_route(step: str, summary: str) -> None:
    model = STEP_INPUTS[step]

    async def handler(request: web.Request, data: BaseModel) -> object:
        return await take_step(
            request, _record_id(request, "request_id", "service request"), step, data
        )

    handler.__name__ = f"{step}_request"
    api.route(
        "POST",
        f"/service-requests/{{request_id}}/{step}",
        summary=summary,
        access="service_requests.write",
        body=model,
        tag="service requests",
    )(handler)


_step_route("assign", "Assign (or reassign) to a person, a department, or both")
_step_route("handle", "Record what was done")
_step_route("close", "Close with the customer's satisfaction (1–5) and comment")
_step_route("reopen", "Reopen a closed request the customer is not satisfied with")


# ------------------------------------------------------------------ pages


@routes.get("/service-requests")
@requires("service_requests.read")
async def queue_page(request: web.Request) -> web.Response:
    who = require_principal(request)
    values = _query_values(request)
    view = values.pop("view", "mine")
    view = view if view in VIEWS else "mine"
    values.pop("assignee", None)  # the view decides it
    status, error, fields = 200, "", {}
    async with request.app[db_key]() as db:
        service = ServiceRequestService(db, clock=request.app[clock_key])
        departments = await service.departments(active_only=False)
        types = await service.types(active_only=False)
        if view == "department" and "department" not in values and departments:
            values["department"] = departments[0].code
        if view == "mine":
            values["assignee"] = "me"
        elif view == "all":
            values.pop("department", None)
        try:
            query = validate(RequestQuery, values)
            if (kind := requested_export(request)) is not None:
                every = await service.search(
                    await _filter(service, query, who.user_id), page=1, per_page=EXPORT_LIMIT
                )
                now = service.clock()
                rows = [request_json(row, now) for row in every.rows]
                return await export_response(rows, kind, "service-requests")
            found = await service.search(
                await _filter(service, query, who.user_id), page=query.page, per_page=50
            )
        except DomainError as exc:
            status, error, fields = form_problem(exc)
            query = RequestQuery(page=1)
            found = None
        now = service.clock()
    return render(
        request,
        "service_requests.html",
        {
            "view": view,
            "values": values,
            "query": query,
            "departments": departments,
            "types": types,
            "labels": _labels(departments, types),
            "requests": [request_json(row, now) for row in found.rows] if found else [],
            "total": found.total if found else 0,
            "more": found.more if found else False,
            "error": error,
            "fields": fields,
        },
        status=status,
    )


async def _request_page(
    request: web.Request,
    request_id: int,
    *,
    problem: DomainError | None = None,
    step: str = "",
    values: dict[str, Any] | None = None,
) -> web.Response:
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    async with request.app[db_key]() as db:
        service = ServiceRequestService(db, clock=request.app[clock_key])
        item = await _detail(service, request_id)
        departments = await service.departments()
        labels = _labels(
            await service.departments(active_only=False), await service.types(active_only=False)
        )
        assignees = await service.assignees()
    return render(
        request,
        "service_request.html",
        {
            "item": item,
            "departments": departments,
            "labels": labels,
            "assignees": assignees,
            "error": error,
            "fields": fields,
            "failed_step": step,
            "values": values or {},
            "saved": "" if problem else request.query.get("saved", "")[:20],
        },
        status=status,
    )


@routes.get("/service-requests/{request_id}")
@requires("service_requests.read")
async def request_page(request: web.Request) -> web.Response:
    return await _request_page(request, _record_id(request, "request_id", "service request"))


def _form_input(values: dict[str, Any]) -> dict[str, Any]:
    # Empty optional fields of a form mean "not given".
    return {k: v for k, v in values.items() if v != "" or k in REQUIRED_TEXT}


@routes.post(r"/service-requests/{request_id}/{step:(assign|handle|close|reopen)}")
@requires("service_requests.write")
async def step_submit(request: web.Request) -> web.Response:
    request_id = _record_id(request, "request_id", "service request")
    step = request.match_info["step"]
    values = form_values(await read_form(request))
    try:
        data = validate(STEP_INPUTS[step], _form_input(values))
        await take_step(request, request_id, step, data)
    except DomainError as exc:
        if isinstance(exc, NotFound) and exc.field is None:
            raise
        return await _request_page(request, request_id, problem=exc, step=step, values=values)
    raise web.HTTPSeeOther(f"/service-requests/{request_id}?saved={step}")


async def _customer_name(request: web.Request, customer_id: int) -> str:
    async with request.app[db_key]() as db:
        name = await db.scalar(select(Customer.name).where(Customer.id == customer_id))
    if name is None:
        raise NotFound(f"no customer {customer_id}")
    return name


async def _new_page(
    request: web.Request,
    customer_id: int,
    values: dict[str, Any],
    *,
    problem: DomainError | None = None,
) -> web.Response:
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    name = await _customer_name(request, customer_id)
    async with request.app[db_key]() as db:
        service = ServiceRequestService(db, clock=request.app[clock_key])
        types = await service.types()
        departments = await service.departments()
        assignees = await service.assignees()
    return render(
        request,
        "service_request_new.html",
        {
            "customer": {"id": customer_id, "name": name},
            "types": types,
            "departments": departments,
            "assignees": assignees,
            "values": values,
            "error": error,
            "fields": fields,
        },
        status=status,
    )


@routes.get("/customers/{customer_id}/service-requests/new")
@requires("service_requests.write")
async def new_request_page(request: web.Request) -> web.Response:
    customer_id = _record_id(request, "customer_id", "customer")
    values = {"call_id": request.query.get("call_id", "")[:64]}
    return await _new_page(request, customer_id, values)


@routes.post("/customers/{customer_id}/service-requests/new")
@requires("service_requests.write")
async def new_request_submit(request: web.Request) -> web.Response:
    customer_id = _record_id(request, "customer_id", "customer")
    values = form_values(await read_form(request))
    given = {**_form_input(values), "customer_id": customer_id}
    try:
        item = await open_request(request, validate(ServiceRequestOpen, given), "page")
    except DomainError as exc:
        return await _new_page(request, customer_id, values, problem=exc)
    raise web.HTTPSeeOther(f"/service-requests/{item['id']}?saved=open")
