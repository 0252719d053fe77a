"""The home page: what this user's roles let them do, and nothing else."""

from __future__ import annotations

from aiohttp import web

from crm_core.permissions import PERMISSIONS
from web.principal import require_principal
from web.render import render

routes = web.RouteTableDef()


@routes.get("/", name="home")
async def home(request: web.Request) -> web.Response:
    who = require_principal(request)
    mine = [(p, PERMISSIONS[p]) for p in sorted(who.permissions) if p in PERMISSIONS]
    return render(request, "home.html", {"permissions": mine})
