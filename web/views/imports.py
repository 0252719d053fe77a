"""Import customer and product lists (CSV or xlsx), and download the report of refused rows.
(Exports: every list page with ?format=csv or xlsx, web.listing.)

The file goes up as the raw request body (``text/csv`` or the xlsx type) with the CSRF header,
streamed to a temporary file with a size limit; the import reads it from there in batches."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from crm_core.errors import NotFound
from crm_core.imports import Importer
from crm_core.models import ImportRun
from web.access import requires
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key, settings_key
from web.principal import actor, require_principal
from web.render import render
from web.uploads import UPLOADS, receive_upload

routes = web.RouteTableDef()
api = ApiRoutes()

MAX_UPLOAD = 100 * 1024 * 1024  # 100 MB: far more than 100,000 customers
EXPORT_LIMIT = 100_000


async def _import(request: web.Request, kind: str) -> dict[str, Any]:
    filename = request.query.get("filename", f"{kind}.csv")[:255]
    path = await receive_upload(request, MAX_UPLOAD)
    try:
        importer = Importer(
            request.app[db_key],
            clock=request.app[clock_key],
            region=request.app[settings_key].default_region,
        )
        result = await importer.run(kind, path, filename, actor(request))
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    return result.as_dict()


@api.route(
    "POST",
    "/imports/customers",
    summary="Import customers from a CSV or xlsx file sent as the body (?filename= names it); "
    "columns name, numbers, account_number, company, level, region",
    access="customers.write",
    upload=UPLOADS,
    tag="imports",
)
async def import_customers(request: web.Request) -> object:
    return await _import(request, "customers")


@api.route(
    "POST",
    "/imports/products",
    summary="Import products from a CSV or xlsx file sent as the body; columns code, name, "
    "unit_price, category, active",
    access="products.manage",
    upload=UPLOADS,
    tag="imports",
)
async def import_products(request: web.Request) -> object:
    return await _import(request, "products")


async def _own_run(request: web.Request) -> ImportRun:
    value = request.match_info["run_id"]
    async with request.app[db_key]() as db:
        run = await db.get(ImportRun, int(value)) if value.isdigit() and len(value) < 18 else None
    if run is None or run.user_id != require_principal(request).user_id:
        raise NotFound(f"no import {value[:20]!r} of yours")
    return run


@api.route("GET", "/imports/{run_id}", summary="An import of yours: its counts", tag="imports")
async def get_import(request: web.Request) -> object:
    run = await _own_run(request)
    return {
        "id": run.id,
        "kind": run.kind,
        "filename": run.filename,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "imported": run.imported,
        "rejected": run.rejected,
    }


@api.route(
    "GET",
    "/imports/{run_id}/report",
    summary="The refused rows of an import of yours, as CSV: row, reason, the row's cells",
    tag="imports",
)
async def import_report(request: web.Request) -> object:
    run = await _own_run(request)
    return web.Response(
        body=run.report.encode("utf-8-sig"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{run.id}-rejected.csv"'},
    )


@routes.get("/customers/import")
@requires("customers.write")
async def customers_import_page(request: web.Request) -> web.Response:
    return render(request, "import.html", {"kind": "customers", "title": "Import customers"})


@routes.get("/products/import")
@requires("products.manage")
async def products_import_page(request: web.Request) -> web.Response:
    return render(request, "import.html", {"kind": "products", "title": "Import products"})
