"""A small scripted AMI server for link tests: it answers the actions the link sends, pushes
whatever events a test gives it, and can fall silent (a half-open link) or drop clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from cti.ami.framing import AmiFrameParser, Frame, serialise

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


class ScriptedPbx:
    def __init__(self, *, username: str = "cti", secret: str = "cti-secret") -> None:
        self.username, self.secret = username, secret
        self.server: asyncio.base_events.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.received: list[Frame] = []
        self.silent = False  # answer nothing (the peer is gone but no RST came)
        self.logins = 0
        self.channels: list[list[tuple[str, str]]] = []  # CoreShowChannel items
        self.originate_answers = True

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.drop_clients()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def drop_clients(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def push(self, pairs: Iterable[tuple[str, str]]) -> None:
        data = serialise(list(pairs))
        for writer in self.writers:
            writer.write(data)

    def push_raw(self, data: bytes) -> None:
        for writer in self.writers:
            writer.write(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(BANNER)
        parser = AmiFrameParser()
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                for frame in parser.feed(data):
                    self.received.append(frame)
                    if not self.silent:
                        for reply in self._answer(frame):
                            writer.write(serialise(reply))
        if writer in self.writers:
            self.writers.remove(writer)
        writer.close()

    def _answer(self, action: Frame) -> list[list[tuple[str, str]]]:
        aid = ("ActionID", action.action_id or "")
        name = action.name.lower()
        if name == "login":
            if action.get("Username") == self.username and action.get("Secret") == self.secret:
                self.logins += 1
                return [[("Response", "Success"), aid, ("Message", "Authentication accepted")]]
            return [[("Response", "Error"), aid, ("Message", "Authentication failed")]]
        if name == "ping":
            return [[("Response", "Success"), aid, ("Ping", "Pong"), ("Timestamp", "1.0")]]
        if name == "coreshowchannels":
            items = [[("Event", "CoreShowChannel"), aid, *c] for c in self.channels]
            return [
                [
                    ("Response", "Success"),
                    aid,
                    ("EventList", "start"),
                    ("Message", "Channels will follow"),
                ],
                *items,
                [
                    ("Event", "CoreShowChannelsComplete"),
                    aid,
                    ("EventList", "Complete"),
                    ("ListItems", str(len(items))),
                ],
            ]
        if name == "queuestatus":
            return [
                [
                    ("Response", "Success"),
                    aid,
                    ("EventList", "start"),
                    ("Message", "Queue status will follow"),
                ],
                [
                    ("Event", "QueueStatusComplete"),
                    aid,
                    ("EventList", "Complete"),
                    ("ListItems", "0"),
                ],
            ]
        if name == "originate":
            if not self.originate_answers:
                return []
            uid = action.get("ChannelId") or "1.1"
            return [
                [("Response", "Success"), aid, ("Message", "Originate successfully queued")],
                [
                    ("Event", "OriginateResponse"),
                    aid,
                    ("Response", "Success"),
                    ("Channel", action.get("Channel") or ""),
                    ("Reason", "4"),
                    ("Uniqueid", uid),
                ],
            ]
        return [[("Response", "Error"), aid, ("Message", "Invalid/unknown command")]]
