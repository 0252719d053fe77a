"""The supervisor's live board of agents (rows arrive over the websocket: web/supervision.py)."""

from __future__ import annotations

from aiohttp import web

from web.access import requires
from web.render import render

routes = web.RouteTableDef()


@routes.get("/supervisor")
@requires("campaigns.monitor")
async def supervisor(request: web.Request) -> web.Response:
    return render(request, "supervisor.html")
