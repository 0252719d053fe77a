"""A bounded, durable outbox: call ends wait in a file while the database is away, and are
written when it returns. Writes are idempotent, so a line written twice does no harm.

Items are written in batches, a moment after the first of them arrives: a burst of call ends
becomes one transaction instead of one each, which keeps the event loop free for the pops.

The file is touched in a worker thread (an fsync takes milliseconds, which the event loop,
and so every screen pop, would otherwise wait for), under a lock of its own."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("desk.outbox")
Writer = Callable[[list[dict[str, Any]]], Awaitable[None]]  # all of them, or raises


class Outbox:
    def __init__(
        self,
        path: Path,
        *,
        limit: int = 100_000,
        retry_seconds: float = 1.0,
        write_timeout: float = 10.0,
        batch: int = 200,
        gather_seconds: float = 0.25,
    ) -> None:
        self.path = path
        self.limit = limit
        self.retry_seconds = retry_seconds
        self.batch = batch
        self.gather_seconds = gather_seconds
        # A write to a database that went away mid-query may never answer: give up and retry.
        self.write_timeout = write_timeout
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one drain at a time
        self._file = threading.Lock()  # the file, between the loop's threads
        self._count = len(self.pending())  # what a restart found waiting counts too

    def pending(self) -> list[dict[str, Any]]:
        with self._file:
            if not self.path.exists():
                return []
            lines = self.path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    async def put(self, item: dict[str, Any]) -> None:
        """Keep an item on disk (fsync: it must survive a crash) and wake the drainer."""
        if self._count >= self.limit:
            log.error("outbox.full", limit=self.limit, dropped=item.get("linked_id"))
            return
        await asyncio.to_thread(self._append, json.dumps(item, separators=(",", ":")))
        self._wake.set()

    def _append(self, line: str) -> None:
        with self._file:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as file:
                file.write(line + "\n")
                file.flush()
                os.fsync(file.fileno())
            self._count += 1

    async def drain(self, write: Writer) -> int:
        """Write what waits, oldest first, a batch at a time; stops at the first failed batch.
        Returns items written."""
        async with self._lock:
            items = await asyncio.to_thread(self.pending)
            done = 0
            while done < len(items):
                batch = items[done : done + self.batch]
                try:
                    async with asyncio.timeout(self.write_timeout):  # not wait_for: see link
                        await write(batch)
                except Exception as exc:
                    log.warning("outbox.write_failed", error=str(exc)[:200], waiting=len(items))
                    break
                done += len(batch)
            if done:
                await asyncio.to_thread(self._drop_first, done)
            return done

    def _drop_first(self, done: int) -> None:
        """Remove the items written. The file is read again: items put while the drain was
        waiting on the database were appended after those read, and must stay."""
        with self._file:
            lines = self.path.read_text().splitlines()
            remaining = [line for line in lines if line.strip()][done:]
            self._count = len(remaining)
            if not remaining:
                self.path.unlink(missing_ok=True)
                return
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text("".join(line + "\n" for line in remaining))
            os.replace(temporary, self.path)

    async def run(self, write: Writer) -> None:
        """Drain now and a moment after something is put, retrying while the database is
        away."""
        while True:
            await self.drain(write)
            self._wake.clear()
            waiting = self._count > 0
            try:
                async with asyncio.timeout(self.retry_seconds if waiting else None):
                    await self._wake.wait()
            except TimeoutError:
                continue
            await asyncio.sleep(self.gather_seconds)  # the rest of a burst joins this batch
