"""The agent desktop: state (ready / paused with a reason / logged out of the queues), the live
call and the screen pop, all pushed over the websocket (no polling)."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from crm_core.dictionary import DictionaryService
from crm_core.schemas import Input
from web.access import requires
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key, desk_key, settings_key
from web.principal import require_principal
from web.render import render

routes = web.RouteTableDef()
api = ApiRoutes()
QueueName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class AgentStateInput(Input):
    state: Literal["ready", "paused", "logged_out"]
    reason: Annotated[str, StringConstraints(max_length=64)] | None = None
    queues: list[QueueName] | None = Field(default=None, max_length=20)


@routes.get("/agent")
@requires("calls.handle")
async def desktop(request: web.Request) -> web.Response:
    async with request.app[db_key]() as db:
        dictionary = DictionaryService(db, clock=request.app[clock_key])
        reasons = await dictionary.entries("pause_reason", active_only=True)
        dispositions = await dictionary.entries("disposition", active_only=True)
    return render(
        request,
        "agent.html",
        {
            "reasons": reasons,
            "dispositions": dispositions,
            "queues": request.app[settings_key].agent_default_queues,
        },
    )


@api.route(
    "POST",
    "/agent/state",
    summary="Go ready, pause with a reason, or leave the queues",
    access="calls.handle",
    body=AgentStateInput,
    tag="agent",
)
async def set_state(request: web.Request, data: AgentStateInput) -> object:
    return await request.app[desk_key].set_state(
        require_principal(request).user_id, data.state, data.reason, data.queues
    )
