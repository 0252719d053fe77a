"""The outbound agent's API: the campaigns to work, joining one, the preview of the next entry
(dial or skip it). The result of a campaign call goes with the wrap-up (web.views.calls)."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from crm_core.schemas import Input
from web.api.registry import ApiRoutes
from web.appkeys import outbound_key
from web.inputs import path_id
from web.principal import actor, require_principal

api = ApiRoutes()
ACCESS = "calls.outbound"


class SkipInput(Input):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


@api.route(
    "GET",
    "/outbound/campaigns",
    summary="Campaigns an outbound agent can work (running or paused)",
    access=ACCESS,
    tag="outbound",
)
async def workable(request: web.Request) -> object:
    user_id = require_principal(request).user_id
    return {"campaigns": await request.app[outbound_key].workable(user_id)}


@api.route(
    "POST",
    "/outbound/campaigns/{campaign_id}/join",
    summary="Go ready in the campaign's queue",
    access=ACCESS,
    tag="outbound",
)
async def join(request: web.Request) -> object:
    return await request.app[outbound_key].join(
        require_principal(request).user_id, path_id(request, "campaign_id")
    )


@api.route(
    "POST",
    "/outbound/campaigns/{campaign_id}/leave",
    summary="Leave the campaign's queue",
    access=ACCESS,
    tag="outbound",
)
async def leave(request: web.Request) -> object:
    return await request.app[outbound_key].leave(
        require_principal(request).user_id, path_id(request, "campaign_id")
    )


@api.route(
    "POST",
    "/outbound/campaigns/{campaign_id}/next",
    summary="Preview: the next entry to call, reserved for me (null when none is due)",
    access=ACCESS,
    tag="outbound",
)
async def next_entry(request: web.Request) -> object:
    entry = await request.app[outbound_key].next_entry(
        require_principal(request).user_id, path_id(request, "campaign_id")
    )
    return {"entry": entry}


@api.route(
    "POST",
    "/outbound/campaigns/{campaign_id}/entries/{entry_id}/dial",
    summary="Preview: dial the entry shown to me (checked again first)",
    access=ACCESS,
    status=202,
    tag="outbound",
)
async def dial(request: web.Request) -> object:
    return await request.app[outbound_key].dial(
        require_principal(request).user_id,
        path_id(request, "campaign_id"),
        path_id(request, "entry_id"),
    )


@api.route(
    "POST",
    "/outbound/campaigns/{campaign_id}/entries/{entry_id}/skip",
    summary="Preview: not this one now; it goes back to the list",
    access=ACCESS,
    body=SkipInput,
    tag="outbound",
)
async def skip(request: web.Request, data: SkipInput) -> object:
    await request.app[outbound_key].skip(
        require_principal(request).user_id,
        actor(request),
        path_id(request, "campaign_id"),
        path_id(request, "entry_id"),
        data.reason,
    )
    return {"skipped": True}
