"""Campaigns (营销项目) and their call lists: the campaigns with the new-campaign form, one
campaign's page (its settings, with each error beside its field and the warnings after a save
or a start; start, pause and stop; its list: counts by state, the generators, the upload with
its report of refused rows, the standing rules, the entries with paging and export; and the live
panel, fed by the supervisors' websocket), and their API twins under /api/v1/campaigns.

Permissions: ``campaigns.manage`` creates, changes, starts, pauses and stops; ``calllists.manage``
builds the lists (generators, upload, rules); any of these or ``campaigns.monitor`` sees the
pages. The live figures reach the tabs of users holding ``campaigns.monitor`` (web/hub.py).

The services (dialer.campaigns, crm_core.call_lists) never commit: each operation here is one
unit of work, committed once; a refused one leaves nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.call_lists import (
    KINDS,
    MAX_UPLOAD_BYTES,
    RULE_KINDS,
    STATES,
    AbandonedRule,
    AddResult,
    CallLists,
    OrderRule,
    Segment,
    campaign_rules,
    entries_page,
    entry_json,
    list_summary,
    run_rules,
)
from crm_core.dialling import due_entries
from crm_core.dictionary import DictionaryService
from crm_core.errors import DomainError, InvalidInput, NotFound
from crm_core.models import Campaign
from crm_core.uow import UnitOfWork
from desk.agents import Status
from dialer import campaigns
from dialer.campaign_settings import CampaignSettings, parse_settings, start_warnings
from dialer.compliance import (
    DEFAULT_RETRY_MINUTES,
    RETRY_KEYS,
    MachineRule,
    callee_zones,
    is_open,
    next_opening,
)
from dialer.pacing import Mode
from web.access import any_of, requires
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key, pbx_key, settings_key
from web.inputs import form_problem, form_values, path_id, read_form, validate
from web.listing import EXPORT_LIMIT, export_response, query_values, requested_export
from web.principal import actor
from web.render import render
from web.uploads import UPLOADS, receive_upload

routes = web.RouteTableDef()
api = ApiRoutes()

MANAGE = "campaigns.manage"
LISTS = "calllists.manage"
SEE = any_of(MANAGE, LISTS, "campaigns.monitor")
PER_PAGE = 50
EXPORT_PAGE = 500  # entries_page's largest page: an export reads the list in these
HOURS_SAMPLE = 500  # due entries whose calling hours a start looks at
ENTRY_FILTERS = ("state", "reason_kind", "number")
GENERATORS = ("order_confirmations", "segment", "abandoned_calls", "callbacks", "number")
# The settings form's defaults: what a team lead usually wants (no fallback zone: they choose).
NEW_CAMPAIGN: dict[str, Any] = {
    "mode": "predictive",
    "queue": "outbound",
    "abandon_cap": "3",
    "patience": "2",
    "hours_start": "09:00",
    "hours_end": "21:00",
    "weekdays": ["0", "1", "2", "3", "4"],
    "max_attempts": "3",
    "machine_rule": str(MachineRule.RETRY),
    **{f"retry_{k}": str(v) for k, v in DEFAULT_RETRY_MINUTES.items()},
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# ------------------------------------------------------------------ inputs


def _not_a_flag(value: object) -> object:
    # JSON's true would pass as 1: a yes/no is no count of anything.
    if isinstance(value, bool):
        raise ValueError("a number, not true or false")
    return value


Whole = Annotated[int | str | None, BeforeValidator(_not_a_flag)]
Number = Annotated[float | int | str | None, BeforeValidator(_not_a_flag)]


class CampaignInput(BaseModel):
    """A campaign's settings, each checked by dialer.campaign_settings (every bad one named at
    once). Retry delays come as ``retry_minutes`` ({"busy": 10}) or as flat ``retry_busy``
    fields. On PATCH, the fields given replace the campaign's, the others are kept."""

    model_config = ConfigDict(extra="allow")  # retry_<outcome> fields

    name: str | None = Field(default=None, description="Unique, at most 100 characters")
    mode: str | None = Field(default=None, description="preview, progressive or predictive")
    queue: str | None = Field(default=None, description="Answered calls go to this queue")
    caller_id: str | None = Field(default=None, description="The number presented (E.164)")
    trunk: str | None = Field(default=None, description="e.g. PJSIP/trunk-main; empty: default")
    max_lines: Whole = Field(default=None, description="The campaign's channels")
    abandon_cap: Number = Field(
        default=None, description="Percent of live answers: 3 is 3 % (the default and maximum)"
    )
    patience: Number = Field(
        default=None, description="Seconds an answered call may wait for an agent (default 2)"
    )
    hours_start: str | None = Field(default=None, description="HH:MM in the callee's time")
    hours_end: str | None = Field(default=None, description="HH:MM, after the start")
    # Checked by parse_settings alone (a list, or "0,1,2"): its errors name the field plainly.
    weekdays: Any = Field(
        default=None,
        description="Days calls may be placed: 0 (Monday) to 6 (Sunday)",
        json_schema_extra={"type": "array", "items": {"type": "integer"}},
    )
    fallback_timezone: str | None = Field(
        default=None, description="IANA zone for numbers with no zone, or several"
    )
    region: str | None = Field(default=None, description="Country of numbers written nationally")
    max_attempts: Whole = None
    retry_minutes: Any = Field(
        default=None,
        description=f"Minutes before a retry, per outcome: {', '.join(RETRY_KEYS)}",
        json_schema_extra={"type": "object", "additionalProperties": {"type": "integer"}},
    )
    machine_rule: str | None = Field(default=None, description="retry or hang_up")
    script: str | None = Field(default=None, description="With {name}, {reason}, … fields")


