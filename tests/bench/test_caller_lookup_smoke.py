"""The caller-lookup benchmark runs end to end on a tiny SQLite database and reports what it
should (its shape, not its timings: those belong to the real run)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bench.caller_lookup import Dataset, Shape, generate, run
from crm_core.phones import normalise


def test_generated_numbers_are_e164_and_shared_where_the_shape_says() -> None:
    shape = Shape(customers=300, per_customer=2, seed=3)
    dataset = Dataset({}, Counter())
    chunks = list(generate(shape, {0, 1, 2}, dataset))
    customers = [row for chunk in chunks for row in chunk[0]]
    numbers = [row for chunk in chunks for row in chunk[2]]
    assert len(customers) == 300 and len(numbers) == 600
    assert set(dataset.wanted) == {0, 1, 2}
    owners: dict[str, set[int]] = {}
    for _id, customer_id, _contact, _raw, e164, _label in numbers:
        assert normalise(e164).e164 == e164
        owners.setdefault(e164, set()).add(customer_id)
    shared = {e164 for e164, who in owners.items() if len(who) > 1}
    assert shared and all(len(owners[e]) == 2 for e in shared)
    for row, (_id, _customer, _contact, _raw, e164, _label) in enumerate(numbers):
        assert shape.shared_row(row) == (e164 in shared)


def test_benchmark_reports_hits_misses_and_floors_on_sqlite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BENCH_QUIET", "1")
    result = run(
        [
            "--customers",
            "300",
            "--lookups",
            "120",
            "--warmup",
            "10",
            "--database",
            "sqlite",
            "--phases",
        ]
    )
    json.dumps(result)  # machine-readable as printed
    assert result["benchmark"] == "caller_lookup"
    assert result["goal_p99_ratio_to_engine_floor"] == 1.5
    assert set(result["databases"]) == {"sqlite"}
    sqlite = result["databases"]["sqlite"]
    assert sqlite["load"]["customers"] == 300 and sqlite["load"]["phone_numbers"] == 600
    assert sqlite["hits"] > 0 and sqlite["misses"] > 0
    assert sqlite["unexpected"] == {}  # every hit found its customer(s), every miss none
    assert sqlite["hits"] + sqlite["misses"] + sqlite["withheld"] == 120
    assert sqlite["full_lookup"]["count"] == 120
    queried = sqlite["hits"] + sqlite["misses"]
    assert sqlite["floor_engine_query"]["count"] == queried
    assert sqlite["floor_engine_driver_sql_query"]["count"] == queried
    assert sqlite["floor_driver_query"]["count"] == queried
    for key in (
        "full_lookup",
        "floor_engine_query",
        "floor_engine_driver_sql_query",
        "floor_driver_query",
    ):
        assert {"p50_ms", "p99_ms", "max_ms"} <= set(sqlite[key])
    assert isinstance(sqlite["goal_met"], bool)
    assert result["goal_met"] == {"sqlite": sqlite["goal_met"]}
    assert isinstance(sqlite["ratio_p99_to_engine_floor"], float)
    # The goal is judged in the run itself: the lookup against the bare query, same engine.
    goal = sqlite["goal"]
    assert goal["lookup_p99_ms"] == sqlite["full_lookup"]["p99_ms"]
    assert goal["floor_p99_ms"] == sqlite["floor_engine_query"]["p99_ms"]
    assert goal["goal_ratio_p99"] == 1.5 and goal["met"] is sqlite["goal_met"]
    assert goal["met"] == (goal["lookup_p99_ms"] / goal["floor_p99_ms"] <= 1.5)
    assert sqlite["server"]["lookup_plan"]["steps"]
    assert sqlite["server"]["lookup_plan"]["table_scans"] == []
    # One statement per lookup: the number match builds the card (or the pick list) too.
    for kind in ("customer", "new", "choices"):
        if kind in sqlite["phases"]:
            assert set(sqlite["phases"][kind]["statements"]) == {1}, kind
