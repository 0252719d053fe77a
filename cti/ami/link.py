"""The AMI link: connect, log in, keep alive, and never lose a call across a dropped link.

One small reconnect loop (STYLE item 2): connect, log in, resynchronise, then read until the
link is lost; on a link error wait (backoff with jitter, on the stop event) and go again. A
keepalive Ping must be answered within a deadline, so a half-open link (peer gone, no RST) is
declared dead. Every frame goes synchronously to the listener, which must not block: Asterisk
drops a client that leaves it waiting (writetimeout, 100 ms by default)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from panoramisk.message import Message

from cti.ami import actions
from cti.ami.actions import Action
from cti.ami.errors import ActionFailed, ActionTimeout, LinkDown, LoginFailed
from cti.ami.framing import Frame
from cti.ami.protocol import FramedProtocol

log = structlog.get_logger("cti.link")
RAW_SAMPLE = 200  # bytes of a bad frame kept in the log


@dataclass(frozen=True, slots=True)
class LinkConfig:
    host: str
    port: int
    username: str
    secret: str
    # Event classes to receive: filtering at the source keeps the event path light.
    events: str = "on"
    # Event names the listener reacts to; others are dropped before decoding (None: all).
    wanted_events: frozenset[str] | None = None
    connect_timeout: float = 5.0
    action_timeout: float = 10.0
    ping_interval: float = 10.0
    ping_timeout: float = 20.0
    reconcile_interval: float = 30.0
    backoff_initial: float = 0.5
    # Low: a refused connection costs nothing, and every second of waiting after the PBX is
    # back is a second without pops (with jitter a retry comes at most 3 s apart).
    backoff_max: float = 2.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the PBX says is going on, fetched after a (re)connect and periodically."""

    requested_at: float
    channels: list[Frame]
    queue_status: list[Frame]
    # When the PBX started (CoreStatus); "" when it would not say. A change means a restart.
    pbx_started: str = ""
    # The first listing after the link was down: the last moment the PBX was heard before
    # (what vanished meanwhile was last known alive then). None for any other listing.
    gap_began: float | None = None


class LinkListener(Protocol):
    def on_event(self, frame: Frame, at: float) -> None: ...
    def on_snapshot(self, snapshot: Snapshot) -> None: ...
    def on_link_state(self, connected: bool, error: str | None) -> None: ...


@dataclass
class LinkStatus:
    connected: bool = False
    since: float | None = None  # wall time of the last change of `connected`
    reconnects: int = 0
    last_error: str | None = None
    events: int = 0
    bad_frames: int = 0
    unmatched_responses: int = 0
    resyncs: int = 0
    _per_second: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=11))

    def count_event(self, now: float) -> None:
        self.events += 1
        second = int(now)
        if self._per_second and self._per_second[-1][0] == second:
            self._per_second[-1] = (second, self._per_second[-1][1] + 1)
        else:
            self._per_second.append((second, 1))

    def events_per_second(self, now: float) -> float:
        """Mean over the last ten whole seconds."""
        current = int(now)
        total = sum(n for s, n in self._per_second if current - 10 <= s < current)
        return total / 10

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "since": self.since,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "events": self.events,
            "events_per_second": self.events_per_second(now),
            "bad_frames": self.bad_frames,
            "unmatched_responses": self.unmatched_responses,
            "resyncs": self.resyncs,
        }


