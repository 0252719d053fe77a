"""Supervised background work: every long-running task of the desk runs under ``Workers``.

A worker that fails is logged and started again after a back-off (doubling, capped), so one
database error never ends a feed for the life of the process; a consumer of a queue catches
per item, so one bad event costs only that event. Each worker's state is shown in /readyz."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

log = structlog.get_logger("desk.workers")
T = TypeVar("T")
QUEUE_LIMIT = 10_000  # events a consumer may fall behind before they are dropped (and counted)


@dataclass
class WorkerState:
    name: str
    state: str = "starting"  # running, backing_off (after a failure), stopped
    restarts: int = 0
    failures: int = 0  # items that failed in a consumer (the worker itself went on)
    last_error: str = ""
    last_error_at: float | None = None

    def failed(self, exc: BaseException) -> None:
        self.last_error, self.last_error_at = _describe(exc), time.time()

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "restarts": self.restarts,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


class Workers:
    def __init__(self, *, backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.states: dict[str, WorkerState] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()`` until stopped; if it raises, log and run it again after a back-off."""
        state = self.states[name] = WorkerState(name)
        self._tasks.append(asyncio.create_task(self._supervise(state, run), name=name))

    def consume(
        self,
        name: str,
        queue: asyncio.Queue[T],
        handle: Callable[[T], Awaitable[None]],
        *,
        slice_seconds: float = 0.002,
    ) -> None:
        """Take items from ``queue`` one at a time; an item whose handling fails is logged and
        counted, and the next one is taken. After ``slice_seconds`` of work the loop gets a
        turn: get() on a non-empty queue gives none, and a burst's backlog would otherwise
        hold the AMI reader (and every other worker) back until it is worked through. A
        worker the agents wait on (the pops) gets a longer slice: it goes first in a burst."""

        async def run() -> None:
            state = self.states[name]
            loop = asyncio.get_running_loop()
            slice_began = loop.time()
            while True:
                if loop.time() - slice_began > slice_seconds:
                    await asyncio.sleep(0)
                    slice_began = loop.time()
                if queue.empty():
                    item = await queue.get()
                    slice_began = loop.time()  # it waited: the loop had its turns
                else:
                    item = queue.get_nowait()
                try:
                    await handle(item)
                except Exception as exc:
                    state.failures += 1
                    state.failed(exc)
                    log.exception(
                        "worker.item_failed", worker=name, call_id=getattr(item, "linked_id", None)
                    )

        self.start(name, run)

    def every(self, name: str, seconds: float, tick: Callable[[], Awaitable[None]]) -> None:
        """Call ``tick()`` every ``seconds``; a failed tick is logged and the next one runs."""

        async def run() -> None:
            state = self.states[name]
            while True:
                await asyncio.sleep(seconds)
                try:
                    await tick()
                except Exception as exc:
                    state.failures += 1
                    state.failed(exc)
                    log.warning("worker.tick_failed", worker=name, error=state.last_error)

        self.start(name, run)

    async def _supervise(self, state: WorkerState, run: Callable[[], Awaitable[None]]) -> None:
        delay = self.backoff
        while True:
            state.state = "running"
            started = time.monotonic()
            try:
                await run()
                state.state = "stopped"  # it finished its work (e.g. the link was stopped)
                return
            except asyncio.CancelledError:
                state.state = "stopped"
                raise
            except Exception as exc:
                state.failed(exc)
                log.exception("worker.failed", worker=state.name, retry_in=round(delay, 2))
            if time.monotonic() - started > self.max_backoff:
                delay = self.backoff  # it ran a good while: a fresh failure starts over
            state.state = "backing_off"
            state.restarts += 1
            await asyncio.sleep(delay * (1 + random.random() / 4))
            delay = min(delay * 2, self.max_backoff)

    def status(self) -> dict[str, dict[str, Any]]:
        return {name: state.as_dict() for name, state in self.states.items()}

    @property
    def restarts(self) -> int:
        return sum(s.restarts for s in self.states.values())

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


_in_flight: set[asyncio.Task[Any]] = set()


def background(work: Coroutine[Any, Any, Any], *, what: str) -> None:
    """Start a short piece of work from synchronous code (a bus handler must not wait): the
    task is kept referenced until done and a failure is logged, not lost."""
    task = asyncio.get_running_loop().create_task(work, name=what)
    _in_flight.add(task)
    task.add_done_callback(functools.partial(_done, what))


def _done(what: str, task: asyncio.Task[Any]) -> None:
    _in_flight.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background.failed", what=what, error=_describe(task.exception()))


def _describe(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
