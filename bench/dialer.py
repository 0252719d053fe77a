"""The dialer benchmark: pacing controllers compared on the same seeded call centres.

    python -m bench.dialer [--seeds 5] [--hours 2] [--agents 5,10,20,50,100]
        [--answer-rates 0.10,0.25,0.40] [--variants steady,answer_drop,agents_leave]
        [--variant-agents 20] [--variant-rate 0.25] [--quick]

Runs `dialer.simulation` (simulated clock, the real pacing code) for every number of agents
and live-answer rate, each controller on the same seeds (common random numbers: the n-th dial
of a seed has the same fate under every controller): preview, progressive 1:1, a fixed ratio
(a power dialler: 3 calls per ready agent), VICIdial's adaptive method (`dialer.vicidial`,
ADAPT_AVERAGE, and the same without its drop-rate backstop), ours, and the fluid bound
talk ÷ (talk + wrap-up).
The non-stationary variants run at one size (`--variant-agents`, `--variant-rate`).

Per controller and cell: talk minutes per agent-hour, contacts per agent-hour, agent wait
between calls (mean, P95), the abandon rate over the run and the highest any rolling window
showed at any moment (max over seeds and P95 over seeds), and the pacing decision cost in µs.
Productivity is measured after a warm-up (`--warmup`, 300 s); abandons from the first call.
`--quick` (2 seeds, 30 simulated minutes, 5, 20 and 100 agents, the steady variant only)
runs in under a minute. Prints one JSON object, with the issue's goals checked at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

from dialer.controllers import Controller, Engine, FixedRatio
from dialer.pacing import Mode, Policy
from dialer.simulation import VARIANTS, Result, Scenario, simulate, variant
from dialer.vicidial import Backstop, VicidialAdaptive

OURS = "ours"
VICIDIAL = "vicidial_adapt"
CONTROLLERS: dict[str, Callable[[float], Controller]] = {
    "preview": lambda cap: Engine(Policy(mode=Mode.PREVIEW, abandon_cap=cap), name="preview"),
    "progressive": lambda cap: Engine(
        Policy(mode=Mode.PROGRESSIVE, abandon_cap=cap), name="progressive"
    ),
    "fixed_ratio_3": lambda cap: FixedRatio(3.0),
    VICIDIAL: lambda cap: VicidialAdaptive(dropped_percentage=100 * cap),
    "vicidial_no_backstop": lambda cap: VicidialAdaptive(
        dropped_percentage=100 * cap, backstop=Backstop.NONE
    ),
    OURS: lambda cap: Engine(Policy(abandon_cap=cap), name=OURS),
}
GOALS = {"talk_n20": 49.0, "talk_n100": 51.0, "over_vicidial_small": 1.10}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    if args.quick:
        args.seeds, args.hours, args.agents, args.variants = 2, 0.5, "5,20,100", "steady"
    agents = [int(a) for a in args.agents.split(",")]
    rates = [float(r) for r in args.answer_rates.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    seeds = list(range(args.seeds))
    base = Scenario(duration=args.hours * 3600.0, warmup=args.warmup)
    started = time.process_time()
    cells = []
    for name in variants:
        sizes = [(n, r) for n in agents for r in rates] if name == "steady" else []
        if name != "steady":
            sizes = [(args.variant_agents, args.variant_rate)]
        for n, rate in sizes:
            scenario = variant(replace(base, agents=n, live=rate), name)
            cells.append(_cell(name, scenario, seeds, args.cap))
            _progress(cells[-1])
    report = {
        "benchmark": "dialer",
        "command": "python -m bench.dialer " + " ".join(argv or sys.argv[1:]),
        "seeds": seeds,
        "simulated_hours": args.hours,
        "warmup_seconds": args.warmup,
        "abandon_cap": args.cap,
        "model": _model(base),
        "cells": cells,
        "goals": _goals(cells, args.cap),
        "cpu_seconds": round(time.process_time() - started, 1),
    }
    print(json.dumps(report, indent=1))
    return report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.dialer", description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=300.0)
    parser.add_argument("--agents", default="5,10,20,50,100")
    parser.add_argument("--answer-rates", default="0.10,0.25,0.40")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--variant-agents", type=int, default=20)
    parser.add_argument("--variant-rate", type=float, default=0.25)
    parser.add_argument("--cap", type=float, default=0.03)
    parser.add_argument("--quick", action="store_true")
    return parser


def _cell(name: str, scenario: Scenario, seeds: list[int], cap: float) -> dict[str, Any]:
    results = {
        label: [simulate(scenario, make(cap), seed) for seed in seeds]
        for label, make in CONTROLLERS.items()
    }
    ours = [r.talk_minutes_per_agent_hour for r in results[OURS]]
    vicidial = [r.talk_minutes_per_agent_hour for r in results[VICIDIAL]]
    progressive = [r.talk_minutes_per_agent_hour for r in results["progressive"]]
    return {
        "variant": name,
        "agents": scenario.agents,
        "live_rate": scenario.live,
        "bound_talk_minutes_per_agent_hour": round(scenario.bound, 2),
        "controllers": {label: _summary(rs) for label, rs in results.items()},
        "ours_over_vicidial": round(statistics.fmean(ours) / statistics.fmean(vicidial), 3),
        "ours_over_vicidial_worst_seed": round(
            min(o / v for o, v in zip(ours, vicidial, strict=True)), 3
        ),
        "ours_minus_progressive_worst_seed": round(
            min(o - p for o, p in zip(ours, progressive, strict=True)), 2
        ),
    }


def _summary(results: list[Result]) -> dict[str, Any]:
    def mean(field: str) -> float:
        return statistics.fmean(getattr(r, field) for r in results)

    maxima = sorted(r.abandon_max for r in results)
    return {
        "talk_minutes_per_agent_hour": round(mean("talk_minutes_per_agent_hour"), 2),
        "talk_minutes_min_seed": round(min(r.talk_minutes_per_agent_hour for r in results), 2),
        "contacts_per_agent_hour": round(mean("contacts_per_agent_hour"), 2),
        "wait_mean_s": round(mean("wait_mean"), 1),
        "wait_p95_s": round(mean("wait_p95"), 1),
        "abandon_rate": round(mean("abandon_rate"), 4),
        "abandon_max": round(maxima[-1], 4),
        "abandon_max_p95_over_seeds": round(_p95(maxima), 4),
        "decision_us_mean": round(mean("decision_us_mean"), 1),
        "decision_us_p95": round(mean("decision_us_p95"), 1),
    }


def _p95(sorted_values: list[float]) -> float:
    if len(sorted_values) < 2:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=20, method="inclusive")[-1]


def _goals(cells: list[dict[str, Any]], cap: float) -> dict[str, Any]:
    steady = [c for c in cells if c["variant"] == "steady"]

    def talk(n: int, rate: float = 0.25) -> float | None:
        for c in steady:
            if c["agents"] == n and abs(c["live_rate"] - rate) < 1e-9:
                return float(c["controllers"][OURS]["talk_minutes_per_agent_hour"])
        return None

    small = [c for c in steady if c["agents"] <= 20]
    n5 = [c for c in steady if c["agents"] == 5]
    worst_abandon = max(c["controllers"][OURS]["abandon_max"] for c in cells)
    goals: dict[str, Any] = {
        "talk_n20_at_0.25": _goal(talk(20), GOALS["talk_n20"]),
        "talk_n100_at_0.25": _goal(talk(100), GOALS["talk_n100"]),
        "over_vicidial_where_n_le_20": _goal(
            min((c["ours_over_vicidial"] for c in small), default=None),
            GOALS["over_vicidial_small"],
        ),
        "ahead_of_vicidial_everywhere": _goal(
            min((c["ours_over_vicidial"] for c in steady), default=None), 1.0, strict=True
        ),
        "abandon_never_above_cap": {"worst": worst_abandon, "met": worst_abandon <= cap},
        "n5_never_worse_than_progressive": _goal(
            min((c["ours_minus_progressive_worst_seed"] for c in n5), default=None), 0.0
        ),
    }
    return goals


def _goal(value: float | None, target: float, strict: bool = False) -> dict[str, Any]:
    if value is None:
        return {"value": None, "target": target, "met": None}
    met = value > target if strict else value >= target
    return {"value": value, "target": target, "met": met}


def _model(s: Scenario) -> dict[str, Any]:
    fields = asdict(s)
    for key in ("agents", "live", "duration", "warmup", "windows"):
        fields.pop(key)
    return fields


def _progress(cell: dict[str, Any]) -> None:
    ours = cell["controllers"][OURS]
    print(
        f"{cell['variant']} n={cell['agents']} live={cell['live_rate']}: ours"
        f" {ours['talk_minutes_per_agent_hour']} talk-min/agent-h, abandon max"
        f" {ours['abandon_max']}; x{cell['ours_over_vicidial']} VICIdial",
        file=sys.stderr,
        flush=True,
    )


if __name__ == "__main__":
    main()
