"""Churn warnings: the list (churn.read), a warning's page with the measures taken, and the
account manager's two answers to it (churn.manage): a measure that postpones the churn, or
the confirmation that the customer is lost, with a reason. And their API twins."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from crm_core.churn import (
    MEASURE_CATEGORY,
    MOVES,
    REASON_CATEGORY,
    STATUSES,
    ChurnService,
    ConfirmInput,
    MeasureInput,
    WarningFilters,
    measure_json,
    warning_json,
)
from crm_core.errors import DomainError, NotFound
from crm_core.opportunities import display_names
from crm_core.schemas import Input
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
Status = Literal["open", "postponed", "churned", "cleared"]


class WarningQuery(Input):
    # Those still to be worked on, unless asked otherwise.
    status: list[Status] = Field(default_factory=lambda: ["open", "postponed"], max_length=4)
    account_manager_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


def _service(request: web.Request, uow: UnitOfWork) -> ChurnService:
    return ChurnService(uow.session, clock=request.app[clock_key])


# The operations the pages and the API share.


async def find_warnings(
    request: web.Request, wanted: WarningQuery, paging: Paging
) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        rows = await _service(request, uow).warnings(
            WarningFilters(
                statuses=tuple(wanted.status), account_manager_id=wanted.account_manager_id
            ),
            limit=paging.limit,
            offset=paging.offset,
        )
        names = await display_names(uow.session, {c.account_manager_id for _, c in rows})
    items = [_named(warning_json(w, c), names) for w, c in rows]
    return paging.page_of(items)


async def warning_view(request: web.Request, warning_id: int) -> dict[str, Any]:
    """The warning, the measures taken, and what the dictionary offers to answer it."""
    async with UnitOfWork(request.app[db_key]) as uow:
        service = _service(request, uow)
        warning, customer = await service.get(warning_id)
        measures = await service.measures(warning.id)
        names = await display_names(
            uow.session,
            {customer.account_manager_id, warning.resolved_by, *(m.user_id for m in measures)},
        )
        measure_choices = await service.choices(MEASURE_CATEGORY)
        reason_choices = await service.choices(REASON_CATEGORY)
    return {
        **_named(warning_json(warning, customer), names),
        "resolved_by_name": names.get(warning.resolved_by or 0, ""),
        "measures": [
            {**measure_json(m), "user_name": names.get(m.user_id or 0, "")} for m in measures
        ],
        "moves": [move for move, starts in MOVES.items() if warning.status in starts],
        "choices": {
            "measure": [{"code": c, "label": label} for c, label in measure_choices],
            "reason": [{"code": c, "label": label} for c, label in reason_choices],
        },
    }


async def record_measure(
    request: web.Request, warning_id: int, data: MeasureInput
) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        await _service(request, uow).record_measure(warning_id, data, actor(request))
        await uow.commit()
    return await warning_view(request, warning_id)


async def confirm_churn(
    request: web.Request, warning_id: int, data: ConfirmInput
) -> dict[str, Any]:
    async with UnitOfWork(request.app[db_key]) as uow:
        await _service(request, uow).confirm(warning_id, data, actor(request))
        await uow.commit()
    return await warning_view(request, warning_id)


def _named(item: dict[str, Any], names: dict[int, str]) -> dict[str, Any]:
    return {**item, "account_manager_name": names.get(item["account_manager_id"] or 0, "")}


# Pages.


@routes.get("/churn-warnings")
@requires("churn.read")
async def warnings_page(request: web.Request) -> web.Response:
    if (kind := requested_export(request)) is not None:
        wanted, _ = read_query(request, WarningQuery, lists=("status",))
        found = await find_warnings(request, wanted, export_paging())
        return await export_response(found["items"], kind, "churn-warnings")
    values = query_values(request.query, (*WarningQuery.model_fields, "page"), lists=("status",))
    error, fields, status = "", {}, 200
    found: dict[str, Any] = {"items": [], "page": 1, "more": False}
    try:
        wanted, paging = read_query(request, WarningQuery, lists=("status",))
        values["status"] = list(wanted.status)
        found = await find_warnings(request, wanted, paging)
    except DomainError as exc:
        status, error, fields = form_problem(exc)
    return render(
        request,
        "churn_warnings.html",
        {
            "values": values,
            "found": found,
            "statuses": STATUSES,
            "error": error,
            "fields": fields,
        },
        status=status,
    )


@routes.get("/churn-warnings/{warning_id}")
@requires("churn.read")
async def warning_page(request: web.Request) -> web.Response:
    return await _warning_page(request, path_id(request, "warning_id"))


async def _warning_page(
    request: web.Request,
    warning_id: int,
    *,
    problem: DomainError | None = None,
    form: str = "",
    values: dict[str, Any] | None = None,
) -> web.Response:
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    return render(
        request,
        "churn_warning.html",
        {
            "w": await warning_view(request, warning_id),
            "may_manage": require_principal(request).can("churn.manage"),
            "error": error,
            "fields": fields,
            "form": form,
            "values": values or {},
            "saved": "" if problem else request.query.get("saved", "")[:20],
        },
        status=status,
    )


@routes.post("/churn-warnings/{warning_id}/measures")
@requires("churn.manage")
async def measure_submit(request: web.Request) -> web.Response:
    warning_id = path_id(request, "warning_id")
    values = form_values(await read_form(request))
    try:
        await record_measure(request, warning_id, validate(MeasureInput, values))
    except DomainError as exc:
        if isinstance(exc, NotFound) and exc.field is None:
            raise
        return await _warning_page(request, warning_id, problem=exc, form="measure", values=values)
    raise web.HTTPSeeOther(f"/churn-warnings/{warning_id}?saved=measure")


@routes.post("/churn-warnings/{warning_id}/confirm")
@requires("churn.manage")
async def confirm_submit(request: web.Request) -> web.Response:
    warning_id = path_id(request, "warning_id")
    values = form_values(await read_form(request))
    try:
        await confirm_churn(request, warning_id, validate(ConfirmInput, values))
    except DomainError as exc:
        if isinstance(exc, NotFound) and exc.field is None:
            raise
        return await _warning_page(request, warning_id, problem=exc, form="confirm", values=values)
    raise web.HTTPSeeOther(f"/churn-warnings/{warning_id}?saved=confirmed")


# The API.


@api.route(
    "GET",
    "/churn-warnings",
    summary=(
        "Churn warnings: status (open, postponed, churned, cleared; repeat or comma-separate; "
        "default open,postponed), account_manager_id (the customers of one); page, per_page"
    ),
    access="churn.read",
    tag="churn",
)
async def api_warnings(request: web.Request) -> object:
    wanted, paging = read_query(request, WarningQuery, lists=("status",))
    return await find_warnings(request, wanted, paging)


@api.route(
    "GET",
    "/churn-warnings/{warning_id}",
    summary="A churn warning with the measures taken and the dictionary's choices to answer it",
    access="churn.read",
    tag="churn",
)
async def api_warning(request: web.Request) -> object:
    return await warning_view(request, path_id(request, "warning_id"))


@api.route(
    "POST",
    "/churn-warnings/{warning_id}/measures",
    summary="Record a measure against the churn (dictionary churn_measure): postpones it",
    access="churn.manage",
    body=MeasureInput,
    status=201,
    tag="churn",
)
async def api_measure(request: web.Request, data: MeasureInput) -> object:
    return await record_measure(request, path_id(request, "warning_id"), data)


@api.route(
    "POST",
    "/churn-warnings/{warning_id}/confirm",
    summary="Confirm the churn, with a reason (dictionary churn_reason) and a note",
    access="churn.manage",
    body=ConfirmInput,
    tag="churn",
)
async def api_confirm(request: web.Request, data: ConfirmInput) -> object:
    return await confirm_churn(request, path_id(request, "warning_id"), data)