class OrderBatch(OrderRule):
    """Orders awaiting confirmation (waited at least ``waiting_minutes``)."""

    standing: bool = Field(default=False, description="Also keep adding new ones (a rule)")


class SegmentBatch(Segment):
    label: str = Field(default="", max_length=200, description="Names the segment in reasons")
    standing: bool = Field(default=False, description="Also keep adding new members (a rule)")


class AbandonedBatch(AbandonedRule):
    standing: bool = Field(default=False, description="Also keep adding new ones (a rule)")


class CallbackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    horizon_hours: int = Field(default=24, ge=0, le=24 * 31, description="Due within these")


class NumberInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(max_length=64, description="Any format; national ones in the region")
    name: str = Field(default="", max_length=200)
    reason: str = Field(default="", max_length=500)
    customer_id: int | None = Field(default=None, ge=1)


class RuleInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["order_confirmation", "segment", "abandoned_call"]
    filters: dict[str, Any] = Field(default_factory=dict)


class RuleSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(description="false: the rule adds nothing more; true: it runs again")


# ------------------------------------------------------------------ operations


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[db_key])


def _lists(request: web.Request, session: AsyncSession) -> CallLists:
    return CallLists(
        session, clock=request.app[clock_key], region=request.app[settings_key].default_region
    )


def _live(request: web.Request, campaign_id: int) -> dict[str, Any] | None:
    """The campaign's live state when this instance drives it (else the websocket brings it)."""
    dialer = request.app[pbx_key].dialer
    engine = dialer.engines.get(campaign_id) if dialer is not None else None
    return engine.state() if engine is not None else None


def _settings_of(row: Campaign) -> tuple[CampaignSettings, list[str]]:
    return parse_settings(campaigns.settings_input(row))


async def find_campaigns(request: web.Request) -> list[dict[str, Any]]:
    async with _uow(request) as uow:
        rows = await campaigns.campaigns(uow.session)
        now = request.app[clock_key]()
        found = []
        for row in rows:
            summary = await list_summary(uow.session, row.id, now=now)
            found.append({**campaigns.campaign_json(row), "list": summary.as_dict()})
    return found


async def campaign_view(request: web.Request, campaign_id: int) -> dict[str, Any]:
    async with _uow(request) as uow:
        row = await campaigns.campaign(uow.session, campaign_id)
        summary = await list_summary(uow.session, campaign_id, now=request.app[clock_key]())
        rules = await campaign_rules(uow.session, campaign_id)
    return {
        "campaign": campaigns.campaign_json(row),
        "warnings": _settings_of(row)[1],
        "list": summary.as_dict(),
        "rules": rules,
        "live": _live(request, campaign_id),
    }


