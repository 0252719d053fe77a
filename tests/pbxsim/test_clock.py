"""Simulated time: ordering, speed, lag, and processes that sleep, wait and get interrupted."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from pbxsim.clock import ManualClock, RealTimeClock
from pbxsim.process import Process, Signal, Wait


def test_callbacks_run_by_time_then_in_the_order_they_were_scheduled() -> None:
    clock = ManualClock()
    ran: list[tuple[str, float]] = []
    for name, when in (("late", 5.0), ("first", 1.0), ("second", 1.0), ("middle", 3.0)):
        clock.call_at(when, lambda n=name: ran.append((n, clock.now())))
    clock.advance(10)
    assert ran == [("first", 1.0), ("second", 1.0), ("middle", 3.0), ("late", 5.0)]
    assert clock.now() == 10


def test_work_scheduled_for_now_runs_after_work_already_due_now() -> None:
    clock = ManualClock()
    ran: list[str] = []
    clock.call_at(1.0, lambda: (ran.append("a"), clock.call_soon(lambda: ran.append("c"))))
    clock.call_at(1.0, lambda: ran.append("b"))
    clock.advance(1.0)
    assert ran == ["a", "b", "c"]


def test_cancelled_callbacks_never_run() -> None:
    clock = ManualClock()
    ran: list[int] = []
    timer = clock.call_later(1.0, lambda: ran.append(1))
    timer.cancel()
    clock.advance(2)
    assert ran == [] and clock.pending == 0


def test_wall_time_is_the_epoch_plus_simulated_time() -> None:
    clock = ManualClock(epoch=1_800_000_000.0)
    clock.advance(90)
    assert clock.wall() == 1_800_000_090.0


async def test_speed_factor_runs_simulated_time_faster_than_real_time() -> None:
    clock = RealTimeClock(speed=50)
    fired = asyncio.Event()
    clock.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    clock.call_later(10.0, fired.set)  # 10 simulated seconds: 0.2 real seconds
    await asyncio.wait_for(fired.wait(), 5)
    assert 0.15 < loop.time() - started < 2.0
    clock.stop()


async def test_a_late_callback_still_sees_its_scheduled_time_and_the_lag_is_measured() -> None:
    clock = RealTimeClock(speed=1)
    seen: list[float] = []
    clock.start()
    clock.call_at(0.05, lambda: seen.append(clock.now()))
    clock.call_at(0.06, lambda: seen.append(clock.now()))
    time.sleep(0.2)  # noqa: ASYNC251 - the loop must be busy while both callbacks come due
    await asyncio.sleep(0.05)
    assert seen == [pytest.approx(0.05), pytest.approx(0.06)]
    assert clock.lag.count == 2 and clock.lag.worst >= 0.1
    clock.stop()


async def test_infinite_speed_runs_as_fast_as_the_loop_allows() -> None:
    clock = RealTimeClock(speed=math.inf)
    done = asyncio.Event()
    clock.call_later(3600.0, done.set)
    clock.start()
    await asyncio.wait_for(done.wait(), 2)
    assert clock.now() == 3600.0
    clock.stop()


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RealTimeClock(speed=0)


def test_a_process_sleeps_waits_for_signals_and_times_out() -> None:
    clock = ManualClock()
    ready, never = Signal(), Signal()
    trail: list[object] = []

    def steps():
        yield 2.0
        trail.append(("slept", clock.now()))
        trail.append(("signal", (yield ready), clock.now()))
        trail.append(("timeout", (yield Wait((never,), 3.0)), clock.now()))
        return "done"

    process = Process(clock, steps()).start()
    clock.advance(4.0)
    ready.fire("go")
    clock.advance(5.0)
    assert trail == [("slept", 2.0), ("signal", "go", 4.0), ("timeout", (None, None), 7.0)]
    assert process.done.fired and process.done.value == "done"


def test_an_interrupt_is_thrown_where_the_process_waits() -> None:
    clock = ManualClock()
    caught: list[float] = []

    def steps():
        try:
            yield 100.0
        except KeyError:
            caught.append(clock.now())

    process = Process(clock, steps()).start()
    clock.advance(5.0)
    process.interrupt(KeyError("hangup"))
    assert caught == [5.0] and not process.alive
    assert clock.pending == 0


def test_a_failing_process_is_reported_not_swallowed() -> None:
    clock = ManualClock()
    failures: list[BaseException] = []

    def steps():
        yield 1.0
        raise RuntimeError("boom")

    Process(clock, steps(), on_error=lambda _p, exc: failures.append(exc)).start()
    clock.advance(2)
    assert [str(f) for f in failures] == ["boom"]
