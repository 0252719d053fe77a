"""The event-loop lag monitor: the rolling maximum behind its gauge, and the gauge and histogram
in /metrics of a running service (one without a PBX: every instance watches its loop)."""

from __future__ import annotations

import time

from web.loop_lag import INTERVAL, LoopLagMonitor, RollingMax
from web.metrics import Metrics


def metric(text: str, name: str) -> float:
    """The value of an unlabelled sample in a Prometheus text page."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_rolling_max_is_the_largest_value_within_the_window() -> None:
    worst = RollingMax(window=10.0)
    assert worst.max(now=0.0) == 0.0
    worst.add(1.0, 0.002)
    worst.add(2.0, 0.090)
    worst.add(3.0, 0.004)
    assert worst.max(now=3.0) == 0.090
    assert worst.max(now=11.9) == 0.090


def test_rolling_max_forgets_a_spike_once_the_window_has_passed_it() -> None:
    worst = RollingMax(window=10.0)
    worst.add(2.0, 0.090)
    worst.add(3.0, 0.004)
    worst.add(5.0, 0.003)
    assert worst.max(now=12.0) == 0.004  # the spike at 2.0 is out, the next largest is in
    assert worst.max(now=13.0) == 0.003
    assert worst.max(now=15.0) == 0.0


def test_rolling_max_keeps_a_later_equal_value_when_the_first_expires() -> None:
    worst = RollingMax(window=5.0)
    worst.add(0.0, 0.050)
    worst.add(4.0, 0.050)
    assert worst.max(now=6.0) == 0.050


def test_each_sample_feeds_the_histogram_and_the_gauge_shows_the_window_worst() -> None:
    metrics = Metrics()
    monitor = LoopLagMonitor(metrics, window=10.0)
    monitor.record(1.0, 0.120)
    monitor.record(2.0, 0.001)
    registry = metrics.registry
    assert registry.get_sample_value("callcentre_event_loop_lag_seconds") == 0.120
    assert registry.get_sample_value("callcentre_event_loop_lag_count") == 2
    assert registry.get_sample_value("callcentre_event_loop_lag_bucket", {"le": "0.001"}) == 1
    monitor.record(12.0, 0.002)
    assert registry.get_sample_value("callcentre_event_loop_lag_seconds") == 0.002


async def test_metrics_show_the_loop_lag_gauge_and_histogram(client) -> None:
    text = await (await client.get("/metrics")).text()
    assert "# TYPE callcentre_event_loop_lag_seconds gauge" in text
    assert "# TYPE callcentre_event_loop_lag histogram" in text
    assert 'callcentre_event_loop_lag_bucket{le="0.25"}' in text


async def test_a_loop_blocked_150_ms_shows_in_the_gauge(client) -> None:
    # The monitor sleeps INTERVAL: whenever the block starts, it wakes at least
    # 150 ms - INTERVAL late. Its overdue wake-up runs before this request is served.
    assert INTERVAL <= 0.05
    await client.get("/healthz")  # a round trip: the monitor is surely asleep by now
    time.sleep(0.15)  # noqa: ASYNC251 - the point: the service's loop (the client shares it)
    text = await (await client.get("/metrics")).text()
    assert metric(text, "callcentre_event_loop_lag_seconds") >= 0.1
    assert metric(text, "callcentre_event_loop_lag_count") >= 1
