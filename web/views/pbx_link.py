"""The PBX administrator's view of the link: who drives it, whether it is up, its last error,
the workers behind it and the calls it sees now (this instance's view; another instance that
drives the link is named)."""

from __future__ import annotations

import time

from aiohttp import web

from web.access import requires
from web.appkeys import pbx_key
from web.pbx import pbx_status
from web.render import render

routes = web.RouteTableDef()


@routes.get("/pbx")
@requires("pbx.monitor")
async def pbx_link(request: web.Request) -> web.Response:
    status = pbx_status(request.app)
    runtime = request.app[pbx_key].runtime
    now = time.time()
    calls = [
        {
            "caller": call.caller_number or call.customer_number or "unknown",
            "direction": str(call.direction),
            "queue": call.queue,
            "agent": call.agent_interface,
            "state": call.state,
            "seconds": now - call.offered_at,
        }
        for call in (runtime.telephony.calls.open_calls() if runtime else [])
    ]
    workers = (status or {}).get("workers") or {}
    return render(
        request,
        "pbx_link.html",
        {"status": status, "calls": calls, "workers": workers, "now": now},
    )
