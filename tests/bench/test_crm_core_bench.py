"""The CRM-core benchmark runs end to end on a small SQLite database, as a user runs it, and
prints the JSON it should (its shape, not its timings: those belong to the real run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("search_name_prefix", "search_number_other_format", "search_region_level")


def test_the_benchmark_prints_every_page_beside_its_baseline_and_the_goals():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.crm_core",
            "--customers",
            "2000",
            "--database",
            "sqlite",
            # Fewer asks and a smaller import than the real run's, to stay quick.
            "--samples",
            "20",
            "--warmup",
            "2",
            "--import-rows",
            "1000",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BENCH_QUIET": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["benchmark"] == "crm_core"
    assert result["goals"] == {
        "search_p95_ms": 50.0,
        "page_p95_ms": 100.0,
        "import_seconds": 30.0,
        "import_memory": result["goals"]["import_memory"],
    }
    sqlite = result["databases"]["sqlite"]
    assert sqlite["load"]["rows"]["customers"] == 2000
    assert sqlite["load"]["rows"]["orders"] > 5000
    for page in (*PAGES, "customer_page"):
        measured = sqlite["pages"][page]
        for side in ("service", "raw"):
            assert measured[side]["count"] == 20
            assert {"p50_ms", "p95_ms", "p99_ms", "max_ms"} <= set(measured[side])
        assert isinstance(measured["goal_met"], bool) and measured["plan_of_the_slowest"]
        assert len(measured["slowest"]) == 3
    (heavy,) = sqlite["pages"]["customer_page"]["customers"]
    assert heavy["orders"] == 50 and heavy["interactions"] == 200
    imported = sqlite["import"]
    assert imported["service"]["imported"] + imported["service"]["rejected"] == 1000
    assert imported["service"]["rejected"] == 5  # one bad row in two hundred
    assert imported["raw"]["written"] == 1000
    for run in (imported["service"], imported["service_tenth"], imported["raw"]):
        assert run["peak_rss_mib"] >= run["rss_before_mib"] > 0
    assert set(sqlite["goal_met"]) == {
        "search_p95",
        "page_p95",
        "import_seconds",
        "import_memory_flat",
    }
    assert result["goal_met"] == {"sqlite": sqlite["goal_met"]}