async def create_campaign(
    request: web.Request, raw: Mapping[str, object]
) -> tuple[dict[str, Any], list[str]]:
    async with _uow(request) as uow:
        row, warnings = await campaigns.create(
            uow.session, raw, actor(request), request.app[clock_key]()
        )
        await uow.commit()
        return campaigns.campaign_json(row), warnings


async def update_campaign(
    request: web.Request, campaign_id: int, raw: Mapping[str, object], *, partial: bool
) -> tuple[dict[str, Any], list[str]]:
    """New settings; ``partial``: those given replace the campaign's, the others are kept."""
    async with _uow(request) as uow:
        if partial:
            row = await campaigns.campaign(uow.session, campaign_id)
            current = campaigns.settings_input(row)
            if isinstance(raw.get("retry_minutes"), Mapping):
                raw = {**raw, "retry_minutes": {**current["retry_minutes"], **raw["retry_minutes"]}}
            raw = {**current, **raw}  # a flat retry_busy given wins over the mapping
        row, warnings = await campaigns.update(
            uow.session, campaign_id, raw, actor(request), request.app[clock_key]()
        )
        await uow.commit()
        return campaigns.campaign_json(row), warnings


async def change_status(
    request: web.Request, campaign_id: int, action: str
) -> tuple[dict[str, Any], list[str]]:
    """Start, pause or stop; a start says what will hold the campaign back (it starts anyway)."""
    async with _uow(request) as uow:
        row = await campaigns.change_status(
            uow.session, campaign_id, action, actor(request), request.app[clock_key]()
        )
        warnings = await _start_warnings(request, uow.session, row) if action == "start" else []
        await uow.commit()
        return campaigns.campaign_json(row), warnings


async def _start_warnings(request: web.Request, session: AsyncSession, row: Campaign) -> list[str]:
    settings, _ = _settings_of(row)
    now = request.app[clock_key]()
    summary = await list_summary(session, row.id, now=now)
    due = await due_entries(session, row.id, now, HOURS_SAMPLE)
    open_now, first = _hours_now(settings, [e.number for e in due], now)
    agents = _agents_in_queue(request, settings.queue)
    # Only the instance driving the PBX link sees the agents; elsewhere the count is unknown
    # and nothing is said rather than something wrong.
    return start_warnings(
        settings, 1 if agents is None else agents, summary.due_now, open_now, first
    )


def _hours_now(
    settings: CampaignSettings, numbers: Sequence[str], now: datetime
) -> tuple[bool, datetime | None]:
    """Whether any of the numbers may be called now; if none, the first opening among them.
    Numbers share few zone sets: each set is worked out once."""
    first: datetime | None = None
    seen: set[tuple[str, ...]] = set()
    for number in numbers:
        zones = callee_zones(number, settings.fallback_timezone)
        key = tuple(z.name for z in zones)
        if key in seen:
            continue
        seen.add(key)
        if is_open(settings.calling_hours, zones, now):
            return True, None
        opening = next_opening(settings.calling_hours, zones, now)
        if opening is not None and (first is None or opening < first):
            first = opening
    return not numbers, first


def _agents_in_queue(request: web.Request, queue: str) -> int | None:
    runtime = request.app[pbx_key].runtime
    if runtime is None:
        return None
    return sum(
        1
        for view in runtime.board.views()
        if view.pbx is not None
        and view.status is not Status.LOGGED_OUT
        and any(q.queue == queue for q in view.pbx.queues)
    )


async def build_list(
    request: web.Request, campaign_id: int, kind: str, data: BaseModel
) -> dict[str, Any]:
    """One generator run over the campaign's list; with ``standing``, the rule is kept and run
    now (it then keeps filling the list while the campaign runs or is paused)."""
    who = actor(request)
    async with _uow(request) as uow:
        lists = _lists(request, uow.session)
        rule_id: int | None = None
        if getattr(data, "standing", False):
            rule_kind = {
                "order_confirmations": "order_confirmation",
                "segment": "segment",
                "abandoned_calls": "abandoned_call",
            }[kind]
            filters = data.model_dump(mode="json", exclude={"standing", "label"})
            rule = await lists.add_rule(campaign_id, rule_kind, filters, who)
            rule_id = rule.id
            result = await lists.run_rule(rule, who)
        elif isinstance(data, OrderBatch):
            result = await lists.add_order_confirmations(
                campaign_id, who, waiting_minutes=data.waiting_minutes
            )
        elif isinstance(data, SegmentBatch):
            segment = Segment.model_validate(data.model_dump(exclude={"standing", "label"}))
            result = await lists.add_segment(campaign_id, segment, who, label=data.label)
        elif isinstance(data, AbandonedBatch):
            result = await lists.add_abandoned_calls(campaign_id, who, queues=data.queues)
        elif isinstance(data, CallbackBatch):
            result = await lists.add_callbacks(
                campaign_id, who, horizon=timedelta(hours=data.horizon_hours)
            )
        else:
            assert isinstance(data, NumberInput)
            result = await lists.add_number(
                campaign_id,
                data.number,
                who,
                name=data.name,
                customer_id=data.customer_id,
                reason=data.reason,
            )
        await uow.commit()
    return {**result.as_dict(), "rule_id": rule_id}


