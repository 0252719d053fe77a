"""The agent desktop: state (ready / paused with a reason / logged out of the queues), the live
call and the screen pop, all pushed over the websocket (no polling)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from crm_core.dictionary import DictionaryService
from crm_core.errors import InvalidInput
from crm_core.schemas import Input
from cti.ami import actions
from cti.ami.errors import ActionFailed, AmiError
from web.access import requires
from web.api.endpoints import api
from web.appkeys import clock_key, db_key, settings_key
from web.principal import require_principal
from web.render import render
from web.views.calls import my_phone, pbx_link

routes = web.RouteTableDef()
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
    return render(request, "agent.html", {
        "reasons": reasons, "dispositions": dispositions,
        "queues": request.app[settings_key].agent_default_queues,
    })


@api.route("POST", "/agent/state", summary="Go ready, pause with a reason, or leave the queues",
           access="calls.handle", body=AgentStateInput, tag="agent")
async def set_state(request: web.Request, data: AgentStateInput) -> object:
    who = require_principal(request)
    settings = request.app[settings_key]
    link = pbx_link(request)
    if data.state == "paused":
        async with request.app[db_key]() as db:
            codes = {e.code for e in await DictionaryService(
                db, clock=request.app[clock_key]).entries("pause_reason", active_only=True)}
        if data.reason not in codes:
            raise InvalidInput("choose a pause reason from the dictionary", field="reason")
    _user, interface = await my_phone(request)
    queues = data.queues or settings.agent_default_queues
    try:
        for queue in queues:
            if data.state == "logged_out":
                await _tolerate(link.send(actions.queue_remove(queue, interface)), "Not there")
            else:
                await _tolerate(link.send(actions.queue_add(
                    queue, interface, member_name=who.display_name, state_interface=interface,
                )), "Already there")
                await link.send(actions.queue_pause(
                    interface, data.state == "paused", queue=queue, reason=data.reason))
    except AmiError as exc:
        raise web.HTTPBadGateway(reason=f"the PBX refused: {exc}") from exc
    return {"state": data.state, "reason": data.reason, "queues": queues, "interface": interface}


async def _tolerate(sending: Awaitable[Any], harmless: str) -> None:
    """QueueAdd of a member already there (or removal of one not there) is not a failure."""
    try:
        await sending
    except ActionFailed as exc:
        if harmless.lower() not in exc.message.lower():
            raise
