"""A raw AMI test client over TCP: sends actions, keeps every frame it receives, in order."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable

from cti.ami.framing import AmiFrameParser, Frame, serialise

Predicate = Callable[[Frame], bool]


class AmiClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = AmiFrameParser()
        self.frames: list[Frame] = []
        self.raw = bytearray()
        self.closed = asyncio.Event()
        self._arrived = asyncio.Condition()
        self._ids = itertools.count(1)
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> AmiClient:
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        await client.wait_until(lambda: client.parser.banner is not None, timeout=5)
        return client

    async def _read(self) -> None:
        try:
            while data := await self.reader.read(65536):
                self.raw += data
                frames = self.parser.feed(data)
                async with self._arrived:
                    self.frames.extend(frames)
                    self._arrived.notify_all()
        except ConnectionError:
            pass
        finally:
            self.closed.set()
            async with self._arrived:
                self._arrived.notify_all()

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        async def waiting() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: condition() or self.closed.is_set())
            if not condition():
                raise ConnectionError("connection closed while waiting")

        await asyncio.wait_for(waiting(), timeout)

    async def wait_for(self, predicate: Predicate, timeout: float = 5.0, start: int = 0) -> Frame:
        found: list[Frame] = []

        def seen() -> bool:
            for frame in self.frames[start:]:
                if predicate(frame):
                    found.append(frame)
                    return True
            return False

        await self.wait_until(seen, timeout)
        return found[0]

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def action(self, name: str, *, timeout: float = 5.0, **headers: str) -> Frame:
        """Send an action and wait for its response (and, for lists, their last item)."""
        action_id = headers.pop("ActionID", None) or f"t-{next(self._ids)}"
        pairs = [("Action", name), ("ActionID", action_id), *headers.items()]
        start = len(self.frames)
        self.writer.write(serialise(pairs))
        await self.writer.drain()
        reply = await self.wait_for(
            lambda f: f.kind == "response" and f.action_id == action_id, timeout, start
        )
        if reply.get("EventList") == "start":
            await self.wait_for(
                lambda f: f.action_id == action_id and f.get("EventList") == "Complete",
                timeout,
                start,
            )
        return reply

    def replies_to(self, action_id: str) -> list[Frame]:
        return [f for f in self.frames if f.action_id == action_id]

    def events(self, name: str | None = None) -> list[Frame]:
        return [f for f in self.frames if f.kind == "event" and (name is None or f.name == name)]

    async def login(self, username: str = "cti", secret: str = "cti-secret", **extra: str) -> Frame:
        return await self.action("Login", Username=username, Secret=secret, **extra)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 5)
