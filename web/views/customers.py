"""Customers: the full card with history, the new-customer form the pop links to (prefilled
with the caller's number; saving it links the call), and their API twins."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import StringConstraints
from sqlalchemy import select

from crm_core.card_access import card_for, lookup_for
from crm_core.cards import customer_card, lookup_caller
from crm_core.clock import Clock
from crm_core.customer_changes import CustomerChanges
from crm_core.customer_timeline import customer_timeline
from crm_core.customers import CustomerFilters, CustomerService
from crm_core.dictionary import DictionaryService
from crm_core.errors import DomainError, NotFound
from crm_core.interactions import customer_history, interaction_json, link_call
from crm_core.models import CallRecord, Customer, User
from crm_core.schemas import CustomerCreate, CustomerMerge, CustomerUpdate, NoteInput, Reason
from crm_core.uow import UnitOfWork
from desk import notifications as note
from web.access import requires
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key, desk_key, notifier_key, settings_key
from web.inputs import BadInput, form_problem, form_values, path_id, read_form, validate
from web.listing import EXPORT_LIMIT, export_response, requested_export
from web.principal import actor, require_principal
from web.render import render

routes = web.RouteTableDef()
api = ApiRoutes()
CallId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


class CustomerForCall(CustomerCreate):
    call_id: CallId | None = None  # the call this customer was created from (the pop's form)


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
        permissions = require_principal(request).permissions
        more = await customer_timeline(db, customer_id, permissions)
    return {"card": card_for(card, permissions), "history": history, "calls": call_rows, **more}


PAGE_SIZE = 50


@routes.get("/customers")
@requires("customers.read")
async def customers_page(request: web.Request) -> web.Response:
    """Find a customer by the start of their name, a number in any form, or an account."""
    query, filters, page = _search_terms(request)
    if (kind := requested_export(request)) is not None:
        async with request.app[db_key]() as db:
            service = CustomerService(
                db, clock=request.app[clock_key], region=request.app[settings_key].default_region
            )
            every = await service.search(query, filters=filters, limit=EXPORT_LIMIT)
            rows = [{**_row(c), "numbers": "; ".join(n.e164 for n in c.numbers)} for c in every]
        return await export_response(rows, kind, "customers")
    found = await _search(request, query, filters, page)
    async with request.app[db_key]() as db:
        choices = await _choices(db, request.app[clock_key])
    return render(
        request,
        "customers.html",
        {
            "query": query,
            "filters": filters,
            "customers": found[:PAGE_SIZE],
            "page": page,
            "more": len(found) > PAGE_SIZE,
            "terms": urlencode({k: v for k, v in request.query.items() if k != "page"}),
            "deleted": request.query.get("deleted") == "1",
            **choices,
        },
    )


def _search_terms(request: web.Request) -> tuple[str, CustomerFilters, int]:
    """The search box, the filters and the page of a customer list; bad values are refused."""
    q = request.query
    page_text = q.get("page", "1")
    if not (page_text.isdigit() and 0 < len(page_text) < 6 and int(page_text) > 0):
        raise BadInput("page: a number from 1", {"page": "a number from 1"})
    manager = q.get("account_manager_id") or None
    if manager is not None and not (manager.isdigit() and len(manager) < 18):
        raise BadInput("account_manager_id: a user id", {"account_manager_id": "a user id"})
    churn = q.get("churn") or None
    if churn not in (None, "yes", "no"):
        raise BadInput("churn: yes or no", {"churn": "yes or no"})
    filters = CustomerFilters(
        company=(q.get("company") or "")[:200] or None,
        region=(q.get("region") or "")[:64] or None,
        level=(q.get("level") or "")[:64] or None,
        account_manager_id=int(manager) if manager else None,
        churn=None if churn is None else churn == "yes",
    )
    return q.get("q", "")[:100], filters, int(page_text)


async def _search(
    request: web.Request, query: str, filters: CustomerFilters, page: int
) -> list[Customer]:
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        service = CustomerService(db, clock=request.app[clock_key], region=settings.default_region)
        return await service.search(
            query, filters=filters, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
        )


def _row(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "company": customer.company,
        "account_number": customer.account_number,
        "level": customer.level,
        "region": customer.region,
        "account_manager_id": customer.account_manager_id,
        "churn_flag": customer.churn_flag,
        "numbers": [n.e164 for n in customer.numbers],
    }


async def _choices(db: Any, clock: Clock) -> dict[str, Any]:
    """What the filter and edit forms offer: dictionary levels and regions, account managers."""
    dictionary = DictionaryService(db, clock=clock)
    managers = await db.execute(
        select(User.id, User.display_name)
        .where(User.is_active.is_(True))
        .order_by(User.display_name)
        .limit(500)
    )
    return {
        "levels": [
            (e.code, e.label) for e in await dictionary.entries("customer_level", active_only=True)
        ],
        "regions": [
            (e.code, e.label) for e in await dictionary.entries("region", active_only=True)
        ],
        "managers": [(row[0], row[1]) for row in managers],
    }


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
    view = await _customer_view(request, path_id(request, "customer_id"))
    return render(request, "customer.html", {**view, "saved": request.query.get("saved") == "1"})


@api.route(
    "GET",
    "/customers/{customer_id}",
    summary="A customer's card, history and calls",
    access="customers.read",
    tag="customers",
)
async def get_customer(request: web.Request) -> object:
    return await _customer_view(request, path_id(request, "customer_id"))


@api.route(
    "GET",
    "/customers",
    summary="Find customers: ?number= (any form, as the pop does), or ?q= (name start, "
    "number, account) with filters company, region, level, account_manager_id, churn, page",
    access="customers.read",
    tag="customers",
)
async def find_customers(request: web.Request) -> object:
    number = request.query.get("number")
    if number is None:
        query, filters, page = _search_terms(request)
        found = await _search(request, query, filters, page)
        return {
            "customers": [_row(c) for c in found[:PAGE_SIZE]],
            "page": page,
            "more": len(found) > PAGE_SIZE,
        }
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
    return lookup_for(found.as_dict(), require_principal(request).permissions)


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


def _changes(request: web.Request, db: Any) -> CustomerChanges:
    region = request.app[settings_key].default_region
    return CustomerChanges(db, clock=request.app[clock_key], region=region)


async def update_customer(
    request: web.Request, customer_id: int, data: CustomerUpdate
) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        await _changes(request, uow.session).update(customer_id, data, actor(request))
        await uow.commit()
        card = await customer_card(uow.session, customer_id)
    assert card is not None
    return card


async def delete_customer(request: web.Request, customer_id: int, reason: str) -> None:
    async with UnitOfWork(request.app[db_key]) as uow:
        await _changes(request, uow.session).delete(customer_id, reason, actor(request))
        await uow.commit()


async def merge_customers(request: web.Request, keep_id: int, data: CustomerMerge) -> int:
    async with UnitOfWork(request.app[db_key]) as uow:
        kept = await _changes(request, uow.session).merge(
            keep_id, data.duplicate_id, data.reason, actor(request)
        )
        await uow.commit()
        return kept.id


async def add_note(request: web.Request, customer_id: int, notes: str) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        item = await _changes(request, uow.session).add_note(customer_id, notes, actor(request))
        await uow.commit()
        return interaction_json(item)


@api.route(
    "PATCH",
    "/customers/{customer_id}",
    summary="Edit a customer: only the fields given change; a list given replaces the list",
    access="customers.write",
    body=CustomerUpdate,
    tag="customers",
)
async def patch_customer(request: web.Request, data: CustomerUpdate) -> object:
    return await update_customer(request, path_id(request, "customer_id"), data)


@api.route(
    "POST",
    "/customers/{customer_id}/delete",
    summary="Delete a customer nothing hangs on, with the reason",
    access="customers.write",
    body=Reason,
    tag="customers",
)
async def post_delete_customer(request: web.Request, data: Reason) -> object:
    customer_id = path_id(request, "customer_id")
    await delete_customer(request, customer_id, data.reason)
    return {"deleted": customer_id}


@api.route(
    "POST",
    "/customers/{customer_id}/merge",
    summary="Merge a duplicate into this customer: numbers, contacts and history move",
    access="customers.write",
    body=CustomerMerge,
    tag="customers",
)
async def post_merge_customers(request: web.Request, data: CustomerMerge) -> object:
    kept = await merge_customers(request, path_id(request, "customer_id"), data)
    async with request.app[db_key]() as db:
        return await customer_card(db, kept)


@api.route(
    "POST",
    "/customers/{customer_id}/notes",
    summary="A note on the customer written outside a call",
    access="customers.write",
    body=NoteInput,
    status=201,
    tag="customers",
)
async def post_note(request: web.Request, data: NoteInput) -> object:
    return await add_note(request, path_id(request, "customer_id"), data.notes)


# ---------------------------------------------------------------- pages


@routes.get("/customers/{customer_id}/edit")
@requires("customers.write")
async def edit_customer_page(request: web.Request) -> web.Response:
    customer_id = path_id(request, "customer_id")
    async with request.app[db_key]() as db:
        customer = await db.get(Customer, customer_id)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        values = _form_of(customer)
        choices = await _choices(db, request.app[clock_key])
    return render(
        request,
        "customer_edit.html",
        {"id": customer_id, "values": values, "fields": {}, "error": "", **choices},
    )


@routes.post("/customers/{customer_id}/edit")
@requires("customers.write")
async def edit_customer_submit(request: web.Request) -> web.Response:
    customer_id = path_id(request, "customer_id")
    values = form_values(await read_form(request))
    try:
        await update_customer(request, customer_id, validate(CustomerUpdate, _update_of(values)))
    except DomainError as exc:
        status, error, fields = form_problem(exc)
        async with request.app[db_key]() as db:
            choices = await _choices(db, request.app[clock_key])
        context = {"id": customer_id, "values": values, "fields": fields, "error": error}
        return render(request, "customer_edit.html", {**context, **choices}, status=status)
    raise web.HTTPSeeOther(f"/customers/{customer_id}?saved=1")


@routes.post("/customers/{customer_id}/notes")
@requires("customers.write")
async def note_submit(request: web.Request) -> web.Response:
    customer_id = path_id(request, "customer_id")
    values = form_values(await read_form(request))
    try:
        data = validate(NoteInput, {"notes": values.get("notes", "")})
        await add_note(request, customer_id, data.notes)
    except DomainError as exc:
        return await _page_with_problem(request, customer_id, exc, "note_error")
    raise web.HTTPSeeOther(f"/customers/{customer_id}#history")


@routes.post("/customers/{customer_id}/delete")
@requires("customers.write")
async def delete_submit(request: web.Request) -> web.Response:
    customer_id = path_id(request, "customer_id")
    values = form_values(await read_form(request))
    try:
        data = validate(Reason, {"reason": values.get("reason", "")})
        await delete_customer(request, customer_id, data.reason)
    except DomainError as exc:
        return await _page_with_problem(request, customer_id, exc, "admin_error")
    raise web.HTTPSeeOther("/customers?deleted=1")


@routes.post("/customers/{customer_id}/merge")
@requires("customers.write")
async def merge_submit(request: web.Request) -> web.Response:
    customer_id = path_id(request, "customer_id")
    values = form_values(await read_form(request))
    duplicate = values.get("duplicate_id", "")
    try:
        given = {
            "duplicate_id": int(duplicate) if duplicate.isdigit() and len(duplicate) < 18 else 0,
            "reason": values.get("reason", ""),
        }
        await merge_customers(request, customer_id, validate(CustomerMerge, given))
    except DomainError as exc:
        return await _page_with_problem(request, customer_id, exc, "admin_error")
    raise web.HTTPSeeOther(f"/customers/{customer_id}?saved=1")


async def _page_with_problem(
    request: web.Request, customer_id: int, problem: DomainError, slot: str
) -> web.Response:
    """The customer page again, the refusal shown in ``slot`` (note_error or admin_error),
    with the status the refusal has (422 bad input, 404 no such customer, 409 a conflict)."""
    status, error, _ = form_problem(problem)
    view = await _customer_view(request, customer_id)
    return render(request, "customer.html", {**view, "saved": False, slot: error}, status=status)


@routes.post("/customers/{customer_id}/call")
@requires("calls.handle")
async def call_submit(request: web.Request) -> web.Response:
    """Click-to-call from the customer page: the agent's phone rings, then the number; the
    call shows on the agent desktop."""
    customer_id = path_id(request, "customer_id")
    values = form_values(await read_form(request))
    who = require_principal(request)
    await request.app[desk_key].dial(
        who.user_id, values.get("number", "")[:64], customer_id, permissions=who.permissions
    )
    raise web.HTTPSeeOther("/agent")


def _form_of(customer: Customer) -> dict[str, str]:
    """The edit form's fields: lists as one line per item."""
    address = customer.addresses[0] if customer.addresses else None
    return {
        "name": customer.name,
        "account_number": customer.account_number or "",
        "company": customer.company,
        "level": customer.level or "",
        "region": customer.region or "",
        "account_manager_id": str(customer.account_manager_id or ""),
        "numbers": "\n".join(
            f"{n.raw} {n.label}".strip() for n in customer.numbers if n.contact_id is None
        ),
        "contacts": "\n".join(
            "; ".join([c.name, c.title or "", c.email or "", ", ".join(n.raw for n in c.numbers)])
            for c in customer.contacts
        ),
        "street": address.street if address else "",
        "city": address.city if address else "",
        "postcode": address.postcode if address else "",
        "country": address.country if address else "",
    }


