"""A TCP proxy between the link and a PBX that a test can cut: `kill()` aborts every
connection through it (the PBX side keeps running, as when a network path drops)."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.server: asyncio.base_events.Server | None = None
        self.pairs: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self.kills = 0
        self.connections = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._abort_all()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def kill(self) -> None:
        if self.pairs:
            self.kills += 1
        self._abort_all()

    def _abort_all(self) -> None:
        for client, upstream in self.pairs:
            client.transport.abort()
            upstream.transport.abort()
        self.pairs.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        pair = (writer, up_writer)
        self.pairs.append(pair)
        await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        if pair in self.pairs:
            self.pairs.remove(pair)
        for w in pair:
            w.transport.abort()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.transport.abort()
