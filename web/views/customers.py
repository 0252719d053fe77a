"""Customers: the full card with history, the new-customer form the pop links to (prefilled
with the caller's number; saving it links the call), and their API twins."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import StringConstraints
from sqlalchemy import select

from crm_core.cards import customer_card, lookup_caller
from crm_core.customers import CustomerService
from crm_core.errors import DomainError, NotFound
from crm_core.interactions import customer_history, interaction_json, link_call
from crm_core.models import CallRecord
from crm_core.schemas import CustomerCreate
from crm_core.uow import UnitOfWork
from desk import notifications as note
from web.access import requires
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key, notifier_key, settings_key
from web.inputs import BadInput, form_problem, form_values, read_form, validate
from web.principal import actor, require_principal
from web.render import render

routes = web.RouteTableDef()
api = ApiRoutes()
CallId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


class CustomerForCall(CustomerCreate):
    call_id: CallId | None = None  # the call this customer was created from (the pop's form)


def _customer_id(request: web.Request) -> int:
    value = request.match_info["customer_id"]
    if not value.isdigit() or len(value) > 18:
        raise NotFound(f"no customer {value[:20]!r}")
    return int(value)


async def create_customer(request: web.Request, data: CustomerForCall) -> dict[str, Any]:
    """Create the customer and, when made from a call, link that call. Returns the card."""
    who = require_principal(request)
    settings = request.app[settings_key]
    async with UnitOfWork(request.app[db_key]) as uow:
        db = uow.session
        service = CustomerService(db, clock=request.app[clock_key], region=settings.default_region)
        customer = await service.create(data, actor(request))
        if data.call_id:
            await link_call(db, data.call_id, customer.id, who.user_id)
        await uow.commit()
        card = await customer_card(db, customer.id)
    assert card is not None
    if data.call_id:  # the agent's desk shows the new customer on that call's card
        notifier = request.app[notifier_key]
        await notifier.publish(note.CustomerLinked(call_id=data.call_id, card=card))
        message = note.CallCustomer(call_id=data.call_id, card=card)
        await notifier.publish(note.ToAgent.of(who.user_id, message))
    return card


async def _customer_view(request: web.Request, customer_id: int) -> dict[str, Any]:
    async with request.app[db_key]() as db:
        card = await customer_card(db, customer_id)
        if card is None:
            raise NotFound(f"no customer {customer_id}")
        history = [interaction_json(i) for i in await customer_history(db, customer_id)]
        calls = await db.scalars(
            select(CallRecord)
            .where(CallRecord.customer_id == customer_id)
            .order_by(CallRecord.ended_at.desc())
            .limit(50)
        )
        call_rows = [
            {
                "call_id": c.linked_id,
                "direction": c.direction,
                "outcome": c.outcome,
                "queue": c.queue,
                "ended_at": c.ended_at.isoformat(),
                "talk_seconds": c.talk_seconds,
                "disposition": c.disposition,
            }
            for c in calls
        ]
    return {"card": card, "history": history, "calls": call_rows}


PAGE_SIZE = 50


@routes.get("/customers")
@requires("customers.read")
async def customers_page(request: web.Request) -> web.Response:
    """Find a customer by the start of their name, a number in any form, or an account."""
    query = request.query.get("q", "")[:100]
    page = request.query.get("page", "1")
    number = int(page) if page.isdigit() and 0 < len(page) < 6 else 1
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        service = CustomerService(db, clock=request.app[clock_key], region=settings.default_region)
        found = await service.search(query, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE)
    return render(
        request,
        "customers.html",
        {
            "query": query,
            "customers": found[:PAGE_SIZE],
            "page": number,
            "more": len(found) > PAGE_SIZE,
        },
    )


@routes.get("/customers/new")
@requires("customers.write")
async def new_customer_page(request: web.Request) -> web.Response:
    values = {
        "name": "",
        "number": request.query.get("number", "")[:64],
        "call_id": request.query.get("call_id", "")[:64],
    }
    return render(request, "customer_new.html", {"values": values, "fields": {}, "error": ""})


@routes.post("/customers/new")
@requires("customers.write")
async def new_customer_submit(request: web.Request) -> web.Response:
    values = form_values(await read_form(request))
    given: dict[str, Any] = {"name": values.get("name", "")}
    if values.get("number"):
        given["numbers"] = [{"number": values["number"], "label": "main"}]
    if values.get("account_number"):
        given["account_number"] = values["account_number"]
    if values.get("call_id"):
        given["call_id"] = values["call_id"]
    try:
        card = await create_customer(request, validate(CustomerForCall, given))
    except DomainError as exc:
        status, error, fields = form_problem(exc)
        return render(
            request,
            "customer_new.html",
            {"values": values, "fields": fields, "error": error},
            status=status,
        )
    raise web.HTTPSeeOther(f"/customers/{card['id']}?saved=1")


@routes.get("/customers/{customer_id}")
@requires("customers.read")
async def customer_page(request: web.Request) -> web.Response:
    # A missing customer is a NotFound: the middleware shows the error page.
    view = await _customer_view(request, _customer_id(request))
    return render(request, "customer.html", {**view, "saved": request.query.get("saved") == "1"})


@api.route(
    "GET",
    "/customers/{customer_id}",
    summary="A customer's card, history and calls",
    access="customers.read",
    tag="customers",
)
async def get_customer(request: web.Request) -> object:
    return await _customer_view(request, _customer_id(request))


@api.route(
    "GET",
    "/customers",
    summary="Find customers by a phone number (any form)",
    access="customers.read",
    tag="customers",
)
async def find_customers(request: web.Request) -> object:
    number = request.query.get("number", "")
    if not number or len(number) > 64:
        raise BadInput("give ?number= (up to 64 characters)", {"number": "required"})
    async with request.app[db_key]() as db:
        found = await lookup_caller(
            db,
            caller_number=number,
            restricted=False,
            variables={},
            region=request.app[settings_key].default_region,
        )
    return found.as_dict()


@api.route(
    "POST",
    "/customers",
    summary="Create a customer (from a call: links the call)",
    access="customers.write",
    body=CustomerForCall,
    status=201,
    tag="customers",
)
async def post_customer(request: web.Request, data: CustomerForCall) -> object:
    return await create_customer(request, data)