class AmiLink:
    def __init__(
        self,
        config: LinkConfig,
        listener: LinkListener,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.listener = listener
        self.status = LinkStatus()
        self._wall = wall_clock
        self._stopping = asyncio.Event()
        self._protocol: FramedProtocol | None = None
        self._lost: asyncio.Future[str] | None = None
        self._connected = asyncio.Event()
        self._logged_in = False
        self._gap_began: float | None = None  # set when a session ends, taken by a snapshot
        self._gap_noted = False  # this session's end has set _gap_began

    # ------------------------------------------------------------------ lifetime

    async def run(self) -> None:
        """Keep the link up until `stop()`."""
        delay = self.config.backoff_initial
        while not self._stopping.is_set():
            self._logged_in = self._gap_noted = False
            try:
                error = await self._session()
            except (OSError, TimeoutError, LoginFailed, LinkDown, ActionFailed) as exc:
                error = f"{type(exc).__name__}: {exc}"
            if self._stopping.is_set():
                break
            self.status.last_error = error
            if self._logged_in:
                # The PBX took us in: a link that drops after that is retried at once (calls
                # are being missed); only failures to connect or log in back off further.
                delay = self.config.backoff_initial
            log.warning("ami.link_lost", error=error, retry_in=round(delay, 2))
            wait = delay * (0.5 + random.random())  # jitter: instances do not retry in step
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._stopping.wait()
            delay = min(delay * 2, self.config.backoff_max)
            self.status.reconnects += 1

    async def stop(self) -> None:
        self._stopping.set()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result("stopped")

    async def wait_connected(self) -> None:
        await self._connected.wait()

    @property
    def connected(self) -> bool:
        return self.status.connected

    async def _session(self) -> str:
        loop = asyncio.get_running_loop()
        config = self.config
        async with asyncio.timeout(config.connect_timeout):
            _, protocol = await loop.create_connection(
                lambda: FramedProtocol(config.wanted_events), config.host, config.port
            )
        protocol.sink = self
        self._protocol = protocol
        self._lost = loop.create_future()
        tasks: list[asyncio.Task[None]] = []
        try:
            response = await self._send(
                protocol,
                actions.action(
                    "Login", Username=config.username, Secret=config.secret, Events=config.events
                ),
                timeout=config.connect_timeout,
            )
            if not response.success:
                raise LoginFailed(str(response.get("Message", "login refused")))
            self._logged_in = True
            self._set_connected(True)
            log.info("ami.connected", host=config.host, port=config.port)
            tasks = [
                asyncio.create_task(self._keepalive(protocol), name="ami-keepalive"),
                asyncio.create_task(self._reconcile_periodically(), name="ami-reconcile"),
            ]
            return await self._lost
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            protocol.close()
            self._protocol = None
            if self._logged_in and not self._gap_noted:
                self._gap_began = self._wall()  # we left (stop, an error of ours)
            if self.status.connected:
                self._set_connected(False)

    def _set_connected(self, connected: bool) -> None:
        self.status.connected = connected
        self.status.since = self._wall()
        if connected:
            self._connected.set()
        else:
            self._connected.clear()
        self.listener.on_link_state(connected, None if connected else self.status.last_error)

    def _declare_lost(self, reason: str, *, alive_until: float | None = None) -> None:
        """``alive_until``: the last moment the PBX was known alive (default: now, as when
        it closed or reset the connection; a PBX that went silent was last heard earlier)."""
        if self._logged_in and not self._gap_noted:
            # The latest loss counts: events flowed after any earlier one.
            self._gap_began = self._wall() if alive_until is None else alive_until
            self._gap_noted = True
        # Down at once, not when the session has unwound: actions must not use the old link.
        if self.status.connected:
            self.status.last_error = reason
            self._set_connected(False)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)

    async def _keepalive(self, protocol: FramedProtocol) -> None:
        """Ping, and declare the link dead when the pong does not come in time: panoramisk
        pings but never checks the answer, so a half-open link would go unnoticed."""
        while True:
            await asyncio.sleep(self.config.ping_interval)
            try:
                await self._send(protocol, actions.ping(), timeout=self.config.ping_timeout)
            except ActionTimeout:
                self._declare_lost(
                    f"no answer to Ping within {self.config.ping_timeout:g} s",
                    alive_until=protocol.last_heard,
                )
                return

    async def _reconcile_periodically(self) -> None:
        """Resynchronise at once after (re)connecting, then now and then, so that a missed
        event heals without waiting for a disconnect."""
        while True:
            try:
                self.listener.on_snapshot(await self.snapshot())
                self.status.resyncs += 1
            except (ActionTimeout, ActionFailed) as exc:
                log.warning("ami.resync_failed", error=str(exc))
            except LinkDown:
                return
            await asyncio.sleep(self.config.reconcile_interval)

    # ------------------------------------------------------------------ actions

    async def send(
        self, action: Action, *, timeout: float | None = None, as_list: bool = False
    ) -> Any:
        """Send an action and wait for its answer (a Message, or a list for list actions).
        Raises LinkDown, ActionTimeout, or ActionFailed for `Response: Error`.

        `as_list` is always explicit: panoramisk otherwise guesses from the response text
        (an "Added interface to queue" answer makes it wait for more, forever). An Originate
        returns at "successfully queued"; how the call went comes as domain events."""
        protocol = self._protocol
        if protocol is None or not self.status.connected:
            raise LinkDown("the AMI link is not connected")
        answer = await self._send(protocol, action, timeout=timeout, as_list=as_list)
        first = answer[0] if isinstance(answer, list) else answer
        if first.get("Response") == "Error":
            raise ActionFailed(action.name, str(first.get("Message", "")), answer)
        return answer

    async def _send(
        self,
        protocol: FramedProtocol,
        action: Action,
        *,
        timeout: float | None,
        as_list: bool = False,
    ) -> Any:
        seconds = timeout or self.config.action_timeout
        future = protocol.send_action(action, as_list=as_list)
        try:
            # asyncio.timeout, never wait_for: on Python 3.11 wait_for loses a cancellation
            # that arrives as the answer does (LinkDown as the link stops, say), and the
            # cancelled worker runs on and holds up shutdown.
            async with asyncio.timeout(seconds):
                return await future
        except TimeoutError:
            protocol.responses.pop(action.action_id, None)
            raise ActionTimeout(action.name, action.action_id, seconds) from None

    async def snapshot(self) -> Snapshot:
        requested_at = self._wall()
        channels = await self.send(actions.core_show_channels(), as_list=True)
        queues = await self.send(actions.queue_status(), as_list=True)
        snapshot = Snapshot(
            requested_at=requested_at,
            channels=_items(channels, "CoreShowChannel"),
            queue_status=_items(queues, "QueueParams", "QueueMember", "QueueEntry"),
            pbx_started=await self._pbx_started(),
            gap_began=self._gap_began,
        )
        self._gap_began = None
        return snapshot

    async def _pbx_started(self) -> str:
        try:
            status = await self.send(actions.core_status())
        except ActionFailed:  # an AMI user without the system/reporting class
            return ""
        started = f"{status.get('CoreStartupDate', '')} {status.get('CoreStartupTime', '')}"
        return started.strip()

    async def channel_exists(self, uniqueid: str) -> bool:
        channels = await self.send(actions.core_show_channels(), as_list=True)
        return any(f.get("Uniqueid") == uniqueid for f in _items(channels, "CoreShowChannel"))

    async def originate(self, action: Action, *, timeout: float | None = None) -> Any:
        """Place a call once. If the link drops before Asterisk answers, wait for it to come
        back and look for the call's ChannelId before sending again, so a customer is never
        called twice."""
        channel_id = dict(action.headers).get("ChannelId")
        if not channel_id:
            raise ValueError("originate actions carry our own ChannelId")
        try:
            return await self.send(action, timeout=timeout)
        except (LinkDown, ActionTimeout) as first_error:
            async with asyncio.timeout(self.config.action_timeout * 3):
                await self.wait_connected()
            if await self.channel_exists(channel_id):
                log.info("ami.originate_already_placed", channel_id=channel_id)
                return None
            log.info("ami.originate_resent", channel_id=channel_id, error=str(first_error))
            retry = Action(action.name, action.headers)  # a new ActionID, the same ChannelId
            return await self.send(retry, timeout=timeout)

    # ------------------------------------------------------------------ FrameSink

    def on_event(self, frame: Frame, at: float) -> None:
        self.status.count_event(at)
        try:
            self.listener.on_event(frame, at)
        except Exception:
            # One bad event must not take the link (and every other call) down with it.
            log.exception("ami.event_handler_failed", ami_event=frame.name)

    def on_bad_frame(self, frame: Frame) -> None:
        self.status.bad_frames += 1
        log.warning(
            "ami.bad_frame",
            size=frame.raw_size,
            oversized=frame.oversized,
            problems=list(frame.problems)[:3],
            sample=repr(frame.headers)[:RAW_SAMPLE],
        )

    def on_unmatched_response(self, frame: Frame) -> None:
        self.status.unmatched_responses += 1
        log.info(
            "ami.unmatched_response",
            action_id=(frame.action_id or "")[:64],
            response=frame.name[:32],
        )

    def on_connection_lost(self, exc: BaseException | None) -> None:
        self._declare_lost(f"connection lost: {exc}" if exc else "connection closed by the PBX")


def _items(answer: Any, *names: str) -> list[Frame]:
    """The list items of a list action's answer, as the frames they were read from."""
    messages: list[Message] = answer if isinstance(answer, list) else [answer]
    return [m.frame for m in messages if m.get("Event") in names]
