"""The supervisor's live board of agents (rows arrive over the websocket: web/supervision.py)."""

from __future__ import annotations

from aiohttp import web

from crm_core.dictionary import DictionaryService
from web.access import requires
from web.appkeys import clock_key, db_key
from web.render import render

routes = web.RouteTableDef()


@routes.get("/supervisor")
@requires("campaigns.monitor")
async def supervisor(request: web.Request) -> web.Response:
    async with request.app[db_key]() as db:
        reasons = await DictionaryService(db, clock=request.app[clock_key]).entries("pause_reason")
    return render(request, "supervisor.html", {"reasons": reasons})
