"""The do-not-call register: its page (search, add a number, take one off with the reason, import
a file with the report of refused rows, export) and its API twins under /api/v1/dnc. Everything
here needs ``calllists.manage``: the register decides which numbers the dialer may call.

The register is checked again immediately before every dial (crm_core.do_not_call.is_listed):
a number added here is never dialled from the next second on, whatever list holds it."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.call_lists import MAX_UPLOAD_BYTES
from crm_core.do_not_call import SOURCES, DncCreate, DoNotCallService
from crm_core.errors import DomainError, InvalidInput, NotFound
from crm_core.phones import normalise
from crm_core.uow import UnitOfWork
from web.access import requires
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key, settings_key
from web.inputs import form_problem, form_values, read_form, validate
from web.listing import EXPORT_LIMIT, export_response, query_values, requested_export
from web.principal import actor
from web.render import render
from web.uploads import UPLOADS, receive_upload

routes = web.RouteTableDef()
api = ApiRoutes()

LISTS = "calllists.manage"
PER_PAGE = 50
PAGE_MAX = 500  # the service's largest page: an export reads the register in these


class DncQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    q: str = Field(default="", max_length=64, description="A number, its first digits, or words")
    source: str | None = Field(default=None, description="manual, import or call_result")
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=PER_PAGE, ge=1, le=PAGE_MAX)


class DncRemove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(max_length=64)
    reason: str = Field(default="", max_length=255)


def _service(request: web.Request, session: AsyncSession) -> DoNotCallService:
    return DoNotCallService(
        session, clock=request.app[clock_key], region=request.app[settings_key].default_region
    )


async def find(request: web.Request, query: DncQuery) -> dict[str, Any]:
    async with request.app[db_key]() as db:
        found = await _service(request, db).search(
            query.q, source=query.source, page=query.page, per_page=query.per_page
        )
    return {
        "items": [row.as_dict() for row in found.rows],
        "total": found.total,
        "page": found.page,
        "per_page": found.per_page,
        "more": found.more,
    }


async def add(request: web.Request, data: DncCreate) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        done = await _service(request, uow.session).add(data, actor(request))
        await uow.commit()
        entry = done.entry
        return {
            "number": entry.number_e164,
            "reason": entry.reason,
            "source": entry.source,
            "added_at": entry.added_at.isoformat(),
            "added": done.added,
            "marked": done.marked,
        }


async def remove(request: web.Request, data: DncRemove) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        entry = await _service(request, uow.session).remove(
            data.number, actor(request), reason=data.reason
        )
        await uow.commit()
        return {"number": entry.number_e164, "removed": True}


async def import_file(request: web.Request) -> dict[str, Any]:
    filename = request.query.get("filename", "dnc.csv")[:255] or "dnc.csv"
    path = await receive_upload(request, MAX_UPLOAD_BYTES)
    try:
        async with UnitOfWork(request.app[db_key]) as uow:
            outcome = await _service(request, uow.session).import_file(
                path, filename, actor(request)
            )
            await uow.commit()
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    return outcome.as_dict()


# ------------------------------------------------------------------ API


@api.route(
    "GET",
    "/dnc",
    summary=(
        "The do-not-call register, newest first: q (a number in any format, its first "
        "digits, or words of the reason), source; page, per_page"
    ),
    access=LISTS,
    tag="do not call",
)
async def api_find(request: web.Request) -> object:
    query = validate(DncQuery, query_values(request.query, ("q", "source", "page", "per_page")))
    return await find(request, query)


@api.route(
    "POST",
    "/dnc",
    summary=(
        "Put a number on the register (any format); its pending list entries in every "
        "campaign become dnc (`marked`). Listing one already there changes nothing (`added` false)"
    ),
    access=LISTS,
    body=DncCreate,
    status=201,
    tag="do not call",
)
async def api_add(request: web.Request, data: DncCreate) -> object:
    return await add(request, data)


@api.route(
    "GET",
    "/dnc/{number}",
    summary="Whether one number (any format) is on the register: its entry, or 404",
    access=LISTS,
    tag="do not call",
)
async def api_one(request: web.Request) -> object:
    given = normalise(request.match_info["number"][:64], request.app[settings_key].default_region)
    if not given.usable:
        raise InvalidInput("not a phone number", field="number")
    e164 = given.e164
    async with request.app[db_key]() as db:
        found = await _service(request, db).search(e164, per_page=1)
    if not found.rows or found.rows[0].entry.number_e164 != e164:
        raise NotFound(f"{e164} is not on the do-not-call register", field="number")
    return found.rows[0].as_dict()


@api.route(
    "DELETE",
    "/dnc/{number}",
    summary="Take a number off the register (?reason= says why; kept in the audit trail)",
    access=LISTS,
    tag="do not call",
)
async def api_remove(request: web.Request) -> object:
    data = validate(
        DncRemove,
        {"number": request.match_info["number"], "reason": request.query.get("reason", "")},
    )
    return await remove(request, data)


@api.route(
    "POST",
    "/dnc/import",
    summary=(
        "Import numbers (CSV in UTF-8, UTF-8 with BOM or GBK, or xlsx; at most 10 MB) sent as "
        "the body, ?filename= naming it: a phone column, optionally reason. Refused rows are in "
        "the report (GET the `report` link)"
    ),
    access=LISTS,
    upload=UPLOADS,
    tag="do not call",
)
async def api_import(request: web.Request) -> object:
    return await import_file(request)


# ------------------------------------------------------------------ pages


@routes.get("/dnc")
@requires(LISTS)
async def dnc_page(request: web.Request) -> web.Response:
    if (kind := requested_export(request)) is not None:
        query = validate(DncQuery, query_values(request.query, ("q", "source")))
        items: list[dict[str, Any]] = []
        page = 1
        while len(items) < EXPORT_LIMIT:
            found = await find(
                request, query.model_copy(update={"page": page, "per_page": PAGE_MAX})
            )
            items.extend(found["items"])
            if not found["more"]:
                break
            page += 1
        return await export_response(items[:EXPORT_LIMIT], kind, "do-not-call")
    return await _page(request)


async def _page(
    request: web.Request,
    *,
    problem: DomainError | None = None,
    form: str = "",
    values: dict[str, Any] | None = None,
) -> web.Response:
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    filters = query_values(request.query, ("q", "source", "page"))
    found: dict[str, Any] = {"items": [], "total": 0, "page": 1, "more": False}
    search_error = ""
    try:
        found = await find(request, validate(DncQuery, filters))
    except DomainError as exc:
        search_error = exc.message
    return render(
        request,
        "do_not_call.html",
        {
            "found": found,
            "filters": filters,
            "sources": SOURCES,
            "search_error": search_error,
            "form": form,
            "values": values or {},
            "error": error,
            "fields": fields,
            "saved": "" if problem else request.query.get("saved", "")[:20],
            "marked": _number(request.query.get("marked", "")),
        },
        status=status,
    )


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 10 else None


@routes.post("/dnc")
@requires(LISTS)
async def add_submit(request: web.Request) -> web.Response:
    values = form_values(await read_form(request))
    try:
        done = await add(request, validate(DncCreate, values))
    except DomainError as exc:
        return await _page(request, problem=exc, form="add", values=values)
    saved = "added" if done["added"] else "already"
    raise web.HTTPSeeOther(f"/dnc?saved={saved}&marked={done['marked']}")


@routes.post("/dnc/remove")
@requires(LISTS)
async def remove_submit(request: web.Request) -> web.Response:
    values = form_values(await read_form(request))
    try:
        await remove(request, validate(DncRemove, values))
    except DomainError as exc:
        return await _page(request, problem=exc, form="remove", values=values)
    raise web.HTTPSeeOther("/dnc?saved=removed")
