"""Seeded traffic for the simulator: inbound bursts, outbound campaigns, a never-ending demo.

A scenario schedules its calls on the simulator's clock and draws every choice from a
``random.Random`` seeded with the simulator's seed (or its own), so the same seed gives the same
calls at the same simulated times, at any speed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pbxsim.behaviour import AgentProfile, CustomerModel, Delay, RandomCustomers, sample
from pbxsim.clock import Timer
from pbxsim.legs import CallerId
from pbxsim.queues import QueueError

if TYPE_CHECKING:
    from pbxsim.simulator import Simulator

_LAB_DIDS = {"sales": "5000", "support": "5001"}
_FIRST_NAMES = ("Ann", "Bao", "Carla", "Dev", "Elif", "Femi", "Gus", "Hana", "Ivo", "Jun")
_LAST_NAMES = ("Ng", "Ortiz", "Park", "Quinn", "Rossi", "Sato", "Tan", "Utu", "Vogel", "Wu")


class Scenario(Protocol):
    def start(self, sim: Simulator) -> None: ...

    def stop(self) -> None: ...


def did_for(sim: Simulator, queue: str) -> str:
    """The DID that reaches ``queue``: the lab's for sales/support, else a new one routed there."""
    if queue in _LAB_DIDS:
        return _LAB_DIDS[queue]
    for did, routed in sim.runtime.did_routes.items():
        if routed == queue:
            return did
    did = str(5100 + len(sim.runtime.did_routes))
    sim.runtime.did_routes[did] = queue
    return did


def agent_interface(sim: Simulator, extension: str) -> tuple[str, str]:
    """Queue member interface and state interface of an agent's phone in this mode."""
    if sim.mode == "local":
        return f"Local/{extension}@agents", f"Custom:agent{extension}"
    return f"PJSIP/{extension}", f"PJSIP/{extension}"


def log_agents_in(sim: Simulator, queue: str, extensions: list[str]) -> None:
    """What a CTI does when agents go ready: device state, then QueueAdd."""
    for extension in extensions:
        interface, state_interface = agent_interface(sim, extension)
        if sim.mode == "local":
            sim.runtime.set_custom_device_state(state_interface, "NOT_INUSE")
        try:
            sim.queues.add_member(
                queue, interface, name=f"Agent {extension}", state_interface=state_interface
            )
        except QueueError:
            pass  # already in the queue


def random_caller(rng: random.Random) -> CallerId:
    number = f"+1555{rng.randrange(0, 10_000_000):07d}"
    name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
    return CallerId(number, name)


