"""The loop-lag benchmark's burst reads the service's own figures from /metrics right, and runs
end to end on a tiny burst (its shape, not its timings: those belong to the real run)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.loop_lag import Scrape, burst, burst_max_ms, lag_between, profile_summary
from web.metrics import Metrics


def page(gauge: float, samples: list[float]) -> Scrape:
    """A /metrics page of a service whose monitor saw ``samples``, gauge at ``gauge``."""
    from prometheus_client import generate_latest

    metrics = Metrics()
    for sample in samples:
        metrics.loop_lag_samples.observe(sample)
    metrics.loop_lag.set(gauge)
    return Scrape(generate_latest(metrics.registry).decode())


def test_percentiles_are_the_bucket_bounds_of_the_samples_between_two_scrapes() -> None:
    first = page(0.002, [0.0005] * 10)
    last = page(0.09, [0.0005] * 10 + [0.0008] * 98 + [0.004, 0.09])
    figures = lag_between(first, last, 90.0, True)
    assert figures["samples"] == 100
    assert figures["p50_ms_at_most"] == 1.0
    assert figures["p99_ms_at_most"] == 5.0
    assert figures["max_ms_at_most"] == 100.0
    assert (figures["max_ms"], figures["max_exact"]) == (90.0, True)


def test_the_burst_max_is_a_gauge_value_only_the_burst_can_have_made() -> None:
    idle_end = page(0.03, [0.03])  # a 30 ms spike while idle, still in the gauge's window
    last = page(0.03, [0.03, 0.004, 0.008])
    assert burst_max_ms(idle_end, [0.03, 0.03], last) == (10.0, False)  # bucket bound
    assert burst_max_ms(idle_end, [0.03, 0.08, 0.06], last) == (80.0, True)
    calm = page(0.001, [0.001])
    assert burst_max_ms(calm, [0.001], page(0.001, [0.001, 0.001])) == (1.0, False)


def test_the_profile_summary_counts_the_loop_thread_and_our_functions(tmp_path: Path) -> None:
    raw = tmp_path / "burst.raw"
    raw.write_text(
        "thread (1): MainThread;main (web/cli.py:218);Handle._run (asyncio/events.py:80);"
        "Workers._supervise (desk/workers.py:101);SupervisorFeed.handle (desk/supervision.py:72)"
        " 3\n"
        "thread (1): MainThread;main (web/cli.py:218);FramedProtocol.data_received "
        "(cti/ami/protocol.py:57);AmiFrameParser.feed (cti/ami/framing.py:227) 1\n"
        "thread (1): MainThread;main (web/cli.py:218);EpollSelector.select (selectors.py:468) 2\n"
        "thread (2): asyncio_0;_worker (concurrent/futures/thread.py:81) 5\n"
    )
    summary = profile_summary(raw)
    assert summary["loop_thread_busy_samples"] == 4
    assert summary["loop_thread_in_selector_samples"] == 2
    assert summary["share_of_busy_samples"] == {
        "SupervisorFeed.handle (desk/supervision.py)": 0.75,
        "FramedProtocol.data_received (cti/ami/protocol.py)": 0.25,
        "AmiFrameParser.feed (cti/ami/framing.py)": 0.25,
    }


async def test_a_tiny_burst_runs_end_to_end_and_reports_the_service_figures() -> None:
    result = await burst(3, 50.0, None, idle=1.0)
    json.dumps(result)  # machine-readable as printed
    assert result["calls_placed"] == 3 and result["agents_connected"] == 3
    assert result["pops_received"] == 3  # the agents' browsers got their pops
    assert result["peak_calls_tracked"] >= 1
    for part in ("baseline_idle", "during_burst"):
        figures = result[part]
        assert figures["samples"] > 0
        assert {"max_ms", "max_exact", "p50_ms_at_most", "p99_ms_at_most"} <= set(figures)
    assert result["baseline_idle"]["max_exact"] is False  # idle shorter than the window
    assert result["meets_goal"] == (result["during_burst"]["max_ms"] < 50)
