"""The AMI server: TCP sessions, login (plain and MD5 challenge), event masks, slow clients.

Each session has its own outgoing queue and writer task, so a client that reads slowly only
delays itself; one that stops reading for longer than its user's write timeout is dropped, as
Asterisk drops it (manager.conf ``writetimeout``). Events an action causes are held until the
action's response is written, so a client always sees the response first, as from Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from cti.ami.framing import AmiFrameParser, Frame, UnsafeHeader, serialise
from pbxsim.actions import ActionContext, dispatch
from pbxsim.events import SECURITY, Event, Header, parse_classes, response

if TYPE_CHECKING:
    from pbxsim.simulator import Simulator
    from pbxsim.users import AmiUser

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
READ_CHUNK = 65536
# A client that lets this much output pile up is not reading: drop it rather than buffer more.
MAX_PENDING_BYTES = 16 * 1024 * 1024


def _tv(wall: float) -> str:
    """Security event timestamps: ``2026-11-25T21:58:48.502+0000``."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall))
    return f"{whole}.{int(wall * 1000) % 1000:03d}+0000"


class AmiServer:
    def __init__(
        self,
        simulator: Simulator,
        *,
        auth_failure_delay: float = 1.0,
        default_write_timeout: float = 5.0,
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        self.sim = simulator
        self.max_pending_bytes = max_pending_bytes
        self.auth_failure_delay = auth_failure_delay
        self.default_write_timeout = default_write_timeout
        self.sessions: list[Session] = []
        self.dropped_slow_clients = 0
        self._server: asyncio.Server | None = None
        self._numbers = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the AMI server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.abort()
        # Aborted transports end each session's read loop; wait for them rather than cancel
        # (a cancelled connection task makes asyncio's stream callback log an error).
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def broadcast(self, event: Event) -> None:
        for session in self.sessions:
            session.offer(event)

    def security_event(
        self, name: str, session: Session, *extra: Header, account: str | None = None
    ) -> None:
        headers = session.security_headers(name, *extra, account=account)
        self.sim.pbx.emit(name, headers, category=SECURITY)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._numbers += 1
        session = Session(self, reader, writer, self._numbers)
        self.sessions.append(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run()
        finally:
            if session in self.sessions:
                self.sessions.remove(session)
            if task is not None:
                self._tasks.discard(task)


class Session:
    """One AMI client connection."""

    def __init__(
        self,
        server: AmiServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        number: int,
    ) -> None:
        self.server = server
        self.sim = server.sim
        self.reader = reader
        self.writer = writer
        self.number = number
        self.user: AmiUser | None = None
        self.mask: frozenset[str] = frozenset()
        self.challenge: str | None = None
        self.session_id = f"0x{0x7F4D00000000 + number * 0x1000:x}"
        self.opened_wall = self.sim.clock.wall()
        self._rng = random.Random(f"{self.sim.seed}:session:{number}")
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.sent_bytes = 0  # handed to the transport so far (tests wait for a client to catch up)
        self._held: list[bytes] | None = None
        self._wakeup = asyncio.Event()
        self._closing = False
        self._closed = False
        sockname = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        peername = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        self.local_address = f"IPV4/TCP/{sockname[0]}/{sockname[1]}"
        self.remote_address = f"IPV4/TCP/{peername[0]}/{peername[1]}"

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        writer_task = asyncio.create_task(self._write_loop())
        self.send(BANNER)
        parser = AmiFrameParser()
        try:
            while not self._closing:
                data = await self.reader.read(READ_CHUNK)
                if not data:
                    break
                for frame in parser.feed(data):
                    await self._handle(frame)
                    if self._closing:
                        break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._closing = True
            self._wakeup.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(writer_task, timeout=self.write_timeout + 1)
            self.abort()

    @property
    def write_timeout(self) -> float:
        return self.user.write_timeout if self.user else self.server.default_write_timeout

    def offer(self, event: Event) -> None:
        if self.user is not None and event.category in self.mask and not self._closing:
            self.send(event.wire)

    def send(self, data: bytes) -> None:
        if self._closed:
            return
        if self._held is not None:
            self._held.append(data)
            return
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes > self.server.max_pending_bytes:
            self._drop("output backlog over the limit")
            return
        self._wakeup.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._pending:
                chunk = b"".join(self._pending)
                self._pending.clear()
                self._pending_bytes = 0
                try:
                    self.writer.write(chunk)
                    self.sent_bytes += len(chunk)
                    await asyncio.wait_for(self.writer.drain(), self.write_timeout)
                except TimeoutError:
                    self._drop(f"no write progress for {self.write_timeout} s")
                    return
                except (ConnectionError, RuntimeError):
                    self._drop("connection lost")
                    return
            if self._closing and not self._pending:
                return

    def _drop(self, why: str) -> None:
        log.warning("dropping AMI session %s (%s)", self.number, why)
        self.server.dropped_slow_clients += 1
        self.abort()

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = self._closing = True
        self._pending.clear()
        self._wakeup.set()
        transport = self.writer.transport
        if transport is not None:
            transport.abort()
        if self in self.server.sessions:
            self.server.sessions.remove(self)

    def close_after_flush(self) -> None:
        self._closing = True
        self._wakeup.set()

    # -- actions ------------------------------------------------------------------------------

    async def _handle(self, frame: Frame) -> None:
        action_id = frame.action_id
        if frame.kind != "action" or not frame.name:
            self.send(response("Error", action_id, ("Message", "Missing action in request")))
            return
        name = frame.name.lower()
        if name == "login":
            await self._login(frame)
            return
        if name == "challenge":
            self._challenge(frame)
            return
        if name == "logoff":
            self.send(response("Goodbye", action_id, ("Message", "Thanks for all the fish.")))
            self.close_after_flush()
            return
        if self.user is None:
            self.send(response("Error", action_id, ("Message", "Authentication Required")))
            return
        if name == "events":
            self._events(frame)
            return
        self._held = []
        try:
            reply = dispatch(ActionContext(self, frame))
            if isinstance(reply, Awaitable):
                self._release_held()  # a waiting action (sync Originate) lets events through
                reply = await reply
        except UnsafeHeader as exc:
            reply = [response("Error", action_id, ("Message", f"Refused: {exc}"))]
        except Exception:
            log.exception("AMI action %s failed", frame.name)
            reply = [response("Error", action_id, ("Message", "Internal error"))]
        held, self._held = self._held, None
        for message in reply:
            self.send(message)
        for data in held or ():
            self.send(data)

    def _release_held(self) -> None:
        held, self._held = self._held, None
        for data in held or ():
            self.send(data)

    def _events(self, frame: Frame) -> None:
        assert self.user is not None
        self.mask = self._mask_for(frame.get("EventMask", "on") or "on")
        state = "On" if self.mask else "Off"
        self.send(response("Success", frame.action_id, ("Events", state)))

    def _mask_for(self, text: str) -> frozenset[str]:
        assert self.user is not None
        lowered = text.strip().lower()
        if lowered in ("on", "yes", "true"):
            return self.user.read
        if lowered in ("off", "no", "false", ""):
            return frozenset()
        return parse_classes(lowered) & self.user.read

    def _challenge(self, frame: Frame) -> None:
        if (frame.get("AuthType") or "").lower() != "md5":
            self.send(response("Error", frame.action_id, ("Message", "Must specify AuthType")))
            return
        self.challenge = str(self._rng.randrange(100_000_000, 999_999_999))
        self.send(response("Success", frame.action_id, ("Challenge", self.challenge)))

    async def _login(self, frame: Frame) -> None:
        action_id = frame.action_id
        username = frame.get("Username") or ""
        user = self.sim.users.get(username)
        md5 = (frame.get("AuthType") or "").lower() == "md5"
        if user is not None:
            if md5:
                ok = self.challenge is not None and user.key_matches(
                    self.challenge, frame.get("Key") or ""
                )
            else:
                ok = user.secret_matches(frame.get("Secret") or "")
        else:
            ok = False
        if not ok:
            kind = "InvalidAccountID" if user is None else "InvalidPassword"
            self.server.security_event(kind, self, account=username)
            # Asterisk slows down password guessing, then closes the connection.
            await asyncio.sleep(self.server.auth_failure_delay)
            self.send(response("Error", action_id, ("Message", "Authentication failed")))
            self.close_after_flush()
            return
        assert user is not None
        self.user = user
        self.mask = self._mask_for(frame.get("Events") or "on")
        self.send(response("Success", action_id, ("Message", "Authentication accepted")))
        if "system" in self.mask:
            uptime = str(int(self.sim.clock.wall() - self.sim.started_wall))
            reload = str(int(self.sim.clock.wall() - self.sim.reloaded_wall))
            self.send(
                serialise(
                    (
                        ("Event", "FullyBooted"),
                        ("Privilege", "system,all"),
                        ("Uptime", uptime),
                        ("LastReload", reload),
                        ("Status", "Fully Booted"),
                    )
                )
            )
        self.server.security_event("SuccessfulAuth", self, ("UsingPassword", "0"))

    def security_headers(
        self, name: str, *extra: Header, account: str | None = None
    ) -> list[Header]:
        now = self.sim.clock.wall()
        headers: list[Header] = [
            ("EventTV", _tv(now)),
            ("Severity", "Informational" if name == "SuccessfulAuth" else "Error"),
            ("Service", "AMI"),
            ("EventVersion", "2" if name == "InvalidPassword" else "1"),
        ]
        if account is None:
            account = self.user.username if self.user else ""
        if name != "RequestBadFormat":
            headers.append(("AccountID", account))
        headers += [
            ("SessionID", self.session_id),
            ("LocalAddress", self.local_address),
            ("RemoteAddress", self.remote_address),
        ]
        if name == "RequestBadFormat":
            headers += list(extra)
            headers.append(("SessionTV", _tv(self.opened_wall)))
            headers.append(("AccountID", account))
            return headers
        headers += [h for h in extra if h[0] != "UsingPassword"]
        if name == "SuccessfulAuth":
            headers.append(("UsingPassword", "0"))
            headers.append(("SessionTV", _tv(self.opened_wall)))
        else:
            headers.append(("SessionTV", "1970-01-01T00:00:00.000+0000"))
        return headers
