"""A PBX simulator that speaks real AMI over TCP, for development, demos, tests and benchmarks.

Quick start::

    sim = await serve("127.0.0.1", 5038, scenario="inbound-burst", seed=1, speed=10)
    ...  # point an AMI client (panoramisk) at it: user cti / cti-secret
    await sim.close()

See ``Simulator`` for the knobs, ``scenarios`` for traffic, ``clock`` for simulated time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pbxsim.behaviour import AgentProfile, Behaviour, LabCustomers, RandomCustomers
from pbxsim.clock import ManualClock, RealTimeClock, Scheduler
from pbxsim.legs import CallerId
from pbxsim.originate import OriginateRequest, OriginateResult
from pbxsim.queues import QueueSettings
from pbxsim.runtime import Mode
from pbxsim.scenarios import Demo, InboundBurst, OutboundCampaign, Scenario, scenario_named
from pbxsim.simulator import Simulator
from pbxsim.users import AmiUser

__all__ = [
    "AgentProfile",
    "AmiUser",
    "Behaviour",
    "CallerId",
    "Demo",
    "InboundBurst",
    "LabCustomers",
    "ManualClock",
    "OriginateRequest",
    "OriginateResult",
    "OutboundCampaign",
    "QueueSettings",
    "RandomCustomers",
    "RealTimeClock",
    "Scenario",
    "Scheduler",
    "Simulator",
    "serve",
]


async def serve(
    host: str = "127.0.0.1",
    port: int = 5038,
    *,
    scenario: Scenario | str | None = None,
    seed: int = 0,
    speed: float = 1.0,
    users: Iterable[AmiUser] | None = None,
    mode: Mode = "local",
    epoch: float | None = None,
    config_files: Mapping[str, str] | None = None,
) -> Simulator:
    """Start a simulator listening on ``host:port`` (port 0: any free port, see ``sim.port``),
    optionally running a scenario (an object, or a name: inbound-burst, outbound-campaign, demo).
    ``config_files``: queues.conf and pjsip_trunks.conf by name (default: the lab's)."""
    simulator = Simulator(
        seed=seed, speed=speed, users=users, mode=mode, epoch=epoch, config_files=config_files
    )
    await simulator.start(host, port)
    if scenario is not None:
        simulator.run(scenario_named(scenario) if isinstance(scenario, str) else scenario)
    return simulator
