"""How late this process's event loop wakes up: a worker sleeps a short interval and measures
by how much it oversleeps. Anything that holds the loop (a synchronous call, a long loop
without an await) shows as lag, whatever it is. Asterisk drops a client that leaves it waiting
100 ms (its writetimeout), so the worst lag of the last seconds is exported as a gauge that a
scrape cannot miss, beside a histogram of every sample. Runs on every instance, with or
without the PBX link."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from desk.workers import Workers
from web.appkeys import metrics_key
from web.metrics import Metrics

log = structlog.get_logger("web.loop_lag")
INTERVAL = 0.05  # how long the monitor sleeps; a block of B seconds shows as >= B - INTERVAL
WINDOW = 15.0  # the gauge's memory: a common scrape interval, so every spike is scraped once
LOG_ABOVE = 0.05  # a lag worth a log line (half of Asterisk's 100 ms)


class RollingMax:
    """The largest value added in the last ``window`` seconds. Pure: the caller says when.

    Keeps only the values that can still become the maximum (each smaller than the one before
    it), so adding and reading are O(1) amortised whatever the sample rate."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._kept: deque[tuple[float, float]] = deque()  # (at, value), values decreasing

    def add(self, at: float, value: float) -> None:
        while self._kept and self._kept[-1][1] <= value:
            self._kept.pop()  # older and no larger: can never be the maximum again
        self._kept.append((at, value))
        self._expire(at)

    def max(self, now: float) -> float:
        """0.0 when nothing was added within the window."""
        self._expire(now)
        return self._kept[0][1] if self._kept else 0.0

    def _expire(self, now: float) -> None:
        while self._kept and self._kept[0][0] <= now - self.window:
            self._kept.popleft()


class LoopLagMonitor:
    def __init__(
        self, metrics: Metrics, *, interval: float = INTERVAL, window: float = WINDOW
    ) -> None:
        self.metrics = metrics
        self.interval = interval
        self.worst = RollingMax(window)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            now = loop.time()
            self.record(now, max(0.0, now - before - self.interval))

    def record(self, now: float, lag: float) -> None:
        previous = self.worst.max(now)
        self.worst.add(now, lag)
        self.metrics.loop_lag_samples.observe(lag)
        self.metrics.loop_lag.set(self.worst.max(now))
        if lag >= LOG_ABOVE and lag > previous:  # a new worst of the window: at most a few lines
            log.warning("loop.lagged", lag_ms=round(lag * 1000, 1), window_s=self.worst.window)


async def loop_lag_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the monitor runs for the life of the app, supervised."""
    workers = Workers()
    workers.start("loop-lag", LoopLagMonitor(app[metrics_key]).run)
    yield
    await workers.stop()
