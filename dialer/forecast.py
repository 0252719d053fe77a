"""Agents free and live answers expected over the next seconds, and the abandons they imply.

At each offset h of `HORIZON` the forecast holds the mean and variance (sums over independent
Bernoulli chances, taken as normal) of:

- supply: agents ready now, plus agents in wrap-up or talking who will be free and ready by
  h + patience (an answered call may wait `patience` seconds for an agent before it counts as
  abandoned);
- demand: calls answered and waiting now, plus live answers by h from the calls ringing.

Three questions are asked of it:

- `call_risk(n)`: if one more call is placed now (on top of n), the chance that, answered, it
  finds no agent. Answered at h, it finds none when the answers before it already match the
  agents free by h + patience: P(demand(h) ≥ supply(h)), averaged over when it may be answered.
- `overrun_chance(n, room)`: the chance that the calls in flight cost more abandons than the
  rolling windows have room for.
- `expected_abandons(n)`: the abandons expected from every call in flight. Calls lost by time t
  are sup over s ≤ t of (demand(s) − supply(s))⁺ (a loss system); this takes the largest
  expected positive shortfall over the offsets, a slight underestimate of the supremum.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from operator import mul

from dialer.estimates import HORIZON, Curve, Estimates, Moments, bucket

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_FEW_ANSWERS = 8.0  # below this many expected answers, tails are computed exactly (Poisson)


@dataclass(frozen=True, slots=True)
class Forecast:
    supply: Curve  # expected agents free by each offset (+ patience)
    supply_var: Curve
    demand: Curve  # expected live answers needing an agent by each offset
    demand_var: Curve
    new_call: Moments  # one more dial placed now: chance of a live answer by each offset

    def call_risk(self, dials: int) -> float:
        """The chance that one more call, placed now on top of `dials`, is answered and finds
        no agent, given that it is answered."""
        c = self.new_call[0]
        risk = 0.0
        for k in range(1, len(HORIZON)):
            mass = c[k] - c[k - 1]  # chance of a live answer in (h[k-1], h[k]]
            if mass > 0.0:
                risk += mass * self._no_agent(k, dials)
        return risk / c[-1] if c[-1] > 0.0 else 1.0

    def expected_abandons(self, dials: int) -> float:
        """Abandons expected from the calls in flight if `dials` more are placed now."""
        c, cv = self.new_call
        worst = 0.0
        for k in range(len(HORIZON)):
            shortfall = self.demand[k] + dials * c[k] - self.supply[k]
            variance = self.supply_var[k] + self.demand_var[k] + dials * cv[k]
            if variance <= 1e-12:
                loss = max(shortfall, 0.0)
            else:
                sd = math.sqrt(variance)
                z = shortfall / sd
                if z < -8.0:
                    continue
                # E[X⁺] for X normal with mean `shortfall` and deviation `sd`.
                loss = shortfall * 0.5 * math.erfc(-z * _INV_SQRT2) + sd * _INV_SQRT_2PI * (
                    math.exp(-0.5 * z * z)
                )
            worst = max(worst, loss)
        return worst

    def overrun_chance(self, dials: int, room: int) -> float:
        """The chance that the calls in flight, with `dials` more placed now, cost more than
        `room` abandons: the largest over the offsets of P(demand > supply + room).

        Abandons come in bursts (a run of answers finds every agent taken), so the whole
        shortfall counts, not independent events, and the tail matters: answers are a sum of
        many small chances, whose right tail is Poisson-like and much heavier than a normal
        law's. So the comparison is made on the square-root scale, where such sums are nearly
        normal (√ of a Poisson count has variance about 1/4 whatever its mean)."""
        c, cv = self.new_call
        worst = 0.0
        for k in range(len(HORIZON)):
            answers = self.demand[k] + dials * c[k]
            reach = self.supply[k] + room + 0.5  # answers beyond this overrun the room
            if reach <= 0.0:
                return 1.0
            if answers <= 1e-9:
                continue
            if answers < _FEW_ANSWERS:
                # Few answers expected: the Poisson tail itself (an upper bound on the tail of
                # a sum of Bernoulli chances), with supply one deviation short of its mean.
                beyond = math.ceil(reach - math.sqrt(self.supply_var[k]))
                chance = _poisson_at_least(answers, beyond)
            else:
                # Delta method on both square roots: Var √X ≈ Var X ÷ 4·E X.
                variance = (self.demand_var[k] + dials * cv[k]) / (4.0 * answers)
                spread = math.sqrt(variance + self.supply_var[k] / (4.0 * reach))
                z = (math.sqrt(reach) - math.sqrt(answers)) / spread
                chance = 0.5 * math.erfc(z * _INV_SQRT2)
            worst = max(worst, chance)
        return worst

    def _no_agent(self, k: int, dials: int) -> float:
        """P(demand ≥ supply) at offset k: normal, with a continuity correction (both are
        counts)."""
        c, cv = self.new_call
        shortfall = self.demand[k] + dials * c[k] - self.supply[k]
        variance = self.supply_var[k] + self.demand_var[k] + dials * cv[k]
        if variance <= 1e-12:
            return 1.0 if shortfall > -0.5 else 0.0
        return 0.5 * math.erfc((-0.5 - shortfall) / math.sqrt(variance) * _INV_SQRT2)


def _poisson_at_least(mean: float, count: int) -> float:
    """P(N ≥ count) for N Poisson with this mean."""
    if count <= 0:
        return 1.0
    if count > mean + 12.0 * math.sqrt(mean) + 12.0:
        return 0.0  # below 1e-12
    term = below = math.exp(-mean)
    for i in range(1, count):
        term *= mean / i
        below += term
    return max(1.0 - below, 0.0)


def forecast(
    *,
    ready: int,
    wrapping: Iterable[float],
    talking: Iterable[float],
    ringing: Iterable[float],
    waiting: int,
    estimates: Estimates,
    patience: float,
) -> Forecast:
    """The forecast for agents and calls in these states (elapsed seconds of each)."""
    supply = _Sum(float(ready))
    for elapsed, count in _by_bucket(wrapping).items():
        supply.add(count, estimates.free_curve("wrap", elapsed, patience))
    for elapsed, count in _by_bucket(talking).items():
        supply.add(count, estimates.free_curve("talk", elapsed, patience))
    demand = _Sum(float(waiting))
    for elapsed, count in _by_bucket(ringing).items():
        demand.add(count, estimates.answer_curve(elapsed))
    supply_mean, supply_var = supply.total()
    demand_mean, demand_var = demand.total()
    return Forecast(
        supply=supply_mean,
        supply_var=supply_var,
        demand=demand_mean,
        demand_var=demand_var,
        new_call=estimates.answer_curve(0.0),
    )


def _by_bucket(elapsed: Iterable[float]) -> dict[int, int]:
    """How many agents or calls share each bucket of elapsed time (they share a curve)."""
    counts: dict[int, int] = {}
    get = counts.get
    for e in elapsed:
        b = int(e) if e < 60 else bucket(e)  # bucket() inlined for the common case
        counts[b] = get(b, 0) + 1
    return counts


class _Sum:
    """Curves added with multiplicities, summed offset by offset in one pass at the end."""

    def __init__(self, base: float) -> None:
        self._base = base
        self._counts: list[int] = []
        self._means: list[Curve] = []
        self._variances: list[Curve] = []

    def add(self, count: int, moments: Moments) -> None:
        self._counts.append(count)
        self._means.append(moments[0])
        self._variances.append(moments[1])

    def total(self) -> Moments:
        return self._columns(self._means, self._base), self._columns(self._variances, 0.0)

    def _columns(self, curves: list[Curve], base: float) -> Curve:
        if not curves:
            return tuple(base for _ in HORIZON)
        counts = self._counts
        # zip(*…) and map(mul, …) keep the inner loops in C.
        return tuple(base + sum(map(mul, column, counts)) for column in zip(*curves, strict=True))
