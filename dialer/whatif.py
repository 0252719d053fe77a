"""The what-if: a campaign's settings run through the call-centre simulation on the campaign's
own history (how often a person answers, how long numbers ring and people talk), before it
starts or while it runs. The team lead sees the talk time and abandon rate to expect, beside
progressive dialling on the same simulated calls.

`History` is what the campaign's record shows (or, with too few calls, the usual figures and
a note that they are assumed); `what_if` is pure and CPU-bound: the service runs it in a
worker process so that the event loop (and the screen pops) never waits for it."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, replace
from typing import Any

from dialer.controllers import Engine
from dialer.pacing import Mode, Policy
from dialer.simulation import Result, Scenario, simulate

MIN_DIALS = 50  # fewer than this, and the campaign's own figures say little
DEFAULT = Scenario()


@dataclass(frozen=True, slots=True)
class History:
    dials: int
    live: float  # share of dials a person answered
    machine: float
    busy: float
    ring_median: float  # seconds from the dial to a person's answer
    talk_mean: float
    talk_cv: float
    wrap: float

    @classmethod
    def assumed(cls, dials: int = 0) -> History:
        return cls(
            dials,
            DEFAULT.live,
            DEFAULT.machine,
            DEFAULT.busy,
            DEFAULT.ring_median,
            DEFAULT.talk_mean,
            DEFAULT.talk_cv,
            DEFAULT.wrap,
        )

    @property
    def own(self) -> bool:
        return self.dials >= MIN_DIALS


def history_of(
    *,
    outcomes: dict[str, int],
    rings: list[float],
    talks: list[float],
    wraps: list[float],
) -> History:
    """From a campaign's record: dials by outcome, seconds to a live answer, talk and wrap-up
    times. Each figure falls back to the usual one when the record has too few of it."""
    dials = sum(outcomes.values())
    if dials < MIN_DIALS:
        return History.assumed(dials)
    live = (outcomes.get("answered", 0) + outcomes.get("abandoned", 0)) / dials
    talk_mean = statistics.fmean(talks) if len(talks) >= 10 else DEFAULT.talk_mean
    talk_cv = (
        statistics.stdev(talks) / talk_mean if len(talks) >= 10 and talk_mean else DEFAULT.talk_cv
    )
    return History(
        dials=dials,
        live=max(live, 0.01),
        machine=outcomes.get("machine", 0) / dials,
        busy=(outcomes.get("busy", 0) + outcomes.get("congestion", 0)) / dials,
        ring_median=statistics.median(rings) if len(rings) >= 10 else DEFAULT.ring_median,
        talk_mean=max(talk_mean, 5.0),
        talk_cv=min(max(talk_cv, 0.1), 3.0),
        wrap=statistics.median(wraps) if len(wraps) >= 10 else DEFAULT.wrap,
    )


def what_if(
    history: History,
    policy: Policy,
    *,
    agents: int,
    minutes: float = 30.0,
    seeds: int = 2,
) -> dict[str, Any]:
    """Expected figures of these settings with this many agents, against progressive dialling
    on the same seeds (the same simulated calls)."""
    if agents < 1:
        raise ValueError("at least one agent")
    scenario = replace(
        DEFAULT,
        agents=agents,
        live=history.live,
        machine=min(history.machine, 1.0 - history.live),
        busy=min(history.busy, 1.0 - history.live - min(history.machine, 1.0 - history.live)),
        ring_median=history.ring_median,
        talk_mean=history.talk_mean,
        talk_cv=history.talk_cv,
        wrap=history.wrap,
        patience=policy.patience,
        duration=minutes * 60.0 + DEFAULT.warmup,
    )
    progressive = replace(policy, mode=Mode.PROGRESSIVE)
    ours = [simulate(scenario, Engine(policy, name=str(policy.mode)), s) for s in range(seeds)]
    base = [simulate(scenario, Engine(progressive, name="progressive"), s) for s in range(seeds)]
    return {
        "agents": agents,
        "minutes": minutes,
        "seeds": seeds,
        "history": {**asdict(history), "own": history.own},
        "bound": round(scenario.bound, 1),
        "settings": _summary(ours),
        "progressive": _summary(base),
    }


def _summary(results: list[Result]) -> dict[str, float]:
    def mean(name: str) -> float:
        return round(statistics.fmean(getattr(r, name) for r in results), 4)

    return {
        "talk_minutes_per_agent_hour": round(mean("talk_minutes_per_agent_hour"), 1),
        "contacts_per_agent_hour": round(mean("contacts_per_agent_hour"), 1),
        "wait_mean_seconds": round(mean("wait_mean"), 1),
        "abandon_rate": mean("abandon_rate"),
        "abandon_max": max(r.abandon_max for r in results),
    }
