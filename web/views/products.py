"""Products, warehouses and stock: the list and search, a product's page with its stock per
warehouse and its movements, the forms of those who manage products, and their API twins."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crm_core.errors import DomainError
from crm_core.products import (
    ProductCreate,
    ProductFilter,
    ProductService,
    ProductUpdate,
    StockMovementCreate,
    WarehouseCreate,
    WarehouseUpdate,
    product_json,
    stock_level,
    warehouse_json,
)
from crm_core.uow import UnitOfWork
from web.access import requires
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key
from web.inputs import form_problem, form_values, path_id, read_form, validate
from web.listing import (
    Paging,
    export_paging,
    export_response,
    read_paging,
    read_query,
    requested_export,
)
from web.principal import actor
from web.render import render

routes = web.RouteTableDef()
api = ApiRoutes()
MOVEMENTS_SHOWN = 50


def _service(request: web.Request, uow: UnitOfWork) -> ProductService:
    return ProductService(uow.session, clock=request.app[clock_key])


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[db_key])


# The operations the pages and the API share: each one unit of work, committed once.


async def find_products(
    request: web.Request, wanted: ProductFilter, paging: Paging
) -> dict[str, Any]:
    async with _uow(request) as uow:
        service = _service(request, uow)
        found = await service.search(wanted, limit=paging.limit, offset=paging.offset)
        totals = await service.stock_totals([p.id for p in found])
    return paging.page_of([{**product_json(p), "stock": totals.get(p.id, 0)} for p in found])


async def product_view(request: web.Request, product_id: int) -> dict[str, Any]:
    async with _uow(request) as uow:
        service = _service(request, uow)
        product = await service.get(product_id)
        stock = await service.stock(product_id)
        movements = await service.movements(product_id, limit=MOVEMENTS_SHOWN)
    return {
        **product_json(product),
        "stock": sum(row.quantity for row in stock),
        "warehouses": [row.as_dict() for row in stock],
        "movements": [row.as_dict() for row in movements],
    }


async def create_product(request: web.Request, data: ProductCreate) -> dict[str, Any]:
    async with _uow(request) as uow:
        product = await _service(request, uow).create(data, actor(request))
        await uow.commit()
    return product_json(product)


async def update_product(
    request: web.Request, product_id: int, data: ProductUpdate
) -> dict[str, Any]:
    async with _uow(request) as uow:
        product = await _service(request, uow).update(product_id, data, actor(request))
        await uow.commit()
    return product_json(product)


async def move_stock(
    request: web.Request, product_id: int, data: StockMovementCreate
) -> dict[str, Any]:
    async with _uow(request) as uow:
        service = _service(request, uow)
        movement = await service.move(product_id, data, actor(request))
        await uow.commit()
        row = await service.movement(movement.id)
        level = await stock_level(uow.session, product_id, data.warehouse_id)
    return {**row.as_dict(), "level": level}


async def list_warehouses(request: web.Request) -> list[dict[str, Any]]:
    async with _uow(request) as uow:
        return [warehouse_json(w) for w in await _service(request, uow).warehouses()]


async def create_warehouse(request: web.Request, data: WarehouseCreate) -> dict[str, Any]:
    async with _uow(request) as uow:
        warehouse = await _service(request, uow).create_warehouse(data, actor(request))
        await uow.commit()
    return warehouse_json(warehouse)


async def update_warehouse(
    request: web.Request, warehouse_id: int, data: WarehouseUpdate
) -> dict[str, Any]:
    async with _uow(request) as uow:
        warehouse = await _service(request, uow).update_warehouse(
            warehouse_id, data, actor(request)
        )
        await uow.commit()
    return warehouse_json(warehouse)


async def _categories(request: web.Request) -> list[Any]:
    async with _uow(request) as uow:
        return await _service(request, uow).categories()


# Pages.

ACTIVE_CHOICES = {"yes": True, "no": False, "all": None}


@routes.get("/products")
@requires("products.read")
async def products_page(request: web.Request) -> web.Response:
    """Search by the start of a code or name, by category, active or not (active by default)."""
    shown = request.query.get("active", "yes")
    if shown not in ACTIVE_CHOICES:
        shown = "yes"
    values = {
        "q": request.query.get("q", "")[:64],
        "category": request.query.get("category", "")[:64],
        "active": shown,
    }
    error, fields, status = "", {}, 200
    try:
        wanted = validate(
            ProductFilter,
            {
                "q": values["q"],
                "category": values["category"] or None,
                "active": ACTIVE_CHOICES[shown],
            },
        )
        if (kind := requested_export(request)) is not None:
            found = await find_products(request, wanted, export_paging())
            return await export_response(found["items"], kind, "products")
        paging = validate(Paging, {"page": request.query.get("page", "1")[:6]})
        found = await find_products(request, wanted, paging)
    except DomainError as exc:
        status, error, fields = form_problem(exc)
        found = {"items": [], "page": 1, "per_page": 50, "more": False}
    return render(
        request,
        "products.html",
        {
            "values": values,
            "found": found,
            "categories": await _categories(request),
            "error": error,
            "fields": fields,
        },
        status=status,
    )


async def _form_page(
    request: web.Request,
    *,
    product: dict[str, Any] | None,
    values: dict[str, Any],
    problem: DomainError | None = None,
) -> web.Response:
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    return render(
        request,
        "products_form.html",
        {
            "product": product,
            "values": values,
            "categories": await _categories(request),
            "error": error,
            "fields": fields,
        },
        status=status,
    )


@routes.get("/products/new")
@requires("products.manage")
async def new_product_page(request: web.Request) -> web.Response:
    return await _form_page(request, product=None, values={"currency": "USD", "is_active": True})


@routes.post("/products/new")
@requires("products.manage")
async def new_product_submit(request: web.Request) -> web.Response:
    values = form_values(await read_form(request))
    values["is_active"] = values.get("is_active") in ("on", "true", "1")
    try:
        made = await create_product(request, validate(ProductCreate, values))
    except DomainError as exc:
        return await _form_page(request, product=None, values=values, problem=exc)
    raise web.HTTPSeeOther(f"/products/{made['id']}?saved=1")


@routes.get("/products/{product_id}")
@requires("products.read")
async def product_page(request: web.Request) -> web.Response:
    return await _product_page(request, path_id(request, "product_id"))


async def _product_page(
    request: web.Request,
    product_id: int,
    *,
    problem: DomainError | None = None,
    values: dict[str, Any] | None = None,
) -> web.Response:
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    view = await product_view(request, product_id)
    return render(
        request,
        "products_detail.html",
        {
            "product": view,
            "warehouses": [row["warehouse"] for row in view["warehouses"]],
            "values": values or {},
            "error": error,
            "fields": fields,
            "saved": problem is None and request.query.get("saved", ""),
        },
        status=status,
    )


@routes.get("/products/{product_id}/edit")
@requires("products.manage")
async def edit_product_page(request: web.Request) -> web.Response:
    product = await product_view(request, path_id(request, "product_id"))
    return await _form_page(request, product=product, values=product)


@routes.post("/products/{product_id}/edit")
@requires("products.manage")
async def edit_product_submit(request: web.Request) -> web.Response:
    product_id = path_id(request, "product_id")
    values = form_values(await read_form(request))
    values["is_active"] = values.get("is_active") in ("on", "true", "1")
    given = {k: values.get(k) for k in ("name", "category", "unit_price", "is_active")}
    try:
        await update_product(request, product_id, validate(ProductUpdate, given))
    except DomainError as exc:
        product = await product_view(request, product_id)
        return await _form_page(request, product=product, values=values, problem=exc)
    raise web.HTTPSeeOther(f"/products/{product_id}?saved=1")


@routes.post("/products/{product_id}/stock-movements")
@requires("products.manage")
async def movement_submit(request: web.Request) -> web.Response:
    product_id = path_id(request, "product_id")
    values = form_values(await read_form(request))
    try:
        await move_stock(request, product_id, validate(StockMovementCreate, values))
    except DomainError as exc:
        return await _product_page(request, product_id, problem=exc, values=values)
    raise web.HTTPSeeOther(f"/products/{product_id}?saved=movement")


async def _warehouses_page(
    request: web.Request,
    *,
    problem: DomainError | None = None,
    values: dict[str, Any] | None = None,
) -> web.Response:
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    return render(
        request,
        "products_warehouses.html",
        {
            "warehouses": await list_warehouses(request),
            "values": values or {},
            "error": error,
            "fields": fields,
        },
        status=status,
    )


@routes.get("/warehouses")
@requires("products.read")
async def warehouses_page(request: web.Request) -> web.Response:
    return await _warehouses_page(request)


@routes.post("/warehouses")
@requires("products.manage")
async def warehouse_add(request: web.Request) -> web.Response:
    values = form_values(await read_form(request))
    try:
        await create_warehouse(request, validate(WarehouseCreate, values))
    except DomainError as exc:
        return await _warehouses_page(request, problem=exc, values=values)
    raise web.HTTPSeeOther("/warehouses")


@routes.post("/warehouses/{warehouse_id}")
@requires("products.manage")
async def warehouse_edit(request: web.Request) -> web.Response:
    warehouse_id = path_id(request, "warehouse_id")
    values = form_values(await read_form(request))
    values["is_active"] = values.get("is_active") in ("on", "true", "1")
    try:
        await update_warehouse(request, warehouse_id, validate(WarehouseUpdate, values))
    except DomainError as exc:
        return await _warehouses_page(request, problem=exc)
    raise web.HTTPSeeOther("/warehouses")


# The API.


@api.route(
    "GET",
    "/products",
    summary="Find products: ?q= (start of code or name), category, active, page, per_page",
    access="products.read",
    tag="products",
)
async def api_products(request: web.Request) -> object:
    wanted, paging = read_query(request, ProductFilter)
    return await find_products(request, wanted, paging)


@api.route(
    "POST",
    "/products",
    summary="Create a product",
    access="products.manage",
    body=ProductCreate,
    status=201,
    tag="products",
)
async def api_create_product(request: web.Request, data: ProductCreate) -> object:
    return await create_product(request, data)


@api.route(
    "GET",
    "/products/{product_id}",
    summary="A product with its stock per warehouse and its latest movements",
    access="products.read",
    tag="products",
)
async def api_product(request: web.Request) -> object:
    return await product_view(request, path_id(request, "product_id"))


@api.route(
    "PATCH",
    "/products/{product_id}",
    summary="Change a product (is_active false: deactivate it)",
    access="products.manage",
    body=ProductUpdate,
    tag="products",
)
async def api_update_product(request: web.Request, data: ProductUpdate) -> object:
    return await update_product(request, path_id(request, "product_id"), data)


@api.route(
    "GET",
    "/products/{product_id}/stock-movements",
    summary="A product's stock movements, newest first (page, per_page)",
    access="products.read",
    tag="products",
)
async def api_movements(request: web.Request) -> object:
    product_id = path_id(request, "product_id")
    paging = read_paging(request)
    async with _uow(request) as uow:
        service = _service(request, uow)
        await service.get(product_id)
        rows = await service.movements(product_id, limit=paging.limit, offset=paging.offset)
    return paging.page_of([row.as_dict() for row in rows])


@api.route(
    "POST",
    "/products/{product_id}/stock-movements",
    summary="Move stock: in, out (refused when short), or an adjustment; with a reason",
    access="products.manage",
    body=StockMovementCreate,
    status=201,
    tag="products",
)
async def api_move_stock(request: web.Request, data: StockMovementCreate) -> object:
    return await move_stock(request, path_id(request, "product_id"), data)


@api.route("GET", "/warehouses", summary="Warehouses", access="products.read", tag="products")
async def api_warehouses(request: web.Request) -> object:
    return await list_warehouses(request)


@api.route(
    "POST",
    "/warehouses",
    summary="Create a warehouse",
    access="products.manage",
    body=WarehouseCreate,
    status=201,
    tag="products",
)
async def api_create_warehouse(request: web.Request, data: WarehouseCreate) -> object:
    return await create_warehouse(request, data)


@api.route(
    "PATCH",
    "/warehouses/{warehouse_id}",
    summary="Rename or deactivate a warehouse",
    access="products.manage",
    body=WarehouseUpdate,
    tag="products",
)
async def api_update_warehouse(request: web.Request, data: WarehouseUpdate) -> object:
    return await update_warehouse(request, path_id(request, "warehouse_id"), data)