async def upload_list(request: web.Request, campaign_id: int) -> dict[str, Any]:
    filename = request.query.get("filename", "list.csv")[:255] or "list.csv"
    path = await receive_upload(request, MAX_UPLOAD_BYTES)
    try:
        async with _uow(request) as uow:
            outcome = await _lists(request, uow.session).upload(
                campaign_id, path, filename, actor(request)
            )
            await uow.commit()
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    return outcome.as_dict()


async def add_rule(request: web.Request, campaign_id: int, data: RuleInput) -> dict[str, Any]:
    async with _uow(request) as uow:
        rule = await _lists(request, uow.session).add_rule(
            campaign_id, data.kind, data.filters, actor(request)
        )
        await uow.commit()
        return {"id": rule.id, "kind": rule.kind, "filters": json.loads(rule.filters)}


async def switch_rule(
    request: web.Request, campaign_id: int, rule_id: int, enabled: bool
) -> dict[str, Any]:
    async with _uow(request) as uow:
        rule = await _lists(request, uow.session).switch_rule(
            campaign_id, rule_id, enabled, actor(request)
        )
        await uow.commit()
        return {"id": rule.id, "kind": rule.kind, "enabled": rule.enabled}


async def run_campaign_rules(request: web.Request, campaign_id: int) -> dict[str, Any]:
    """Every enabled rule of the campaign, now (a running or paused campaign's: the rules of a
    draft wait for its start, those of a stopped one are over)."""
    async with _uow(request) as uow:
        await campaigns.campaign(uow.session, campaign_id)
        runs = await run_rules(
            uow.session,
            request.app[clock_key](),
            actor=actor(request),
            region=request.app[settings_key].default_region,
            campaign_id=campaign_id,
        )
        await uow.commit()
    total = AddResult()
    for run in runs:
        if run.result is not None:
            for name, value in run.result.as_dict().items():
                setattr(total, name, getattr(total, name) + value)
    return {
        **total.as_dict(),
        "runs": [
            {
                "rule_id": run.rule_id,
                "kind": run.kind,
                "result": run.result.as_dict() if run.result else None,
                "error": run.error,
            }
            for run in runs
        ],
    }


class EntryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    state: str | None = None
    reason_kind: str | None = None
    number: str = Field(default="", max_length=64)
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=PER_PAGE, ge=1, le=EXPORT_PAGE)


async def find_entries(request: web.Request, campaign_id: int, query: EntryQuery) -> dict[str, Any]:
    async with _uow(request) as uow:
        await campaigns.campaign(uow.session, campaign_id)
        found = await entries_page(
            uow.session,
            campaign_id,
            state=query.state,
            reason_kind=query.reason_kind,
            number=query.number,
            region=request.app[settings_key].default_region,
            page=query.page,
            per_page=query.per_page,
        )
    return {
        "items": [entry_json(e) for e in found.rows],
        "total": found.total,
        "page": found.page,
        "per_page": found.per_page,
        "more": found.more,
    }


async def _all_entries(
    request: web.Request, campaign_id: int, query: EntryQuery
) -> list[dict[str, Any]]:
    """Every entry the filters find, up to EXPORT_LIMIT, for an export."""
    items: list[dict[str, Any]] = []
    page = 1
    while len(items) < EXPORT_LIMIT:
        found = await find_entries(
            request,
            campaign_id,
            query.model_copy(update={"page": page, "per_page": EXPORT_PAGE}),
        )
        items.extend(found["items"])
        if not found["more"]:
            break
        page += 1
    return items[:EXPORT_LIMIT]


