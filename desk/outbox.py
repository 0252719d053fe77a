"""A bounded, durable outbox: call ends wait in a file while the database is away, and are
written when it returns. Writes are idempotent, so a line written twice does no harm."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("desk.outbox")
Writer = Callable[[dict[str, Any]], Awaitable[None]]


class Outbox:
    def __init__(
        self, path: Path, *, limit: int = 100_000, retry_seconds: float = 1.0,
        write_timeout: float = 10.0,
    ) -> None:
        self.path = path
        self.limit = limit
        self.retry_seconds = retry_seconds
        # A write to a database that went away mid-query may never answer: give up and retry.
        self.write_timeout = write_timeout
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._count = len(self.pending())  # what a restart found waiting counts too

    def pending(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        items = []
        for line in self.path.read_text().splitlines():
            if line.strip():
                items.append(json.loads(line))
        return items

    def put(self, item: dict[str, Any]) -> None:
        """Keep an item on disk (fsync: it must survive a crash) and wake the drainer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._count >= self.limit:
            log.error("outbox.full", limit=self.limit, dropped=item.get("linked_id"))
            return
        with self.path.open("a") as file:
            file.write(json.dumps(item, separators=(",", ":")) + "\n")
            file.flush()
            os.fsync(file.fileno())
        self._count += 1
        self._wake.set()

    async def drain(self, write: Writer) -> int:
        """Write what waits, oldest first; stops at the first failure. Returns items written."""
        async with self._lock:
            items = self.pending()
            done = 0
            for item in items:
                try:
                    async with asyncio.timeout(self.write_timeout):  # not wait_for: see link
                        await write(item)
                except Exception as exc:
                    log.warning("outbox.write_failed", error=str(exc)[:200], waiting=len(items))
                    break
                done += 1
            if done:
                self._drop_first(done)
            return done

    def _drop_first(self, done: int) -> None:
        """Remove the items written. The file is read again: items put while the drain was
        waiting on the database were appended after those read, and must stay."""
        remaining = [line for line in self.path.read_text().splitlines() if line.strip()][done:]
        self._count = len(remaining)
        if not remaining:
            self.path.unlink(missing_ok=True)
            return
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text("".join(line + "\n" for line in remaining))
        os.replace(temporary, self.path)

    async def run(self, write: Writer) -> None:
        """Drain now and whenever something is put, retrying while the database is away."""
        while True:
            await self.drain(write)
            self._wake.clear()
            waiting = self._count > 0
            try:
                async with asyncio.timeout(self.retry_seconds if waiting else None):
                    await self._wake.wait()
            except TimeoutError:
                pass
