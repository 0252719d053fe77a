"""Orders: the list with its filters, an order's page (lines, totals, history, the buttons of
the moves its status allows), the new-order and edit forms (from a customer's page, or during a
call: the order keeps the call), and their API twins."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from crm_core.errors import DomainError, NotFound
from crm_core.orders import (
    ACTIONS,
    AWAITING_CONFIRMATION,
    STATUSES,
    OrderCreate,
    OrderFilter,
    OrderService,
    OrderUpdate,
    TransitionInput,
    customer_brief,
)
from crm_core.products import ProductFilter, ProductService, product_json
from crm_core.uow import UnitOfWork
from web.access import requires
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key
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
FILTERS = tuple(OrderFilter.model_fields)
LINE_FIELD = re.compile(r"^lines\.(\d{1,3})\.(product_id|quantity|unit_price)$")
FORM_ROWS = 5  # empty line rows a form offers beyond the order's own
CHOICES_LIMIT = 1000  # products offered in a form's pick list


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[db_key])


def _service(request: web.Request, uow: UnitOfWork) -> OrderService:
    return OrderService(uow.session, clock=request.app[clock_key])


def _may_set_price(request: web.Request) -> bool:
    """A line's price other than the product's: orders.write (the route's) and products.manage."""
    return require_principal(request).can("products.manage")


# The operations the pages and the API share: each one unit of work, committed once.


async def find_orders(request: web.Request, wanted: OrderFilter, paging: Paging) -> dict[str, Any]:
    async with _uow(request) as uow:
        rows = await _service(request, uow).search(wanted, limit=paging.limit, offset=paging.offset)
    return paging.page_of([row.as_dict() for row in rows])


async def order_view(request: web.Request, order_id: int) -> dict[str, Any]:
    async with _uow(request) as uow:
        return await _service(request, uow).detail(order_id)


async def create_order(
    request: web.Request, data: OrderCreate, *, submit: bool = False
) -> dict[str, Any]:
    """Create the order (a draft; ``submit``: and put it up for confirmation at once)."""
    async with _uow(request) as uow:
        service = _service(request, uow)
        order = await service.create(data, actor(request), may_set_price=_may_set_price(request))
        if submit:
            await service.transition(order.id, AWAITING_CONFIRMATION, actor(request))
        await uow.commit()
        return await service.detail(order.id)


async def update_order(request: web.Request, order_id: int, data: OrderUpdate) -> dict[str, Any]:
    async with _uow(request) as uow:
        service = _service(request, uow)
        await service.update(order_id, data, actor(request), may_set_price=_may_set_price(request))
        await uow.commit()
        return await service.detail(order_id)


async def move_order(request: web.Request, order_id: int, data: TransitionInput) -> dict[str, Any]:
    async with _uow(request) as uow:
        service = _service(request, uow)
        await service.transition(order_id, data.to, actor(request), note=data.note)
        await uow.commit()
        return await service.detail(order_id)


# Pages.


@routes.get("/orders")
@requires("orders.read")
async def orders_page(request: web.Request) -> web.Response:
    if (kind := requested_export(request)) is not None:
        wanted, _ = read_query(request, OrderFilter, lists=("status",))
        found = await find_orders(request, wanted, export_paging())
        return await export_response(found["items"], kind, "orders")
    values = query_values(request.query, (*FILTERS, "page"), lists=("status",))
    error, fields, status = "", {}, 200
    found: dict[str, Any] = {"items": [], "page": 1, "more": False}
    try:
        wanted, paging = read_query(request, OrderFilter, lists=("status",))
        found = await find_orders(request, wanted, paging)
    except DomainError as exc:
        status, error, fields = form_problem(exc)
    async with _uow(request) as uow:
        agents = await _service(request, uow).agents()
    return render(
        request,
        "orders.html",
        {
            "values": values,
            "found": found,
            "statuses": STATUSES,
            "agents": agents,
            "products": await _product_choices(request, active_only=False),
            "customer": await _customer(request, values.get("customer_id", "")),
            "error": error,
            "fields": fields,
        },
        status=status,
    )


async def _customer(request: web.Request, customer_id: Any) -> dict[str, Any] | None:
    """The customer a form or a filter names (by a valid id), for its heading."""
    if not str(customer_id).isdigit() or len(str(customer_id)) > 18:
        return None
    async with _uow(request) as uow:
        return await customer_brief(uow.session, int(customer_id))


async def _product_choices(
    request: web.Request, *, active_only: bool = True
) -> list[dict[str, Any]]:
    async with _uow(request) as uow:
        found = await ProductService(uow.session, clock=request.app[clock_key]).search(
            ProductFilter(active=True if active_only else None), limit=CHOICES_LIMIT
        )
    return [product_json(p) for p in found]


async def _order_form(
    request: web.Request,
    *,
    order: dict[str, Any] | None,
    customer: dict[str, Any] | None,
    values: dict[str, Any],
    rows: list[dict[str, str]],
    problem: DomainError | None = None,
) -> web.Response:
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    return render(
        request,
        "orders_form.html",
        {
            "order": order,
            "customer": customer,
            "values": values,
            "rows": rows + [{} for _ in range(FORM_ROWS)],
            "products": await _product_choices(request),
            "may_set_price": _may_set_price(request),
            "error": error,
            "fields": fields,
        },
        status=status,
    )


def _rows_of(values: dict[str, Any]) -> list[dict[str, str]]:
    """The form's line rows that were filled in, in order; blank rows are skipped (the form is
    shown again with these rows first, so an error about ``lines.0`` is on the first one)."""
    rows: dict[int, dict[str, str]] = {}
    for key, value in values.items():
        if (match := LINE_FIELD.match(key)) and str(value).strip():
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = str(value).strip()
    return [rows[n] for n in sorted(rows)]


@routes.get("/orders/new")
@requires("orders.write")
async def new_order_page(request: web.Request) -> web.Response:
    values = query_values(request.query, ("customer_id", "call_id"))
    customer = await _customer(request, values.get("customer_id", ""))
    return await _order_form(request, order=None, customer=customer, values=values, rows=[])


@routes.post("/orders/new")
@requires("orders.write")
async def new_order_submit(request: web.Request) -> web.Response:
    values = form_values(await read_form(request))
    rows = _rows_of(values)
    given: dict[str, Any] = {
        "customer_id": values.get("customer_id", ""),
        "lines": rows,
        "notes": values.get("notes", ""),
    }
    if values.get("call_id"):
        given["call_id"] = values["call_id"]
    try:
        made = await create_order(
            request, validate(OrderCreate, given), submit=values.get("then") == "submit"
        )
    except DomainError as exc:
        return await _order_form(
            request,
            order=None,
            customer=await _customer(request, given["customer_id"]),
            values=values,
            rows=rows,
            problem=exc,
        )
    raise web.HTTPSeeOther(f"/orders/{made['id']}?saved=1")


@routes.get("/orders/{order_id}")
@requires("orders.read")
async def order_page(request: web.Request) -> web.Response:
    return await _order_page(request, path_id(request, "order_id"))


async def _order_page(
    request: web.Request, order_id: int, *, problem: DomainError | None = None
) -> web.Response:
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    return render(
        request,
        "orders_detail.html",
        {
            "order": await order_view(request, order_id),
            "actions": ACTIONS,
            "error": error,
            "fields": fields,
            "saved": problem is None and request.query.get("saved", ""),
        },
        status=status,
    )


@routes.post("/orders/{order_id}/transitions")
@requires("orders.write")
async def transition_submit(request: web.Request) -> web.Response:
    order_id = path_id(request, "order_id")
    values = form_values(await read_form(request))
    try:
        await move_order(request, order_id, validate(TransitionInput, values))
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _order_page(request, order_id, problem=exc)
    raise web.HTTPSeeOther(f"/orders/{order_id}?saved=moved")


@routes.get("/orders/{order_id}/edit")
@requires("orders.write")
async def edit_order_page(request: web.Request) -> web.Response:
    order = await order_view(request, path_id(request, "order_id"))
    rows = [
        {
            "product_id": str(line["product_id"]),
            "quantity": str(line["quantity"]),
            "unit_price": line["unit_price"],
        }
        for line in order["lines"]
    ]
    return await _order_form(
        request, order=order, customer=order["customer"], values=order, rows=rows
    )


@routes.post("/orders/{order_id}/edit")
@requires("orders.write")
async def edit_order_submit(request: web.Request) -> web.Response:
    order_id = path_id(request, "order_id")
    values = form_values(await read_form(request))
    rows = _rows_of(values)
    if not _may_set_price(request):
        # The form shows no price to those who may not set one: each line takes the product's
        # price (or keeps the one it had).
        for row in rows:
            row.pop("unit_price", None)
    given = {"lines": rows, "notes": values.get("notes", "")}
    try:
        await update_order(request, order_id, validate(OrderUpdate, given))
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        order = await order_view(request, order_id)
        return await _order_form(
            request,
            order=order,
            customer=order["customer"],
            values=values,
            rows=rows,
            problem=exc,
        )
    raise web.HTTPSeeOther(f"/orders/{order_id}?saved=1")


# The API.


@api.route(
    "GET",
    "/orders",
    summary=(
        "Find orders: customer_id, created_by (the agent), status (repeat or comma-separate), "
        "placed_from, placed_to (UTC days), product_id; page, per_page; newest first"
    ),
    access="orders.read",
    tag="orders",
)
async def api_orders(request: web.Request) -> object:
    wanted, paging = read_query(request, OrderFilter, lists=("status",))
    return await find_orders(request, wanted, paging)


@api.route(
    "POST",
    "/orders",
    summary="Create an order (a draft) with its lines; call_id: the call it was taken during",
    access="orders.write",
    body=OrderCreate,
    status=201,
    tag="orders",
)
async def api_create_order(request: web.Request, data: OrderCreate) -> object:
    return await create_order(request, data)


@api.route(
    "GET",
    "/orders/{order_id}",
    summary="An order with its lines, totals, history and the moves it allows (next)",
    access="orders.read",
    tag="orders",
)
async def api_order(request: web.Request) -> object:
    return await order_view(request, path_id(request, "order_id"))


@api.route(
    "PATCH",
    "/orders/{order_id}",
    summary="Change a draft's or an awaiting order's lines, warehouse or notes",
    access="orders.write",
    body=OrderUpdate,
    tag="orders",
)
async def api_update_order(request: web.Request, data: OrderUpdate) -> object:
    return await update_order(request, path_id(request, "order_id"), data)


@api.route(
    "POST",
    "/orders/{order_id}/transitions",
    summary=(
        "Move an order on (to: awaiting_confirmation, confirmed, shipped, completed, "
        "cancelled); confirming takes the stock, cancelling a confirmed order returns it"
    ),
    access="orders.write",
    body=TransitionInput,
    tag="orders",
)
async def api_move_order(request: web.Request, data: TransitionInput) -> object:
    return await move_order(request, path_id(request, "order_id"), data)