# ------------------------------------------------------------------ API


@api.route(
    "GET",
    "/campaigns",
    summary="Every campaign, newest first, with its list's counts",
    access=SEE,
    tag="campaigns",
)
async def api_campaigns(request: web.Request) -> object:
    return {"campaigns": await find_campaigns(request)}


@api.route(
    "POST",
    "/campaigns",
    summary=(
        "Create a campaign (a draft). Every bad setting is named in `fields`; what is allowed "
        "but unwise comes back in `warnings` (a cap of 0 %, hours outside 08:00-21:00, …)"
    ),
    access=MANAGE,
    body=CampaignInput,
    status=201,
    tag="campaigns",
)
async def api_create(request: web.Request, data: CampaignInput) -> object:
    made, warnings = await create_campaign(request, data.model_dump(exclude_unset=True))
    return {"campaign": made, "warnings": warnings}


@api.route(
    "GET",
    "/campaigns/{campaign_id}",
    summary=(
        "A campaign: its settings and their warnings, its list's counts, its standing rules, "
        "and its live state when this instance drives it (else null: see the websocket)"
    ),
    access=SEE,
    tag="campaigns",
)
async def api_campaign(request: web.Request) -> object:
    return await campaign_view(request, path_id(request, "campaign_id"))


@api.route(
    "PATCH",
    "/campaigns/{campaign_id}",
    summary="Change a campaign's settings (those given; a running campaign takes them at once)",
    access=MANAGE,
    body=CampaignInput,
    tag="campaigns",
)
async def api_update(request: web.Request, data: CampaignInput) -> object:
    changed, warnings = await update_campaign(
        request,
        path_id(request, "campaign_id"),
        data.model_dump(exclude_unset=True),
        partial=True,
    )
    return {"campaign": changed, "warnings": warnings}


def _status_route(action: str, summary: str) -> None:
    @api.route(
        "POST",
        f"/campaigns/{{campaign_id}}/{action}",
        summary=summary,
        access=MANAGE,
        tag="campaigns",
    )
    async def handler(request: web.Request) -> object:
        row, warnings = await change_status(request, path_id(request, "campaign_id"), action)
        return {"campaign": row, "warnings": warnings}


_status_route(
    "start",
    "Start (or resume) a draft or paused campaign; `warnings` say what will hold it back "
    "(no agent in its queue, nothing due, calling hours closed now)",
)
_status_route("pause", "Pause a running campaign: no new call; calls up go on")
_status_route("stop", "Stop a campaign for good: its list is closed")


@api.route(
    "GET",
    "/campaigns/{campaign_id}/list",
    summary="The list's counts: by state, remaining, due now, scheduled later",
    access=SEE,
    tag="call lists",
)
async def api_list_summary(request: web.Request) -> object:
    campaign_id = path_id(request, "campaign_id")
    async with _uow(request) as uow:
        await campaigns.campaign(uow.session, campaign_id)
        summary = await list_summary(uow.session, campaign_id, now=request.app[clock_key]())
    return summary.as_dict()


@api.route(
    "GET",
    "/campaigns/{campaign_id}/entries",
    summary=(
        "The list's entries in the order they were listed: state, reason_kind, number (any "
        "format) narrow it; page, per_page (at most 500)"
    ),
    access=SEE,
    tag="call lists",
)
async def api_entries(request: web.Request) -> object:
    query = validate(EntryQuery, query_values(request.query, (*ENTRY_FILTERS, "page", "per_page")))
    return await find_entries(request, path_id(request, "campaign_id"), query)


def _generator_route(path: str, model: type[BaseModel], kind: str, summary: str) -> None:
    @api.route(
        "POST",
        f"/campaigns/{{campaign_id}}/list/{path}",
        summary=summary,
        access=LISTS,
        body=model,
        tag="call lists",
    )
    async def handler(request: web.Request, data: BaseModel) -> object:
        return await build_list(request, path_id(request, "campaign_id"), kind, data)


