"""Liveness, readiness (database reachable, schema at head, bus up) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from crm_core.migrate import current_revision, head_revision
from web.access import public
from web.appkeys import bus_key, engine_key, metrics_key
from web.pbx import pbx_status

routes = web.RouteTableDef()


@routes.get("/healthz")
@public
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


@routes.get("/readyz")
@public
async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, dict[str, object]] = {}
    engine = request.app[engine_key]
    try:
        async with asyncio.timeout(3):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            current, head = await current_revision(engine), head_revision()
        checks["database"] = {"ok": True, "dialect": engine.dialect.name}
        checks["migrations"] = {"ok": current == head, "current": current, "head": head}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        checks["migrations"] = {"ok": False, "error": "database unreachable"}
    bus = request.app[bus_key]
    checks["bus"] = {"ok": await bus.ping(), "kind": bus.kind}
    ready = all(bool(c["ok"]) for c in checks.values())
    # The PBX link is shown, not required: without it the CRM still serves pages and the API,
    # and the link heals itself; taking every instance out of a load balancer would not help.
    pbx = pbx_status(request.app)
    if pbx is not None:
        checks["pbx"] = pbx
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


@routes.get("/metrics")
@public
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[metrics_key].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