def _update_of(values: dict[str, str]) -> dict[str, Any]:
    """The edit form as a CustomerUpdate: numbers one per line (a label may follow), contacts one
    per line ("name; title; e-mail; number, number"), one address."""
    numbers = []
    for line in values.get("numbers", "").splitlines():
        words = line.split()
        if words:
            # The label is a last word without digits: "+1 555 000 4444 mobile".
            label = (
                words.pop() if len(words) > 1 and not any(c.isdigit() for c in words[-1]) else ""
            )
            numbers.append({"number": " ".join(words), "label": label})
    contacts = []
    for line in values.get("contacts", "").splitlines():
        if not line.strip():
            continue
        name, title, email, phones = ([*line.split(";"), "", "", ""])[:4]
        contacts.append(
            {
                "name": name.strip(),
                "title": title.strip() or None,
                "email": email.strip() or None,
                "numbers": [{"number": p.strip()} for p in phones.split(",") if p.strip()],
            }
        )
    address = {k: values.get(k, "") for k in ("street", "city", "postcode")}
    country = values.get("country", "").strip()
    manager = values.get("account_manager_id", "")
    return {
        "name": values.get("name", ""),
        "account_number": values.get("account_number") or None,
        "company": values.get("company", ""),
        "level": values.get("level") or None,
        "region": values.get("region") or None,
        "account_manager_id": int(manager) if manager.isdigit() and len(manager) < 18 else None,
        "numbers": numbers,
        "contacts": contacts,
        "addresses": [{**address, "country": country or None}]
        if any(address.values()) or country
        else [],
    }
