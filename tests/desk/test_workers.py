"""Supervised workers: a failure costs one item or one run, never the worker."""

from __future__ import annotations

import asyncio

from desk.workers import Workers
from tests.support.waiting import until


async def test_a_consumer_whose_handler_fails_on_one_item_takes_the_next():
    workers = Workers()
    queue: asyncio.Queue[int] = asyncio.Queue(10)
    handled: list[int] = []

    async def handle(item: int) -> None:
        if item == 2:
            raise RuntimeError("database is locked")
        handled.append(item)

    workers.consume("feed", queue, handle)
    for item in (1, 2, 3):
        queue.put_nowait(item)
    await until(lambda: handled == [1, 3])
    state = workers.status()["feed"]
    assert state["state"] == "running" and state["failures"] == 1
    assert "database is locked" in state["last_error"]
    await workers.stop()
    assert workers.status()["feed"]["state"] == "stopped"


async def test_a_worker_that_dies_is_started_again_after_a_back_off():
    workers = Workers(backoff=0.01, max_backoff=0.05)
    runs = 0

    async def run() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise ConnectionError("redis went away")
        await asyncio.Event().wait()  # the third run stays up

    workers.start("link", run)
    await until(lambda: runs == 3 and workers.status()["link"]["state"] == "running")
    assert workers.status()["link"]["restarts"] == 2 and workers.restarts == 2
    await workers.stop()


async def test_a_periodic_job_that_fails_runs_again_next_time():
    workers = Workers()
    ticks: list[int] = []

    async def tick() -> None:
        ticks.append(len(ticks))
        if len(ticks) == 1:
            raise TimeoutError("the dictionary query timed out")

    workers.every("pause-limits", 0.01, tick)
    await until(lambda: len(ticks) >= 3)
    assert workers.status()["pause-limits"]["failures"] == 1
    await workers.stop()


async def test_a_backlog_does_not_hold_the_loop_between_its_items():
    """Two workers with a burst each take turns (here after every item): neither works through
    its whole queue (with handlers that never wait) while the other, and the AMI reader, sit
    still."""
    workers = Workers()
    handled: list[str] = []
    queues: dict[str, asyncio.Queue[int]] = {"pops": asyncio.Queue(), "rows": asyncio.Queue()}
    for queue in queues.values():
        for n in range(3):
            queue.put_nowait(n)

    def handler(name: str):
        async def handle(item: int) -> None:
            handled.append(f"{name}{item}")

        return handle

    for name, queue in queues.items():
        workers.consume(name, queue, handler(name), slice_seconds=0.0)
    await until(lambda: len(handled) == 6)
    await workers.stop()
    assert handled[:4] == ["pops0", "rows0", "pops1", "rows1"]