_generator_route(
    "order-confirmations",
    OrderBatch,
    "order_confirmations",
    "Add every order awaiting confirmation, to its customer's main number (standing: and keep "
    "adding new ones)",
)
_generator_route(
    "segment",
    SegmentBatch,
    "segment",
    "Add a marketing segment: customers by region, level, company, account manager, churn "
    "flag, last order date, products bought",
)
_generator_route(
    "abandoned-calls",
    AbandonedBatch,
    "abandoned_calls",
    "Add the abandoned inbound calls not on a list yet (optionally of some queues)",
)
_generator_route(
    "callbacks",
    CallbackBatch,
    "callbacks",
    "Add the personal callbacks due within horizon_hours, each at its time for its agent",
)
_generator_route("numbers", NumberInput, "number", "Add one number typed by hand")


@api.route(
    "POST",
    "/campaigns/{campaign_id}/list/upload",
    summary=(
        "Upload a list (CSV in UTF-8, UTF-8 with BOM or GBK, or xlsx; at most 10 MB) as the "
        "body, ?filename= naming it: a phone column (phone, number, 电话, …), optionally name, "
        "account_number or customer_id, reason; other columns kept for the script. Refused "
        "rows are in the report (GET the `report` link)"
    ),
    access=LISTS,
    upload=UPLOADS,
    tag="call lists",
)
async def api_upload(request: web.Request) -> object:
    return await upload_list(request, path_id(request, "campaign_id"))


@api.route(
    "GET",
    "/campaigns/{campaign_id}/rules",
    summary="The campaign's standing rules",
    access=SEE,
    tag="call lists",
)
async def api_rules(request: web.Request) -> object:
    campaign_id = path_id(request, "campaign_id")
    async with _uow(request) as uow:
        await campaigns.campaign(uow.session, campaign_id)
        return {"rules": await campaign_rules(uow.session, campaign_id)}


@api.route(
    "POST",
    "/campaigns/{campaign_id}/rules",
    summary=(
        "Keep a standing rule (kind order_confirmation, segment or abandoned_call, with its "
        "filters) that fills the list as the CRM changes while the campaign runs"
    ),
    access=LISTS,
    body=RuleInput,
    status=201,
    tag="call lists",
)
async def api_add_rule(request: web.Request, data: RuleInput) -> object:
    return await add_rule(request, path_id(request, "campaign_id"), data)


@api.route(
    "PATCH",
    "/campaigns/{campaign_id}/rules/{rule_id}",
    summary="Turn a standing rule off (what it added stays listed) or on again",
    access=LISTS,
    body=RuleSwitch,
    tag="call lists",
)
async def api_switch_rule(request: web.Request, data: RuleSwitch) -> object:
    campaign_id, rule_id = path_id(request, "campaign_id"), path_id(request, "rule_id")
    return await switch_rule(request, campaign_id, rule_id, data.enabled)


@api.route(
    "POST",
    "/campaigns/{campaign_id}/rules/run",
    summary="Run the campaign's standing rules now (a running or paused campaign's)",
    access=LISTS,
    tag="call lists",
)
async def api_run_rules(request: web.Request) -> object:
    return await run_campaign_rules(request, path_id(request, "campaign_id"))


# ------------------------------------------------------------------ pages


