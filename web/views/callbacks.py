"""Personal callbacks: my callbacks page (due ones first and flagged, with done and cancel), the
schedule form for a customer on the same page (/callbacks?customer_id=…), and their API twins
under /api/v1/callbacks.

Permissions (decided here): seeing callbacks needs ``customers.read`` (a callback shows a
customer's name and number); scheduling one, marking it done or cancelling it needs
``calls.handle`` (agents call back) or ``customers.write`` (account managers promise calls),
both held only beside ``customers.read``. A callback is closed only by its owner or whoever
scheduled it (crm_core.callbacks)."""

from __future__ import annotations

import re
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from crm_core.callbacks import CallbackCreate, CallbackService
from crm_core.errors import DomainError, Forbidden, NotFound
from crm_core.models import Customer
from crm_core.uow import UnitOfWork
from web.access import allowed, any_of, requires
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key, settings_key
from web.inputs import form_problem, form_values, path_id, read_form, validate
from web.principal import Principal, actor, require_principal
from web.render import render

routes = web.RouteTableDef()
api = ApiRoutes()

SEE = "customers.read"
ACT = any_of("calls.handle", "customers.write")
# What a browser's datetime-local field sends: a time without a zone, taken as UTC here.
LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


class CallbackQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["scheduled", "done", "cancelled"] = "scheduled"
    due: bool = Field(default=False, description="Only those whose time has come")
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=50, ge=1, le=100)


def may_act(who: Principal) -> bool:
    return allowed(ACT, who.permissions)


def _service(request: web.Request, db: Any) -> CallbackService:
    region = request.app[settings_key].default_region
    return CallbackService(db, clock=request.app[clock_key], region=region)


async def schedule(request: web.Request, data: CallbackCreate) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        service = _service(request, uow.session)
        item = await service.schedule(data, actor(request))
        await uow.commit()
        return (await service.get(item.id)).as_dict(service.clock())


async def finish(request: web.Request, callback_id: int, outcome: str) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        service = _service(request, uow.session)
        if outcome == "done":
            await service.done(callback_id, actor(request))
        else:
            await service.cancel(callback_id, actor(request))
        await uow.commit()
        return (await service.get(callback_id)).as_dict(service.clock())


# ------------------------------------------------------------------ API


@api.route(
    "GET",
    "/callbacks",
    summary="My callbacks, the soonest due first (?due=1: those whose time has come)",
    access=SEE,
    tag="callbacks",
)
async def list_callbacks(request: web.Request) -> object:
    query = validate(CallbackQuery, dict(request.query))
    who = require_principal(request)
    async with request.app[db_key]() as db:
        service = _service(request, db)
        found = await service.of_owner(
            who.user_id,
            status=query.status,
            due_only=query.due,
            page=query.page,
            per_page=query.per_page,
        )
        now = service.clock()
    return {
        "callbacks": [row.as_dict(now) for row in found.rows],
        "total": found.total,
        "page": found.page,
        "per_page": found.per_page,
        "more": found.more,
    }


@api.route(
    "POST",
    "/callbacks",
    summary="Schedule a callback for a customer",
    access=ACT,
    body=CallbackCreate,
    status=201,
    tag="callbacks",
)
async def post_callback(request: web.Request, data: CallbackCreate) -> object:
    return await schedule(request, data)


@api.route(
    "POST",
    "/callbacks/{callback_id}/done",
    summary="Mark my callback done",
    access=ACT,
    tag="callbacks",
)
async def callback_done(request: web.Request) -> object:
    return await finish(request, path_id(request, "callback_id"), "done")


@api.route(
    "POST",
    "/callbacks/{callback_id}/cancel",
    summary="Cancel my callback",
    access=ACT,
    tag="callbacks",
)
async def callback_cancel(request: web.Request) -> object:
    return await finish(request, path_id(request, "callback_id"), "cancel")


# ------------------------------------------------------------------ pages


async def _customer(request: web.Request, customer_id: str) -> dict[str, Any] | None:
    if not customer_id:
        return None
    if not customer_id.isdigit() or len(customer_id) > 18:
        raise NotFound(f"no customer {customer_id[:20]!r}")
    async with request.app[db_key]() as db:
        name = await db.scalar(select(Customer.name).where(Customer.id == int(customer_id)))
        if name is None:
            raise NotFound(f"no customer {customer_id}")
        numbers = await _service(request, db).numbers_of(int(customer_id))
    return {
        "id": int(customer_id),
        "name": name,
        "numbers": [{"e164": n.e164, "raw": n.raw, "label": n.label} for n in numbers],
    }


async def _page(
    request: web.Request,
    *,
    customer_id: str = "",
    values: dict[str, Any] | None = None,
    problem: DomainError | None = None,
) -> web.Response:
    who = require_principal(request)
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    query = validate(CallbackQuery, {"status": request.query.get("status", "scheduled")[:20]})
    customer = await _customer(request, customer_id) if may_act(who) else None
    async with request.app[db_key]() as db:
        service = _service(request, db)
        page = request.query.get("page", "1")
        number = int(page) if page.isdigit() and 0 < len(page) < 6 else 1
        found = await service.of_owner(who.user_id, status=query.status, page=number)
        now = service.clock()
    return render(
        request,
        "callbacks.html",
        {
            "callbacks": [row.as_dict(now) for row in found.rows],
            "status_shown": query.status,
            "page": number,
            "more": found.more,
            "total": found.total,
            "customer": customer,
            "may_act": may_act(who),
            "values": values or {},
            "error": error,
            "fields": fields,
            "saved": "" if problem else request.query.get("saved", "")[:20],
        },
        status=status,
    )


@routes.get("/callbacks")
@requires(SEE)
async def callbacks_page(request: web.Request) -> web.Response:
    return await _page(
        request,
        customer_id=request.query.get("customer_id", "")[:20],
        values={"call_id": request.query.get("call_id", "")[:64]},
    )


def _form_input(values: dict[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in values.items() if v != ""}
    due = given.get("due_at")
    if isinstance(due, str) and LOCAL_TIME.match(due):
        given["due_at"] = due + "+00:00"
    return given


@routes.post("/callbacks")
@requires(ACT)
async def schedule_submit(request: web.Request) -> web.Response:
    values = form_values(await read_form(request))
    try:
        await schedule(request, validate(CallbackCreate, _form_input(values)))
    except DomainError as exc:
        return await _page(
            request, customer_id=values.get("customer_id", "")[:20], values=values, problem=exc
        )
    raise web.HTTPSeeOther("/callbacks?saved=scheduled")


@routes.post(r"/callbacks/{callback_id}/{outcome:(done|cancel)}")
@requires(ACT)
async def finish_submit(request: web.Request) -> web.Response:
    outcome = request.match_info["outcome"]
    try:
        await finish(request, path_id(request, "callback_id"), outcome)
    except DomainError as exc:
        if isinstance(exc, NotFound | Forbidden):
            raise
        return await _page(request, problem=exc)
    raise web.HTTPSeeOther(f"/callbacks?saved={'done' if outcome == 'done' else 'cancelled'}")
