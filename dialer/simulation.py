"""A seeded discrete-event simulation of an outbound call centre, running the real pacing code.

Time is simulated (no clock, no sleeping): events are kept in a heap and the controller is asked
once per tick (1 s, VICIdial's loop delay too) how many calls to place. Each dial is a live
answer, an answering machine, busy or no answer; a live answer goes to the agent ready longest,
or waits; if no agent is free within `patience` seconds it is abandoned (it hears the message and
counts against the cap).

The model (defaults from the issue): answered ring time lognormal, median 9 s (σ 0.5 of its
log, at most 30 s); no answer rings until a timeout drawn in 15–25 s; machines are answered like
people and recognised by AMD 2–4 s later; busy is known in 2–6 s; talk lognormal with mean 120 s
and coefficient of variation 1; wrap-up 15 s. Variants: the live-answer rate changes at a given
time (halves after an hour), agents take breaks after calls, a share of agents logs off at once
(those ready leave at that instant, the others after their wrap-up) and comes back later.

Randomness comes in separate seeded streams (dial outcomes, talk times, agents' behaviour),
drawn a fixed number of times per dial, per connected call and per decision of an agent: the
n-th dial of a run has the same fate under every controller, so controllers compared on the same
seed face the same numbers (common random numbers), and their differences are theirs.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from dialer.controllers import Controller
from dialer.estimates import Outcome
from dialer.pacing import LiveState
from dialer.windows import DAY, RollingWindows

# Event kinds, in the order they are handled at the same instant: agents finish before calls
# are answered, calls are answered before the dialler looks (an answer at t sees agents freed
# at t; the tick at t sees the answers of t).
_WRAP_END, _TALK_END, _BACK, _LEAVE, _RESOLVE, _ABANDON, _PREVIEW_DIAL, _TICK = range(8)


@dataclass(frozen=True, slots=True)
class Scenario:
    agents: int = 20
    live: float = 0.25  # chance a dial reaches a person
    machine: float = 0.15
    busy: float = 0.08  # the rest is no answer
    ring_median: float = 9.0  # ring time before a live (or machine) answer
    ring_sigma: float = 0.5
    ring_max: float = 30.0
    no_answer_after: tuple[float, float] = (15.0, 25.0)
    busy_after: tuple[float, float] = (2.0, 6.0)
    amd_after: tuple[float, float] = (2.0, 4.0)
    talk_mean: float = 120.0
    talk_cv: float = 1.0
    wrap: float = 15.0
    patience: float = 2.0  # an answer not connected within this is abandoned
    preview_time: tuple[float, float] = (5.0, 15.0)  # preview: reading a record before dialling
    duration: float = 7200.0
    warmup: float = 300.0  # productivity is measured after this; abandons from the start
    tick: float = 1.0
    live_change: tuple[float, float] | None = None  # (at, factor on the live-answer rate)
    breaks: float = 0.0  # chance an agent takes a break after a call
    break_length: tuple[float, float] = (120.0, 600.0)
    leave: tuple[float, float, float] | None = None  # (at, share of agents, back at)
    windows: Mapping[str, float] = field(default_factory=lambda: {"24 h": DAY, "30 days": 30 * DAY})

    @property
    def bound(self) -> float:
        """The fluid bound: talk minutes per agent-hour with no wait at all."""
        return 60.0 * self.talk_mean / (self.talk_mean + self.wrap)


VARIANTS = ("steady", "answer_drop", "agents_leave")


def variant(base: Scenario, name: str) -> Scenario:
    """The non-stationary variants of a scenario."""
    if name == "steady":
        return base
    if name == "answer_drop":
        return replace(base, live_change=(3600.0, 0.5))
    if name == "agents_leave":
        at, back = 0.4 * base.duration, 0.7 * base.duration
        return replace(base, breaks=0.05, leave=(at, 0.3, back))
    raise ValueError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")


@dataclass(frozen=True, slots=True)
class Result:
    controller: str
    seed: int
    talk_minutes_per_agent_hour: float
    contacts_per_agent_hour: float
    wait_mean: float  # seconds an agent waits between calls (ready to connected)
    wait_p95: float
    abandon_rate: float  # over the whole run
    abandon_max: float  # the highest rate any rolling window showed at any moment
    dials: int
    answers: int
    abandons: int
    decision_us_mean: float
    decision_us_p95: float


def simulate(scenario: Scenario, controller: Controller, seed: int) -> Result:
    return _Run(scenario, controller, seed).run()


def _uniform(bounds: tuple[float, float], u: float) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _normal(u1: float, u2: float) -> float:
    """Box–Muller: a standard normal from exactly two uniforms (keeps the streams aligned)."""
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


class _Run:
    def __init__(self, scenario: Scenario, controller: Controller, seed: int) -> None:
        self.s = scenario
        self.c = controller
        self.seed = seed
        self.dial_rng = random.Random(f"{seed}:dials")
        self.talk_rng = random.Random(f"{seed}:talks")
        self.agent_rng = random.Random(f"{seed}:agents")
        self.events: list[tuple[float, int, int, int, object]] = []
        self.seq = 0
        self.windows = RollingWindows(scenario.windows)
        n = scenario.agents
        self.ready: dict[int, float] = {}  # pool agents ready, in the order they became so
        self.ready_since = [0.0] * n
        self.talk_since: dict[int, float] = {}
        self.wrap_since: dict[int, float] = {}
        self.previewing: set[int] = set()
        self.logged_off: set[int] = set()
        self.away_since: dict[int, float] = {}
        self.ringing: dict[int, float] = {}  # pool calls: id → dialled at
        self.waiting: dict[int, float] = {}  # answered pool calls: id → answered at
        self.next_call = 0
        talk_var = math.log(1.0 + scenario.talk_cv**2)
        self.talk_mu = math.log(scenario.talk_mean) - talk_var / 2
        self.talk_sigma = math.sqrt(talk_var)
        self.ring_mu = math.log(scenario.ring_median)
        # Figures
        self.dials = self.answers = self.abandons = self.contacts = 0
        self.talk_seconds = 0.0
        self.away_seconds = 0.0
        self.waits: list[float] = []
        self.costs: list[int] = []
        self.abandon_max = 0.0

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> Result:
        s = self.s
        for agent in range(s.agents):
            self._ready(0.0, agent)
        self._at(0.0, _TICK)
        if s.leave is not None:
            self._at(s.leave[0], _LEAVE)
        end = s.duration
        events = self.events
        while events:
            now, kind, _, a, b = heapq.heappop(events)
            if now > end:
                break
            if kind == _TICK:
                self._tick(now)
            elif kind == _RESOLVE:
                self._resolve(now, a, b)  # type: ignore[arg-type]
            elif kind == _TALK_END:
                self._talk_end(now, a, b)  # type: ignore[arg-type]
            elif kind == _WRAP_END:
                self._wrap_end(now, a)
            elif kind == _ABANDON:
                self._abandon(now, a)
            elif kind == _PREVIEW_DIAL:
                if a in self.previewing:
                    self._dial(now, agent=a)
            elif kind == _BACK:
                self._back(now, a)
            elif kind == _LEAVE:
                self._leave(now)
        return self._result()

    def _at(self, when: float, kind: int, a: int = -1, b: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, kind, self.seq, a, b))

    # -- the dialler ------------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        self._at(now + self.s.tick, _TICK)
        state = LiveState(
            ready=len(self.ready),
            wrapping=tuple(now - t for t in self.wrap_since.values()),
            talking=tuple(now - t for t in self.talk_since.values()),
            ringing=tuple(now - t for t in self.ringing.values()),
            waiting=len(self.waiting),
            windows=self.windows.counts(now),
        )
        started = time.perf_counter_ns()
        dials = self.c.decide(state, now)
        self.costs.append(time.perf_counter_ns() - started)
        for _ in range(dials):
            self._dial(now, agent=-1)

    def _dial(self, now: float, agent: int) -> None:
        """Place a call: for the pool (agent −1) or a previewing agent's own."""
        s = self.s
        rng = self.dial_rng
        u, u1, u2, extra = rng.random(), rng.random(), rng.random(), rng.random()
        live = s.live
        if s.live_change is not None and now >= s.live_change[0]:
            live *= s.live_change[1]
        ring = min(max(math.exp(self.ring_mu + s.ring_sigma * _normal(u1, u2)), 1.0), s.ring_max)
        if u < live:
            outcome, seconds = Outcome.LIVE, ring
        elif u < live + s.machine:
            outcome, seconds = Outcome.MACHINE, ring + _uniform(s.amd_after, extra)
        elif u < live + s.machine + s.busy:
            outcome, seconds = Outcome.BUSY, _uniform(s.busy_after, extra)
        else:
            outcome, seconds = Outcome.NO_ANSWER, _uniform(s.no_answer_after, extra)
        call = self.next_call
        self.next_call += 1
        self.dials += 1
        if agent < 0:
            self.ringing[call] = now
        else:
            self.previewing.discard(agent)
        self._at(now + seconds, _RESOLVE, call, (outcome, seconds, agent))

    def _resolve(self, now: float, call: int, what: tuple[Outcome, float, int]) -> None:
        outcome, seconds, agent = what
        if agent < 0:
            del self.ringing[call]
        self.c.on_dial(outcome, seconds, now)
        if outcome is not Outcome.LIVE:
            if agent >= 0:
                self._preview(now, agent)
            return
        self.answers += 1
        self.windows.answered(now)
        if agent >= 0:
            self._connect(now, agent)
        elif self.ready:
            agent = next(iter(self.ready))
            del self.ready[agent]
            self._connect(now, agent)
        else:
            self.waiting[call] = now
            self._at(now + self.s.patience, _ABANDON, call)

    def _abandon(self, now: float, call: int) -> None:
        if self.waiting.pop(call, None) is None:
            return  # connected in time
        self.abandons += 1
        self.windows.abandoned(now)
        self.c.on_answer(abandoned=True, now=now)
        for window in self.windows.counts(now):
            self.abandon_max = max(self.abandon_max, window.rate)

    # -- agents -----------------------------------------------------------------------------

    def _connect(self, now: float, agent: int) -> None:
        s = self.s
        self.c.on_answer(abandoned=False, now=now)
        since = self.ready_since[agent]
        if since >= s.warmup:
            self.waits.append(now - since)
        u1, u2 = self.talk_rng.random(), self.talk_rng.random()
        talk = math.exp(self.talk_mu + self.talk_sigma * _normal(u1, u2))
        if now >= s.warmup:
            self.contacts += 1
        self.talk_seconds += max(0.0, min(now + talk, s.duration) - max(now, s.warmup))
        self.talk_since[agent] = now
        self._at(now + talk, _TALK_END, agent, talk)

    def _talk_end(self, now: float, agent: int, talk: float) -> None:
        del self.talk_since[agent]
        self.c.on_talk(talk, now)
        self.wrap_since[agent] = now
        self._at(now + self.s.wrap, _WRAP_END, agent)

    def _wrap_end(self, now: float, agent: int) -> None:
        s = self.s
        del self.wrap_since[agent]
        goes_on_break = s.breaks > 0 and self.agent_rng.random() < s.breaks
        if agent in self.logged_off:
            self.c.on_wrap(s.wrap, back_ready=False)
            self._away(now, agent)
        elif goes_on_break:
            self.c.on_wrap(s.wrap, back_ready=False)
            self._away(now, agent)
            self._at(now + _uniform(s.break_length, self.agent_rng.random()), _BACK, agent)
        else:
            self.c.on_wrap(s.wrap, back_ready=True)
            self._ready(now, agent)

    def _ready(self, now: float, agent: int) -> None:
        if agent in self.logged_off:
            self._away(now, agent)
            return
        self.ready_since[agent] = now
        if self.c.agents_dial:
            self._preview(now, agent)
        elif self.waiting:
            call = next(iter(self.waiting))
            del self.waiting[call]
            self._connect(now, agent)
        else:
            self.ready[agent] = now

    def _preview(self, now: float, agent: int) -> None:
        if agent in self.logged_off:
            self._away(now, agent)
            return
        self.previewing.add(agent)
        delay = _uniform(self.s.preview_time, self.agent_rng.random())
        self._at(now + delay, _PREVIEW_DIAL, agent)

    def _away(self, now: float, agent: int) -> None:
        self.away_since[agent] = now

    def _back(self, now: float, agent: int) -> None:
        """An agent back from a break (or, with agent −1, everyone who logged off)."""
        if agent < 0:
            returning = [a for a in self.logged_off if a in self.away_since]
            self.logged_off.clear()  # those still on a call never left
            for a in returning:
                self._back(now, a)
            return
        if agent in self.logged_off:
            return  # logged off during the break: back with the others
        since = self.away_since.pop(agent)
        self.away_seconds += self._overlap(since, now)
        self._ready(now, agent)

    def _leave(self, now: float) -> None:
        """A share of the agents logs off at once: those ready at this instant, the others
        after their call and wrap-up; all come back together later."""
        _, share, back = self.s.leave or (0.0, 0.0, 0.0)
        chosen = self.agent_rng.sample(range(self.s.agents), round(share * self.s.agents))
        self.logged_off.update(chosen)
        for agent in chosen:
            if agent in self.ready:
                del self.ready[agent]
                self._away(now, agent)
            elif agent in self.previewing:
                self.previewing.discard(agent)
                self._away(now, agent)
        self._at(back, _BACK, -1)

    def _overlap(self, start: float, end: float) -> float:
        return max(0.0, min(end, self.s.duration) - max(start, self.s.warmup))

    # -- figures ----------------------------------------------------------------------------

    def _result(self) -> Result:
        s = self.s
        for since in self.away_since.values():
            self.away_seconds += self._overlap(since, s.duration)
        measured = s.agents * (s.duration - s.warmup) - self.away_seconds
        hours = max(measured, 1e-9) / 3600.0
        costs_us = [c / 1000.0 for c in self.costs]
        return Result(
            controller=self.c.name,
            seed=self.seed,
            talk_minutes_per_agent_hour=self.talk_seconds / 60.0 / hours,
            contacts_per_agent_hour=self.contacts / hours,
            wait_mean=statistics.fmean(self.waits) if self.waits else 0.0,
            wait_p95=_p95(self.waits),
            abandon_rate=self.abandons / self.answers if self.answers else 0.0,
            abandon_max=self.abandon_max,
            dials=self.dials,
            answers=self.answers,
            abandons=self.abandons,
            decision_us_mean=statistics.fmean(costs_us) if costs_us else 0.0,
            decision_us_p95=_p95(costs_us),
        )