async def _choices(request: web.Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        agents = await campaigns.outbound_agents(uow.session)
    choices = {
        "modes": [str(m) for m in Mode],
        "machine_rules": [str(r) for r in MachineRule],
        "retry_keys": RETRY_KEYS,
        "weekday_names": WEEKDAYS,
        "zones": _zones(),
        "agents": agents,
    }
    return {**choices, "choices": choices}  # the settings form takes them all at once


_ZONES: list[str] = []


def _zones() -> list[str]:
    if not _ZONES:
        _ZONES.extend(sorted(z for z in available_timezones() if "/" in z and "Etc" not in z))
    return _ZONES


def _form_shape(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as the settings form shows them: text, weekdays as strings, none as empty."""
    shaped = {k: ("" if v is None else v) for k, v in values.items()}
    days = shaped.get("weekdays") or []
    if isinstance(days, str):
        days = list(days)
    shaped["weekdays"] = [str(d) for d in days]
    agents = shaped.get("agents") or []
    shaped["agents"] = [str(a) for a in (agents if isinstance(agents, list) else [agents])]
    return shaped


@routes.get("/campaigns")
@requires(SEE)
async def campaigns_page(request: web.Request) -> web.Response:
    values = {**NEW_CAMPAIGN, "region": request.app[settings_key].default_region}
    return await _campaigns_page(request, values)


async def _campaigns_page(
    request: web.Request, values: dict[str, Any], problem: DomainError | None = None
) -> web.Response:
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    return render(
        request,
        "campaigns.html",
        {
            "campaigns": await find_campaigns(request),
            "values": _form_shape(values),
            "error": error,
            "fields": fields,
            **(await _choices(request)),
        },
        status=status,
    )


@routes.post("/campaigns")
@requires(MANAGE)
async def create_submit(request: web.Request) -> web.Response:
    values = form_values(await read_form(request), lists=("weekdays", "agents"))
    try:
        made, _ = await create_campaign(request, values)
    except DomainError as exc:
        return await _campaigns_page(request, values, exc)
    raise web.HTTPSeeOther(f"/campaigns/{made['id']}?saved=created")


@routes.get("/campaigns/{campaign_id}")
@requires(SEE)
async def campaign_page(request: web.Request) -> web.Response:
    campaign_id = path_id(request, "campaign_id")
    if (kind := requested_export(request)) is not None:
        query = validate(EntryQuery, query_values(request.query, ENTRY_FILTERS))
        items = await _all_entries(request, campaign_id, query)
        return await export_response(items, kind, f"campaign-{campaign_id}-list")
    return await _campaign_page(request, campaign_id)


async def _campaign_page(
    request: web.Request,
    campaign_id: int,
    *,
    problem: DomainError | None = None,
    form: str = "",
    values: dict[str, Any] | None = None,
) -> web.Response:
    """The campaign's page; after a refused form (``form`` names it) with its values and the
    errors beside its fields."""
    status, error, fields = form_problem(problem) if problem else (200, "", {})
    saved = "" if problem else request.query.get("saved", "")[:20]
    view = await campaign_view(request, campaign_id)
    campaign = view["campaign"]
    filters = query_values(request.query, (*ENTRY_FILTERS, "page"))
    entries: dict[str, Any] = {"items": [], "total": 0, "page": 1, "more": False}
    entries_error = ""
    try:
        entries = await find_entries(
            request,
            campaign_id,
            validate(EntryQuery, {**filters, "per_page": PER_PAGE}),
        )
    except InvalidInput as exc:
        entries_error = exc.message
    start_notes: list[str] = []
    if saved == "started" and campaign["status"] == campaigns.RUNNING:
        async with _uow(request) as uow:
            row = await campaigns.campaign(uow.session, campaign_id)
            start_notes = await _start_warnings(request, uow.session, row)
    async with request.app[db_key]() as db:
        dictionary = DictionaryService(db, clock=request.app[clock_key])
        regions = await dictionary.entries("region", active_only=True)
        levels = await dictionary.entries("customer_level", active_only=True)
    settings_values = (
        values if form == "settings" and values is not None else _settings_values(campaign)
    )
    return render(
        request,
        "campaign.html",
        {
            **view,
            "values": _form_shape(settings_values),
            "list_values": values if form and form != "settings" and values else {},
            "form": form,
            "error": error,
            "fields": fields,
            "saved": saved,
            "added": _counts(request.query) if saved in ("list", "rules") else {},
            "start_warnings": start_notes,
            "actions": [
                a
                for a, (allowed, _) in campaigns.TRANSITIONS.items()
                if campaign["status"] in allowed
            ],
            "entries": entries,
            "entries_error": entries_error,
            "filters": filters,
            "states": STATES,
            "kinds": KINDS,
            "rule_kinds": RULE_KINDS,
            "regions": regions,
            "levels": levels,
            "live_json": json.dumps(view["live"]) if view["live"] else "",
            **(await _choices(request)),
        },
        status=status,
    )


def _settings_values(campaign: dict[str, Any]) -> dict[str, Any]:
    values = dict(campaign)
    values["abandon_cap"] = f"{campaign['abandon_cap'] * 100:g}"
    for outcome, minutes in values.pop("retry_minutes").items():
        values[f"retry_{outcome}"] = minutes
    return values


def _counts(query: Mapping[str, str]) -> dict[str, int]:
    """What a list change did, carried over the redirect (numbers only)."""
    counts = {}
    for name in ("added", "merged", "reopened", "retimed", "dnc", "skipped", "cleared"):
        value = query.get(name, "")
        if value.isdigit() and len(value) < 10:
            counts[name] = int(value)
    return counts


def _after_list(campaign_id: int, result: Mapping[str, Any], saved: str = "list") -> str:
    shown = "&".join(
        f"{k}={v}" for k, v in result.items() if isinstance(v, int) and not isinstance(v, bool)
    )
    return f"/campaigns/{campaign_id}?saved={saved}&{shown}#list"


@routes.post("/campaigns/{campaign_id}")
@requires(MANAGE)
async def settings_submit(request: web.Request) -> web.Response:
    campaign_id = path_id(request, "campaign_id")
    values = form_values(await read_form(request), lists=("weekdays", "agents"))
    try:
        await update_campaign(request, campaign_id, values, partial=False)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _campaign_page(
            request, campaign_id, problem=exc, form="settings", values=values
        )
    raise web.HTTPSeeOther(f"/campaigns/{campaign_id}?saved=settings")


@routes.post(r"/campaigns/{campaign_id}/{action:(start|pause|stop)}")
@requires(MANAGE)
async def status_submit(request: web.Request) -> web.Response:
    campaign_id = path_id(request, "campaign_id")
    action = request.match_info["action"]
    await read_form(request)  # the CSRF token was checked by the middleware
    try:
        await change_status(request, campaign_id, action)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _campaign_page(request, campaign_id, problem=exc, form="status")
    done = {"start": "started", "pause": "paused", "stop": "stopped"}[action]
    raise web.HTTPSeeOther(f"/campaigns/{campaign_id}?saved={done}")


def _generator_input(kind: str, values: dict[str, Any]) -> BaseModel:
    """A generator's form as the API's body model (blank fields left out)."""
    given: dict[str, Any] = {k: v for k, v in values.items() if v not in ("", [])}
    standing = given.pop("standing", "") == "on"
    if kind == "order_confirmations":
        return validate(OrderBatch, {**given, "standing": standing})
    if kind == "segment":
        churn = given.pop("churn", "")
        if churn in ("yes", "no"):
            given["churn"] = churn == "yes"
        for name in ("last_order_before", "last_order_after"):
            if name in given:
                given[name] = f"{given[name]}T00:00:00+00:00"  # a day, at its start (UTC)
        if "products" in given:
            given["products"] = [
                int(p) if p.isdigit() and len(p) < 18 else p
                for p in (part.strip() for part in given["products"].split(","))
                if p
            ]
        return validate(SegmentBatch, {**given, "standing": standing})
    if kind == "abandoned_calls":
        queues = [q.strip() for q in given.pop("queues", "").split(",") if q.strip()]
        return validate(AbandonedBatch, {**given, "queues": queues, "standing": standing})
    if kind == "callbacks":
        return validate(CallbackBatch, given)
    return validate(NumberInput, {"number": "", **given})


@routes.post("/campaigns/{campaign_id}/list/{kind:(" + "|".join(GENERATORS) + ")}")
@requires(LISTS)
async def generator_submit(request: web.Request) -> web.Response:
    campaign_id = path_id(request, "campaign_id")
    kind = request.match_info["kind"]
    values = form_values(await read_form(request))
    try:
        result = await build_list(request, campaign_id, kind, _generator_input(kind, values))
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _campaign_page(request, campaign_id, problem=exc, form=kind, values=values)
    raise web.HTTPSeeOther(_after_list(campaign_id, result))


@routes.post(r"/campaigns/{campaign_id}/rules/{rule_id:\d+}/{switch:on|off}")
@requires(LISTS)
async def rule_switch_submit(request: web.Request) -> web.Response:
    campaign_id, rule_id = path_id(request, "campaign_id"), path_id(request, "rule_id")
    await read_form(request)
    await switch_rule(request, campaign_id, rule_id, request.match_info["switch"] == "on")
    raise web.HTTPSeeOther(f"/campaigns/{campaign_id}#rules")


@routes.post("/campaigns/{campaign_id}/rules/run")
@requires(LISTS)
async def rules_run_submit(request: web.Request) -> web.Response:
    campaign_id = path_id(request, "campaign_id")
    await read_form(request)
    result = await run_campaign_rules(request, campaign_id)
    raise web.HTTPSeeOther(_after_list(campaign_id, result, "rules"))
