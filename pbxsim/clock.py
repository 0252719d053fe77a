"""Simulated time for the PBX simulator.

Every delay in the simulator (a phone ringing, a caller's patience, a queue timeout) is a callback
on a ``Scheduler``. Callbacks run in (simulated time, scheduling order), and while one runs
``now()`` is exactly the time it was scheduled for, not the moment the event loop got round to
it. So a run's events and their timestamps depend only on what was scheduled, never on how busy
the machine was: the same seed gives the same stream at any speed.

Two ways to drive a scheduler:

* ``RealTimeClock(speed)``: follows the event loop's clock, ``speed`` simulated seconds per real
  second (``math.inf``: as fast as possible). Records how late each callback ran (``lag``), which
  is how the capacity benchmark knows whether the simulator keeps up.
* ``ManualClock``: time moves only when ``advance`` is called; for tests that want to step a
  scenario without waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Callback = Callable[..., Any]


class Timer:
    """A scheduled callback; ``cancel()`` makes it a no-op."""

    __slots__ = ("args", "callback", "cancelled", "seq", "when")

    def __init__(self, when: float, seq: int, callback: Callback, args: tuple[Any, ...]) -> None:
        self.when = when
        self.seq = seq
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Timer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)


@dataclass
class LagMeter:
    """How late callbacks ran against their scheduled real time, in real seconds."""

    count: int = 0
    total: float = 0.0
    worst: float = 0.0
    samples: list[float] = field(default_factory=list)
    max_samples: int = 200_000

    def record(self, lag: float) -> None:
        self.count += 1
        self.total += lag
        if lag > self.worst:
            self.worst = lag
        if len(self.samples) < self.max_samples:
            self.samples.append(lag)

    def percentile(self, fraction: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def reset(self) -> None:
        self.count, self.total, self.worst = 0, 0.0, 0.0
        self.samples.clear()


class Scheduler:
    """Callbacks ordered by simulated time, then by the order they were scheduled in."""

    def __init__(self, *, epoch: float = 0.0) -> None:
        # Wall-clock seconds (Unix time) at simulated time 0: used for Uniqueids and timestamps.
        self.epoch = epoch
        self._heap: list[Timer] = []
        self._seq = itertools.count()
        self._now = 0.0
        self._in_callback = False
        self._changed: Callable[[], None] | None = None

    def now(self) -> float:
        """Simulated seconds since the start."""
        return self._now

    def wall(self) -> float:
        """Unix time of ``now()``."""
        return self.epoch + self.now()

    def call_at(self, when: float, callback: Callback, *args: Any) -> Timer:
        timer = Timer(max(when, self._now), next(self._seq), callback, args)
        first = not self._heap or timer < self._heap[0]
        heapq.heappush(self._heap, timer)
        if first and self._changed is not None:
            self._changed()
        return timer

    def call_later(self, delay: float, callback: Callback, *args: Any) -> Timer:
        return self.call_at(self.now() + max(0.0, delay), callback, *args)

    def call_soon(self, callback: Callback, *args: Any) -> Timer:
        return self.call_at(self.now(), callback, *args)

    @property
    def pending(self) -> int:
        return sum(1 for timer in self._heap if not timer.cancelled)

    def next_when(self) -> float | None:
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        return heap[0].when if heap else None

    def _run_due(self, until: float, on_run: Callable[[Timer], None] | None = None) -> int:
        """Run every callback due at or before ``until``, in order; the count run."""
        heap = self._heap
        ran = 0
        self._in_callback = True
        try:
            while heap and heap[0].when <= until:
                timer = heapq.heappop(heap)
                if timer.cancelled:
                    continue
                if timer.when > self._now:
                    self._now = timer.when
                if on_run is not None:
                    on_run(timer)
                timer.callback(*timer.args)
                ran += 1
        finally:
            self._in_callback = False
        return ran


class ManualClock(Scheduler):
    """Time stands still until a test moves it."""

    def advance(self, seconds: float) -> int:
        """Run everything due within ``seconds``; the number of callbacks run."""
        target = self._now + seconds
        ran = self._run_due(target)
        self._now = target
        return ran

    def run_until_idle(self, *, limit: float = 86_400.0) -> float:
        """Run until nothing is scheduled, or ``limit`` simulated seconds; the time reached."""
        end = self._now + limit
        while (when := self.next_when()) is not None and when <= end:
            self._run_due(when)
        return self._now


class RealTimeClock(Scheduler):
    """Simulated time running at ``speed`` times real time on the asyncio event loop."""

    def __init__(self, *, speed: float = 1.0, epoch: float = 0.0) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive (math.inf runs as fast as possible)")
        super().__init__(epoch=epoch)
        self.speed = speed
        self.lag = LagMeter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._base = 0.0  # loop.time() at simulated time 0
        self._handle: asyncio.Handle | None = None
        self._armed_for: float | None = None
        self._changed = self._rearm

    @property
    def running(self) -> bool:
        return self._loop is not None

    def start(self) -> None:
        """Start following the running event loop; simulated time 0 is now."""
        self._loop = asyncio.get_running_loop()
        self._base = self._loop.time() - self._now / self.speed
        self._rearm()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._armed_for, self._loop = None, None, None

    def now(self) -> float:
        # Between callbacks (an action arriving from a client) time is the real elapsed time,
        # never earlier than the last callback run.
        if self._in_callback or self._loop is None or math.isinf(self.speed):
            return self._now
        return max(self._now, (self._loop.time() - self._base) * self.speed)

    def _real_time_of(self, when: float) -> float:
        return self._base + when / self.speed

    def _rearm(self) -> None:
        loop = self._loop
        if loop is None:
            return
        when = self.next_when()
        if when is None or (self._armed_for is not None and self._armed_for <= when):
            return
        if self._handle is not None:
            self._handle.cancel()
        self._armed_for = when
        if math.isinf(self.speed):
            self._handle = loop.call_soon(self._fire)
        else:
            self._handle = loop.call_at(self._real_time_of(when), self._fire)

    def _fire(self) -> None:
        self._handle, self._armed_for = None, None
        loop = self._loop
        if loop is None:
            return
        if math.isinf(self.speed):
            when = self.next_when()
            if when is not None:
                self._run_due(when)
        else:
            # Each callback runs at its own scheduled time, so that what it emits does not
            # depend on how late the loop was; work it schedules for the same instant is
            # picked up by the same pass.
            self._run_due((loop.time() - self._base) * self.speed, self._measure)
        self._rearm()

    def _measure(self, timer: Timer) -> None:
        assert self._loop is not None
        self.lag.record(max(0.0, self._loop.time() - self._real_time_of(timer.when)))
