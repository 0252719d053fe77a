"""The browser's websocket: one per open tab, for everything live (sign-out notices now; pops,
states and wallboards in later features). Session, permission and Origin are checked on upgrade."""

from __future__ import annotations

import json

import structlog
from aiohttp import WSMsgType, web

from crm_core import sessions
from crm_core.errors import Forbidden
from crm_core.uow import UnitOfWork
from web.appkeys import clock_key, db_key, hub_key, session_policy_key
from web.hub import SESSION_OVER, Connection
from web.principal import require_principal
from web.security import origin_allowed

log = structlog.get_logger("web.ws")
routes = web.RouteTableDef()
MAX_MESSAGE = 16 * 1024


@routes.get("/ws", name="ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    who = require_principal(request)  # the auth middleware already refused anonymous upgrades
    if not origin_allowed(request):
        log.warning("ws.origin_refused", origin=request.headers.get("Origin", ""))
        raise Forbidden("websocket from a foreign origin")
    ws = web.WebSocketResponse(heartbeat=25, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    hub = request.app[hub_key]
    conn = Connection(
        ws=ws,
        user_id=who.user_id,
        username=who.username,
        session_id=who.session_id,
        permissions=who.permissions,
    )
    hub.attach(conn)
    # The server's time: the page's clocks count from the server's stamps, not the PC's.
    now = request.app[clock_key]().timestamp()
    hub.send(conn, {"type": "hello", "user": who.username, "now": now})
    await hub.ask_for_pending(conn)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:  # e.g. larger than MAX_MESSAGE: aiohttp closes it
                log.warning("ws.message_refused", user=conn.username, error=str(ws.exception()))
                continue
            if msg.type != WSMsgType.TEXT:
                continue
            await _on_message(request, conn, msg.data)
    finally:
        await hub.detach(conn)
    return ws


async def _on_message(request: web.Request, conn: Connection, data: str) -> None:
    try:
        message = json.loads(data)
        kind = message.get("type") if isinstance(message, dict) else None
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the decoder goes
        kind = None
    if kind == "ping":
        request.app[hub_key].send(conn, {"type": "pong"})
    elif kind == "activity":
        # The user works in the open page without loading another: keep the session alive.
        async with UnitOfWork(request.app[db_key]) as uow:
            alive = await sessions.keep_alive(
                uow.session,
                conn.session_id,
                now=request.app[clock_key](),
                policy=request.app[session_policy_key],
            )
            await uow.commit()
        if not alive:
            request.app[hub_key].send(
                conn, {"type": "session.ended", "reason": "expired"}, then_close=SESSION_OVER
            )
    else:
        log.warning("ws.message_refused", user=conn.username, size=len(data))
        request.app[hub_key].send(conn, {"type": "error", "message": "unknown message type"})
