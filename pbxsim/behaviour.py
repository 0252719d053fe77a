"""The people around the PBX: how agents answer, how callers wait, how customers pick up.

All randomness comes from ``random.Random`` instances derived from the seed and a key naming
what is being decided (``("agent", "1001", <call id>)``). A decision therefore does not depend on
how many other draws happened before it, so runs are reproducible even when a client's actions
interleave differently with the simulation.
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

Delay = float | tuple[float, float]

ANSWER, BUSY, NO_ANSWER = "answer", "busy", "no_answer"
CONGESTION, MACHINE = "congestion", "machine"
OUTCOMES = (ANSWER, BUSY, NO_ANSWER, CONGESTION, MACHINE)


def sample(delay: Delay, rng: random.Random) -> float:
    """A fixed delay, or uniform between the two bounds, rounded to whole milliseconds."""
    if isinstance(delay, tuple):
        low, high = delay
        return round(rng.uniform(low, high), 3)
    return float(delay)


def seconds_text(value: float) -> str:
    """How a duration shows in dialplan application data: ``20``, ``2.5``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class AgentProfile:
    """How an agent's phone behaves when it rings."""

    answers: float = 1.0  # probability of picking up
    ring_delay: Delay = 2.0  # seconds of ringing before picking up
    talk_time: Delay = 20.0  # seconds of conversation before the agent hangs up
    never_answer_ring: float = 60.0  # how long an unanswered phone keeps ringing

    def __post_init__(self) -> None:
        if not 0.0 <= self.answers <= 1.0:
            raise ValueError("answers must be a probability")


LAB_AGENT = AgentProfile()
LAB_SLEEPY_AGENT = AgentProfile(answers=0.0)


@dataclass(frozen=True)
class CustomerPlan:
    """What one dialled number does this time."""

    outcome: str
    ring: float = 2.0  # seconds of ringing before answering (answer, machine)
    talk: float = 30.0  # seconds before hanging up once answered (greeting for a machine)
    lab_exten: str | None = None  # the lab dialplan jumps +X./0X. numbers to this extension


class CustomerModel(ABC):
    """Decides what a dialled customer number does."""

    @abstractmethod
    def plan(self, number: str, attempt: int, rng: random.Random) -> CustomerPlan: ...


class LabCustomers(CustomerModel):
    """The lab dialplan's customers context: the number decides (see ami-traces/README.md)."""

    def plan(self, number: str, attempt: int, rng: random.Random) -> CustomerPlan:
        if re.fullmatch(r"6\d{3}", number):
            return CustomerPlan(ANSWER, ring=2.0, talk=30.0)
        if number.startswith(("+", "0")) and len(number) > 1:
            return CustomerPlan(ANSWER, ring=2.0, talk=30.0, lab_exten="6000")
        if re.fullmatch(r"7\d{3}", number):
            return CustomerPlan(BUSY)
        if re.fullmatch(r"8\d{3}", number):
            return CustomerPlan(NO_ANSWER)
        if re.fullmatch(r"9\d{3}", number):
            return CustomerPlan(CONGESTION)
        return CustomerPlan(ANSWER, ring=2.0, talk=30.0)


@dataclass(frozen=True)
class RandomCustomers(CustomerModel):
    """Outcomes drawn with fixed probabilities (an outbound campaign's list)."""

    answer: float = 0.3
    busy: float = 0.1
    no_answer: float = 0.5
    machine: float = 0.1
    congestion: float = 0.0
    ring: Delay = (2.0, 12.0)
    talk: Delay = (20.0, 120.0)
    greeting: Delay = (4.0, 12.0)

    def __post_init__(self) -> None:
        weights = (self.answer, self.busy, self.no_answer, self.machine, self.congestion)
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError("outcome probabilities must be non-negative and not all zero")

    def plan(self, number: str, attempt: int, rng: random.Random) -> CustomerPlan:
        kinds = (ANSWER, BUSY, NO_ANSWER, MACHINE, CONGESTION)
        weights = (self.answer, self.busy, self.no_answer, self.machine, self.congestion)
        outcome = rng.choices(kinds, weights=weights)[0]
        ring = sample(self.ring, rng)
        if outcome == MACHINE:
            return CustomerPlan(MACHINE, ring=ring, talk=sample(self.greeting, rng))
        return CustomerPlan(outcome, ring=ring, talk=sample(self.talk, rng))


@dataclass
class Behaviour:
    """Profiles and the seed from which every decision is drawn."""

    seed: int = 0
    agents: dict[str, AgentProfile] = field(default_factory=dict)
    default_agent: AgentProfile | None = None  # None: the lab rule (19XX never answers)
    customers: CustomerModel = field(default_factory=LabCustomers)
    answer_settle: float = 0.5  # Answer() waits this long for media before the next step
    _attempts: dict[str, int] = field(default_factory=dict)

    def rng(self, *key: object) -> random.Random:
        return random.Random(":".join(str(part) for part in (self.seed, *key)))

    def agent(self, extension: str) -> AgentProfile:
        profile = self.agents.get(extension)
        if profile is not None:
            return profile
        if self.default_agent is not None:
            return self.default_agent
        return LAB_SLEEPY_AGENT if re.fullmatch(r"19\d\d", extension) else LAB_AGENT

    def customer(self, number: str) -> CustomerPlan:
        attempt = self._attempts.get(number, 0) + 1
        self._attempts[number] = attempt
        return self.customers.plan(number, attempt, self.rng("customer", number, attempt))
