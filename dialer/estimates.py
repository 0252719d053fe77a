"""What a campaign's own calls teach the pacing, learned online, and frozen snapshots of it.

`Estimator` is fed one observation at a time (a dial's outcome and how long it took to be known,
a talk time, a wrap-up time, whether the agent came back ready) and forgets exponentially: the
weight of an observation halves every `half_life` observations of its kind, so a campaign whose
answer rate halves is followed within minutes.
Priors are deliberately cautious (a high answer rate, long talks and wrap-ups): while the
campaign knows little, the pacing overestimates answers and underestimates free agents, so it
dials too little rather than too much.

`Estimates` is the frozen snapshot the pure pacing reads. Its curves give, for a call that has
rung `elapsed` seconds or an agent `elapsed` seconds into a talk or a wrap-up, the chance of a
live answer or of a free agent within each offset of `HORIZON`. They are memoised per whole
second of elapsed time (coarser for long talks), so a decision costs a few dictionary lookups
per agent and call.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

# Offsets (seconds from now) at which the pacing compares expected answers with free agents:
# one-second steps while answers are likeliest, coarser up to the longest a phone rings.
HORIZON: tuple[float, ...] = (
    *(float(s) for s in range(13)),
    14.0,
    16.0,
    18.0,
    20.0,
    23.0,
    26.0,
    30.0,
    35.0,
    40.0,
)
# Ring-time histograms cover this many whole seconds; a later outcome falls in the last bin.
RING_SPAN = 60
_SQRT2 = math.sqrt(2.0)
_UNRESOLVED_FLOOR = 0.01  # see Estimates._answer
_MAX_BOOST = 5.0  # see Estimator.record_talk
_RESCALE = 1e100  # growing weights are brought back down before floats overflow

Curve = tuple[float, ...]
# A curve of Bernoulli chances and their variances, offset by offset.
Moments = tuple[Curve, Curve]
Activity = Literal["talk", "wrap"]


class Outcome(StrEnum):
    """How a dial ended, as far as the pacing cares."""

    LIVE = "live"  # a person answered
    MACHINE = "machine"  # answering machine, detected by the PBX (AMD)
    BUSY = "busy"
    NO_ANSWER = "no_answer"  # rang until the campaign's ring limit


def normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / _SQRT2)


@dataclass(frozen=True, slots=True)
class LogNormal:
    """A positive duration whose logarithm is normal (talk and wrap-up times)."""

    mu: float
    sigma: float

    @classmethod
    def from_median(cls, median: float, sigma: float) -> LogNormal:
        return cls(math.log(median), sigma)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma * self.sigma / 2)

    def cdf(self, seconds: float) -> float:
        if seconds <= 0:
            return 0.0
        return normal_cdf((math.log(seconds) - self.mu) / self.sigma)

    def ended_by_each(self, elapsed: float, more: list[float]) -> list[float]:
        """Chance it ends within each of `more` seconds, given it has lasted `elapsed`."""
        base = self.cdf(elapsed)
        left = 1.0 - base
        if left < 1e-12:
            # Far beyond anything seen (an agent still "wrapping up" after an hour): no basis
            # for a forecast, so assume the plain mean rate, cautious but not zero.
            return [1.0 - math.exp(-m / self.mean) if m > 0 else 0.0 for m in more]
        return [(self.cdf(elapsed + m) - base) / left if m > 0 else 0.0 for m in more]


class _Decay:
    """Exponential forgetting by growing the weight of each new observation (cheaper than
    shrinking every old one); `scale` is applied to the sums when the weight gets large."""

    def __init__(self, half_life: float) -> None:
        self._growth = 2.0 ** (1.0 / half_life)
        self.weight = 1.0

    def step(self) -> float:
        weight = self.weight
        self.weight *= self._growth
        return weight

    def overflowing(self) -> bool:
        if self.weight < _RESCALE:
            return False
        self.weight /= _RESCALE
        return True


class _Histogram:
    """Durations in whole-second bins, with forgetting."""

    def __init__(self, half_life: float, prior: list[float], prior_weight: float) -> None:
        total = sum(prior)
        self._bins = [prior_weight * x / total for x in prior]
        self._decay = _Decay(half_life)

    def add(self, seconds: float) -> None:
        self._bins[min(max(int(seconds), 0), RING_SPAN - 1)] += self._decay.step()
        if self._decay.overflowing():
            self._bins = [b / _RESCALE for b in self._bins]

    def cdf(self) -> Curve:
        """The distribution function at 0, 1, …, RING_SPAN seconds."""
        total = sum(self._bins)
        running = 0.0
        points = [0.0]
        for b in self._bins:
            running += b
            points.append(running / total)
        return tuple(points)


class _Share:
    """How often something happens, with forgetting."""

    def __init__(self, half_life: float, prior: float, prior_weight: float) -> None:
        self._hits = prior * prior_weight
        self._total = prior_weight
        self._decay = _Decay(half_life)

    def add(self, hit: bool) -> None:
        weight = self._decay.step()
        self._total += weight
        if hit:
            self._hits += weight
        if self._decay.overflowing():
            self._hits /= _RESCALE
            self._total /= _RESCALE

    @property
    def value(self) -> float:
        return self._hits / self._total


class _LogNormalFit:
    """Mean and variance of log-durations, with forgetting."""

    def __init__(self, half_life: float, prior: LogNormal, prior_weight: float) -> None:
        self._w = prior_weight
        self._s1 = prior.mu * prior_weight
        self._s2 = (prior.sigma**2 + prior.mu**2) * prior_weight
        self._decay = _Decay(half_life)

    def add(self, seconds: float, boost: float = 1.0) -> None:
        x = math.log(max(seconds, 0.1))
        weight = self._decay.step() * boost
        self._w += weight
        self._s1 += weight * x
        self._s2 += weight * x * x
        if self._decay.overflowing():
            self._w /= _RESCALE
            self._s1 /= _RESCALE
            self._s2 /= _RESCALE

    def value(self, min_sigma: float) -> LogNormal:
        mu = self._s1 / self._w
        variance = max(self._s2 / self._w - mu * mu, 0.0)
        return LogNormal(mu, max(math.sqrt(variance), min_sigma))


def _lognormal_pmf(median: float, sigma: float) -> list[float]:
    """A lognormal spread over the whole-second bins (the prior of live ring times)."""
    shape = LogNormal.from_median(median, sigma)
    edges = [shape.cdf(float(s)) for s in range(RING_SPAN)] + [1.0]
    return [max(b - a, 1e-9) for a, b in itertools.pairwise(edges)]


@dataclass(frozen=True, slots=True)
class Prior:
    """What a campaign assumes before its own calls say otherwise (cautious on purpose)."""

    live: float = 0.5
    ring_median: float = 8.0
    talk: LogNormal = field(default_factory=lambda: LogNormal.from_median(180.0, 0.5))
    wrap: LogNormal = field(default_factory=lambda: LogNormal.from_median(30.0, 0.3))
    back_ready: float = 0.8
    weight: float = 20.0  # worth this many observations


class Estimator:
    """The online learner of one campaign. Not thread-safe; one per campaign driver."""

    def __init__(
        self,
        *,
        half_life: float = 300.0,
        prior: Prior | None = None,
    ) -> None:
        prior = prior or Prior()
        self._live = _Share(half_life, prior.live, prior.weight)
        self._live_ring = _Histogram(
            half_life, _lognormal_pmf(prior.ring_median, 0.5), prior.weight
        )
        self._other_ring = _Histogram(half_life, [1.0] * 25 + [1e-9] * 35, prior.weight)
        self._talk = _LogNormalFit(half_life, prior.talk, prior.weight * 2)
        self._wrap = _LogNormalFit(half_life, prior.wrap, prior.weight / 4)
        self._back_ready = _Share(half_life, prior.back_ready, prior.weight)
        self._dials = 0
        self._snapshot: Estimates | None = None

    def record_dial(self, outcome: Outcome, seconds: float) -> None:
        """A dial ended up as `outcome`, known `seconds` after it was placed."""
        live = outcome is Outcome.LIVE
        self._live.add(live)
        (self._live_ring if live else self._other_ring).add(seconds)
        self._dials += 1
        self._snapshot = None

    def record_talk(self, seconds: float, *, watched: float = math.inf) -> None:
        """A talk of `seconds` ended, `watched` seconds after the campaign's first connection.

        Talks longer than `watched` cannot have ended yet, so at first short talks are over-
        represented (and free agents overestimated: too many calls). With connections spread
        evenly since then, a talk of T is seen by now with chance (watched − T) ÷ watched;
        each is weighed by the inverse."""
        if watched == math.inf:
            boost = 1.0
        elif watched > seconds:
            boost = min(watched / (watched - seconds), _MAX_BOOST)
        else:
            boost = _MAX_BOOST
        self._talk.add(seconds, boost)
        self._snapshot = None

    def record_wrap(self, seconds: float, *, back_ready: bool) -> None:
        """A wrap-up of `seconds` ended; the agent went ready (or took a break, or left)."""
        self._wrap.add(seconds)
        self._back_ready.add(back_ready)
        self._snapshot = None

    def snapshot(self) -> Estimates:
        if self._snapshot is None:
            self._snapshot = Estimates(
                live=self._live.value,
                live_ring=self._live_ring.cdf(),
                other_ring=self._other_ring.cdf(),
                talk=self._talk.value(min_sigma=0.05),
                wrap=self._wrap.value(min_sigma=0.02),
                back_ready=self._back_ready.value,
                dials=self._dials,
            )
        return self._snapshot


@dataclass(frozen=True, eq=False)
class Estimates:
    """A frozen snapshot of a campaign's estimates, with memoised forecast curves."""

    live: float  # chance a dial reaches a person
    live_ring: Curve  # distribution of ring time before a live answer, at whole seconds
    other_ring: Curve  # distribution of the time other outcomes take to be known
    talk: LogNormal
    wrap: LogNormal
    back_ready: float  # chance an agent goes ready after wrap-up rather than on a break
    dials: int = 0  # dials learned from
    _memo: dict[tuple[str, int, float], Moments] = field(
        default_factory=dict, init=False, repr=False
    )

    @classmethod
    def prior(cls) -> Estimates:
        return Estimator().snapshot()

    def answer_curve(self, elapsed: float) -> Moments:
        """For a call ringing for `elapsed` s: the chance of a live answer by each horizon
        offset, and its variance."""
        second = min(int(elapsed), RING_SPAN)
        key = ("ring", second, 0.0)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = _moments(self._answer(float(second)))
        return found

    def free_curve(self, activity: Activity, elapsed: float, lead: float) -> Moments:
        """For an agent `elapsed` s into a talk or a wrap-up: the chance they are free and ready
        by each horizon offset plus `lead` seconds, and its variance."""
        since = bucket(elapsed)
        key = (activity, since, lead)
        found = self._memo.get(key)
        if found is None:
            if activity == "wrap":
                shape, shift = self.wrap, lead
            else:
                # The wrap-up that follows a talk is short and steady next to the talk itself:
                # its mean is taken off the time available rather than convolved.
                shape, shift = self.talk, lead - self.wrap.mean
            ready = self.back_ready
            found = self._memo[key] = _moments(
                tuple(ready * p for p in shape.ended_by_each(since, [h + shift for h in HORIZON]))
            )
        return found

    def _answer(self, elapsed: float) -> Curve:
        p = self.live
        still_live = p * (1.0 - _at(self.live_ring, elapsed))
        still_other = (1.0 - p) * (1.0 - _at(self.other_ring, elapsed))
        # A call ringing longer than nearly all calls do (a lost hang-up event, a ring limit
        # changed) is not taken as a sure answer: the floor shrinks its chance towards none.
        unresolved = max(still_live + still_other, _UNRESOLVED_FLOOR)
        base = _at(self.live_ring, elapsed)
        return tuple(p * (_at(self.live_ring, elapsed + h) - base) / unresolved for h in HORIZON)


def bucket(elapsed: float) -> int:
    """Elapsed activity time, rounded down: to the second at first, coarser for long talks,
    whose chance of ending changes slowly."""
    if elapsed < 60:
        return int(elapsed)
    if elapsed < 300:
        return int(elapsed) // 5 * 5
    return int(elapsed) // 30 * 30


def _at(cdf: Curve, seconds: float) -> float:
    """A whole-second distribution function, interpolated linearly within the second."""
    if seconds >= RING_SPAN:
        return 1.0
    if seconds <= 0:
        return 0.0
    i = int(seconds)
    return cdf[i] + (seconds - i) * (cdf[i + 1] - cdf[i])


def _moments(curve: Curve) -> Moments:
    return curve, tuple(q * (1.0 - q) for q in curve)
