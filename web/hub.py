"""The websocket hub: which browser sockets are open on this instance, and delivery to them.

Each socket has its own bounded queue and writer task, so one slow browser never holds up a
message to anyone else; a socket whose queue overflows is closed (its page reconnects).

A socket holds its user's permissions from when it opened; when an administrator changes them
(`PermissionsChanged`, and a periodic re-read in case a notice was lost) every instance
re-reads them and applies them to the open sockets, and each message is checked against them
again when it is written."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import WSCloseCode, web

from desk import notifications as note
from desk.workers import background
from web.metrics import Metrics

log = structlog.get_logger("web.hub")

# Only tabs of users who take calls receive what concerns calls.
CALLS_PERMISSION = "calls.handle"
MONITOR_PERMISSION = "campaigns.monitor"  # agents' live rows go to users who monitor
POP_TYPE = note.Offered.type
QUEUE_SIZE = 256
# What each of these users may do now (the disabled and the gone left out).
PermissionsOf = Callable[[list[int]], Awaitable[dict[int, frozenset[str]]]]


@dataclass(frozen=True, slots=True)
class Close:
    """Queued after a final message: send it, then close the socket with this code. The page
    goes to the login on 1008 (session over) and reconnects on anything else."""

    code: int


SESSION_OVER = Close(WSCloseCode.POLICY_VIOLATION)
SLOW_CONSUMER = Close(WSCloseCode.TRY_AGAIN_LATER)
GOING_AWAY = Close(WSCloseCode.GOING_AWAY)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message encoded once for every socket it goes to; ``pop_offered_at``: a pop's
    stamp (when its AMI frame was read), observed when the pop is written; ``needs``: the
    permission a socket must still hold when the message is written to it."""

    text: str
    pop_offered_at: float | None = None
    needs: str | None = None

    @classmethod
    def of(cls, message: dict[str, Any], *, needs: str | None = None) -> Outgoing:
        text = json.dumps(message, separators=(",", ":"))
        first_pop = message.get("type") == POP_TYPE and not message.get("again")
        return cls(text, message.get("offered_at") if first_pop else None, needs)


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    user_id: int
    username: str
    session_id: str
    permissions: frozenset[str]
    queue: asyncio.Queue[Outgoing | Close] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    writer: asyncio.Task[None] | None = None