@dataclass
class _Schedule:
    timers: list[Timer] = field(default_factory=list)

    def cancel(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


@dataclass
class InboundBurst:
    """``calls`` callers arrive over ``over_seconds`` at a queue staffed by ``agents`` agents.

    A share ``abandon_rate`` of callers is impatient: each hangs up if not answered within a
    patience drawn from ``patience``; the others wait up to ``patient_wait`` seconds."""

    calls: int = 200
    over_seconds: float = 60.0
    queue: str = "sales"
    agents: int = 20
    abandon_rate: float = 0.3
    patience: Delay = (10.0, 60.0)
    patient_wait: float = 600.0
    talk_time: Delay = (30.0, 120.0)
    ring_delay: Delay = (1.0, 4.0)
    first_extension: int = 1001
    add_agents: bool = True
    seed: int | None = None
    placed: int = 0
    refused: int = 0
    _schedule: _Schedule = field(default_factory=_Schedule)

    def __post_init__(self) -> None:
        if self.calls < 0 or self.over_seconds <= 0 or not 0 <= self.abandon_rate <= 1:
            raise ValueError("calls >= 0, over_seconds > 0 and 0 <= abandon_rate <= 1 please")

    @property
    def extensions(self) -> list[str]:
        return [str(self.first_extension + i) for i in range(self.agents)]

    def start(self, sim: Simulator) -> None:
        seed = sim.seed if self.seed is None else self.seed
        rng = random.Random(f"{seed}:inbound-burst")
        profile = AgentProfile(answers=1.0, ring_delay=self.ring_delay, talk_time=self.talk_time)
        for extension in self.extensions:
            sim.behaviour.agents[extension] = profile
        if self.add_agents:
            log_agents_in(sim, self.queue, self.extensions)
        did = did_for(sim, self.queue)
        arrivals = sorted(rng.uniform(0, self.over_seconds) for _ in range(self.calls))
        start = sim.clock.now()
        for arrival in arrivals:
            impatient = rng.random() < self.abandon_rate
            patience = sample(self.patience, rng) if impatient else self.patient_wait
            caller = random_caller(rng)
            self._schedule.timers.append(
                sim.clock.call_at(start + arrival, self._arrive, sim, did, caller, patience)
            )

    def _arrive(self, sim: Simulator, did: str, caller: CallerId, patience: float) -> None:
        if sim.inbound_call(did, caller, patience=patience, queue=self.queue):
            self.placed += 1
        else:
            self.refused += 1

    def stop(self) -> None:
        self._schedule.cancel()


@dataclass
class OutboundCampaign:
    """Numbers the client dials (Originate) answer, are busy, ring out, or reach a machine,
    with these probabilities. Optionally staffs queue ``outbound`` with ``agents`` agents."""

    answer: float = 0.3
    busy: float = 0.1
    no_answer: float = 0.5
    machine: float = 0.1
    congestion: float = 0.0
    ring: Delay = (2.0, 12.0)
    talk: Delay = (20.0, 120.0)
    agents: int = 0
    queue: str = "outbound"
    first_extension: int = 1001
    agent_talk_time: Delay = (30.0, 120.0)

    def start(self, sim: Simulator) -> None:
        sim.behaviour.customers = RandomCustomers(
            answer=self.answer,
            busy=self.busy,
            no_answer=self.no_answer,
            machine=self.machine,
            congestion=self.congestion,
            ring=self.ring,
            talk=self.talk,
        )
        extensions = [str(self.first_extension + i) for i in range(self.agents)]
        profile = AgentProfile(answers=1.0, ring_delay=(1.0, 3.0), talk_time=self.agent_talk_time)
        for extension in extensions:
            sim.behaviour.agents[extension] = profile
        if extensions:
            log_agents_in(sim, self.queue, extensions)

    def stop(self) -> None:
        pass


@dataclass
class Demo:
    """Calls keep coming to ``queue`` for the given agent extensions, until stopped.

    The agents' phones answer after ``ring_delay`` and talk ``talk_time``; whether the agents are
    in the queue is up to the client (the CRM's ready button), unless ``add_agents``."""

    extensions: tuple[str, ...] = ("1001", "1002", "1003")
    queue: str = "sales"
    calls_per_minute: float = 4.0
    patience: Delay = (20.0, 90.0)
    talk_time: Delay = (30.0, 180.0)
    ring_delay: Delay = (2.0, 6.0)
    add_agents: bool = False
    seed: int | None = None
    # Numbers the CRM knows (its demo customers): this share of callers calls from one of them.
    known_callers: tuple[CallerId, ...] = ()
    known_share: float = 0.7
    # Outbound: agents who take a campaign's answered calls (they join its queue from their
    # desktop), and how the numbers a campaign dials behave.
    outbound_extensions: tuple[str, ...] = ()
    dialled: CustomerModel | None = None
    placed: int = 0
    _timer: Timer | None = None
    _rng: random.Random | None = None

    def start(self, sim: Simulator) -> None:
        if self.calls_per_minute <= 0:
            raise ValueError("calls_per_minute must be positive")
        seed = sim.seed if self.seed is None else self.seed
        self._rng = random.Random(f"{seed}:demo")
        profile = AgentProfile(answers=1.0, ring_delay=self.ring_delay, talk_time=self.talk_time)
        for extension in self.extensions:
            sim.behaviour.agents[extension] = profile
        # A predictive campaign's agents answer at once (auto-answer, as such dialers need): a
        # customer who answered waits at most 2 s for them before the call counts as abandoned.
        headset = AgentProfile(answers=1.0, ring_delay=0.3, talk_time=self.talk_time)
        for extension in self.outbound_extensions:
            sim.behaviour.agents[extension] = headset
        if self.dialled is not None:
            sim.behaviour.customers = self.dialled
        if self.add_agents:
            log_agents_in(sim, self.queue, list(self.extensions))
        self._next(sim)

    def _next(self, sim: Simulator) -> None:
        assert self._rng is not None
        gap = self._rng.expovariate(self.calls_per_minute / 60.0)
        self._timer = sim.clock.call_later(gap, self._arrive, sim)

    def _arrive(self, sim: Simulator) -> None:
        assert self._rng is not None
        if self.known_callers and self._rng.random() < self.known_share:
            caller = self._rng.choice(self.known_callers)
        else:
            caller = random_caller(self._rng)
        patience = sample(self.patience, self._rng)
        if sim.inbound_call(did_for(sim, self.queue), caller, patience=patience, queue=self.queue):
            self.placed += 1
        self._next(sim)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


SCENARIOS = {"inbound-burst": InboundBurst, "outbound-campaign": OutboundCampaign, "demo": Demo}


def scenario_named(name: str) -> Scenario:
    try:
        return SCENARIOS[name]()
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}") from None
