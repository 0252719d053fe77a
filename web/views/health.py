"""Liveness, readiness (database reachable, schema at head, bus up) and Prometheus metrics.

/healthz is public. /metrics and the details of /readyz (versions, the AMI link's last error,
the workers) are for `Authorization: Bearer <METRICS_TOKEN>`, for users with pbx.monitor, and
for clients on this machine talking to us directly (the container's health check, a local
scraper, the benchmarks). /readyz's status code stays public: a load balancer's health check
cannot always send a header."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from crm_core.errors import Forbidden, Unauthorized
from crm_core.migrate import current_revision, head_revision
from web.access import public
from web.appkeys import bus_key, engine_key, metrics_key, settings_key
from web.pbx import pbx_status
from web.principal import principal
from web.security import is_loopback_client, tokens_match

MONITOR_PERMISSION = "pbx.monitor"
BEARER = "Bearer "

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
    status = 200 if ready else 503
    if not may_read_internals(request):
        return web.json_response({"status": "ready" if ready else "not ready"}, status=status)
    # The PBX link is shown, not required: without it the CRM still serves pages and the API,
    # and the link heals itself; taking every instance out of a load balancer would not help.
    pbx = pbx_status(request.app)
    if pbx is not None:
        checks["pbx"] = pbx
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks}, status=status
    )


@routes.get("/metrics")
@public
async def metrics(request: web.Request) -> web.Response:
    if not may_read_internals(request):
        if principal(request) is not None:
            raise Forbidden(f"the metrics need the permission {MONITOR_PERMISSION!r}")
        raise Unauthorized("the metrics need a token: Authorization: Bearer <METRICS_TOKEN>")
    body = generate_latest(request.app[metrics_key].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def may_read_internals(request: web.Request) -> bool:
    token = request.app[settings_key].metrics_token.get_secret_value()
    given = request.headers.get("Authorization", "")
    if token and given.startswith(BEARER) and tokens_match(token, given[len(BEARER) :].strip()):
        return True
    who = principal(request)
    return (who is not None and who.can(MONITOR_PERMISSION)) or is_loopback_client(request)