class Hub:
    def __init__(
        self,
        *,
        notifier: note.Notifier,
        metrics: Metrics,
        permissions_of: PermissionsOf | None = None,
    ) -> None:
        self.notifier = notifier
        self.metrics = metrics
        self.permissions_of = permissions_of
        self.by_session: defaultdict[str, set[Connection]] = defaultdict(set)
        self.by_user: defaultdict[int, set[Connection]] = defaultdict(set)
        self.monitors: set[Connection] = set()  # sockets of users who see the agents' rows
        # Permission reads are numbered: one that started earlier never undoes a later one.
        self._reads = itertools.count()
        self._read_applied: dict[int, int] = {}

    async def start(self) -> None:
        await self.notifier.subscribe(note.SessionsEnded, self._on_sessions_ended)
        await self.notifier.subscribe(note.ToAgent, self._on_agent_event)
        await self.notifier.subscribe(note.ToSupervisors, self._on_monitor_event)
        await self.notifier.subscribe(note.PermissionsChanged, self._on_permissions_changed)

    async def close(self) -> None:
        """Close every socket (pages reconnect, to another instance if this one is going)."""
        conns = [c for cs in self.by_session.values() for c in cs]
        for conn in conns:
            self.send(conn, {"type": "server.shutdown"}, then_close=GOING_AWAY)
        writers = [c.writer for c in conns if c.writer is not None]
        if writers:
            await asyncio.wait(writers, timeout=2)

    def attach(self, conn: Connection) -> None:
        self.by_session[conn.session_id].add(conn)
        self.by_user[conn.user_id].add(conn)
        if MONITOR_PERMISSION in conn.permissions:
            self.monitors.add(conn)
        conn.writer = asyncio.create_task(self._write(conn), name=f"ws-writer-{conn.username}")
        self.metrics.websockets.inc()

    async def ask_for_pending(self, conn: Connection) -> None:
        """A tab of an agent connected: whatever rings for them is sent again."""
        if CALLS_PERMISSION in conn.permissions:
            await self.notifier.publish(note.AgentTabOpened(user_id=conn.user_id))
        if MONITOR_PERMISSION in conn.permissions:
            await self.notifier.publish(note.SupervisorTabOpened())

    async def detach(self, conn: Connection) -> None:
        self.by_session[conn.session_id].discard(conn)
        if not self.by_session[conn.session_id]:
            del self.by_session[conn.session_id]
        self.by_user[conn.user_id].discard(conn)
        if not self.by_user[conn.user_id]:
            del self.by_user[conn.user_id]
            self._read_applied.pop(conn.user_id, None)
        self.monitors.discard(conn)
        if conn.writer is not None and conn.writer is not asyncio.current_task():
            conn.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conn.writer
        self.metrics.websockets.dec()

    def send(
        self,
        conn: Connection,
        message: dict[str, Any] | Outgoing,
        *,
        then_close: Close | None = None,
    ) -> None:
        if not isinstance(message, Outgoing):
            message = Outgoing.of(message)
        try:
            conn.queue.put_nowait(message)
            if then_close is not None:
                conn.queue.put_nowait(then_close)
        except asyncio.QueueFull:
            self.metrics.ws_dropped.inc()
            log.warning("ws.slow_consumer_closed", user=conn.username)
            # The page reconnects and catches up; the writer closes the socket now.
            while not conn.queue.empty():
                conn.queue.get_nowait()
            conn.queue.put_nowait(SLOW_CONSUMER)

    def send_to_user(self, user_id: int, message: dict[str, Any]) -> int:
        conns = list(self.by_user.get(user_id, ()))
        outgoing = Outgoing.of(message)
        for conn in conns:
            self.send(conn, outgoing)
        return len(conns)

    def end_sessions(self, session_ids: list[str], reason: str) -> None:
        """Tell these sessions' pages they are signed out, then close their sockets."""
        for session_id in session_ids:
            for conn in list(self.by_session.get(session_id, ())):
                log.info("ws.session_ended", user=conn.username, reason=reason)
                self.send(
                    conn, {"type": "session.ended", "reason": reason}, then_close=SESSION_OVER
                )

    async def refresh_permissions(self, user_ids: list[int]) -> None:
        """Re-read what these users may do and apply it to their sockets here: what they lost
        stops at once (queued messages included), what they gained starts. A user disabled
        meanwhile is signed out."""
        here = [u for u in dict.fromkeys(user_ids) if u in self.by_user]
        if not here or self.permissions_of is None:
            return
        read = next(self._reads)
        current = await self.permissions_of(here)
        for user_id in here:
            if self._read_applied.get(user_id, -1) > read or user_id not in self.by_user:
                continue
            self._read_applied[user_id] = read
            permissions = current.get(user_id)
            conns = list(self.by_user.get(user_id, ()))
            if permissions is None:
                self.end_sessions(list({c.session_id for c in conns}), "disabled")
                continue
            for conn in conns:
                if permissions != conn.permissions:
                    self._apply(conn, permissions)

    def _apply(self, conn: Connection, permissions: frozenset[str]) -> None:
        log.info(
            "ws.permissions_changed",
            user=conn.username,
            lost=sorted(conn.permissions - permissions),
            gained=sorted(permissions - conn.permissions),
        )
        conn.permissions = permissions
        if MONITOR_PERMISSION in permissions:
            self.monitors.add(conn)
        else:
            self.monitors.discard(conn)
        self.send(conn, {"type": "permissions.changed"})

    def _on_permissions_changed(self, message: note.PermissionsChanged) -> None:
        background(self.refresh_permissions(message.user_ids), what="ws permissions refresh")

    def _on_agent_event(self, envelope: note.ToAgent) -> None:
        conns = [
            c for c in self.by_user.get(envelope.user_id, ()) if CALLS_PERMISSION in c.permissions
        ]
        if conns:
            outgoing = Outgoing.of(envelope.message, needs=CALLS_PERMISSION)
            for conn in conns:
                self.send(conn, outgoing)

    def _on_monitor_event(self, envelope: note.ToSupervisors) -> None:
        if self.monitors:
            outgoing = Outgoing.of(envelope.message, needs=MONITOR_PERMISSION)
            for conn in list(self.monitors):
                self.send(conn, outgoing)

    def _on_sessions_ended(self, message: note.SessionsEnded) -> None:
        self.end_sessions(message.session_ids, message.reason)

    async def _write(self, conn: Connection) -> None:
        try:
            while True:
                item = await conn.queue.get()
                if isinstance(item, Close):
                    await conn.ws.close(code=item.code)
                    return
                if item.needs is not None and item.needs not in conn.permissions:
                    continue  # queued before the permission was taken away
                await conn.ws.send_str(item.text)
                if item.pop_offered_at is not None:
                    self.metrics.pop_seconds.observe(time.time() - item.pop_offered_at)
        except (ConnectionResetError, RuntimeError):
            return  # the browser went away; the reader side detaches


async def announce_sessions_ended(
    notifier: note.Notifier, session_ids: list[str], reason: str
) -> None:
    """Tell every instance to close these sessions' sockets (their pages show the login)."""
    if session_ids:
        await notifier.publish(note.SessionsEnded(session_ids=session_ids, reason=reason))


async def announce_permissions_changed(notifier: note.Notifier, user_ids: list[int]) -> None:
    """Tell every instance to re-read these users' permissions for their open sockets."""
    if user_ids:
        await notifier.publish(note.PermissionsChanged(user_ids=user_ids))


async def sweep_ended_sessions(
    hub: Hub, over_among: Callable[[list[str]], Awaitable[dict[str, str]]], every: float
) -> None:
    """Close the sockets of sessions that ended without a bus message reaching this instance
    (idle expiry, or a message lost while the bus was down); re-read permissions likewise."""
    while True:
        await asyncio.sleep(every)
        try:
            over = await over_among(list(hub.by_session))
            for session_id, reason in over.items():
                hub.end_sessions([session_id], reason)
            await hub.refresh_permissions(list(hub.by_user))
        except Exception:
            log.exception("ws.sweep_failed")
