"""The embedded PBX: the simulator started inside the service, on loopback, spoken to over real
AMI exactly as Asterisk would be. Its AMI user has the same classes as ours in
config/asterisk/manager.conf."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from config.settings import Settings
from crm_core.demo import DEMO_CUSTOMERS, DEMO_USERS, demo_customer
from cti.telephony import DIALER_CHANNEL_VARIABLES
from pbxsim import AmiUser, CallerId, Demo, Simulator, scenario_named, serve
from pbxsim.behaviour import RandomCustomers
from pbxsim.config_files import QUEUES_FILE, TRUNKS_FILE
from pbxsim.defaults import TRUNKS_CONF

AMI_CLASSES = "system,call,agent,user,config,reporting,originate"
# The queues as production's Asterisk has them (wrap-up guard included), not the lab's.
OUR_QUEUES_CONF = Path(__file__).resolve().parent.parent / "config" / "asterisk" / "queues.conf"


@dataclass
class RunningSimulator:
    simulator: Simulator
    host: str
    port: int
    username: str
    secret: str

    async def close(self) -> None:
        await self.simulator.close()


def demo_scenario() -> Demo:
    """Calls keep coming for the demo agents. Until agents go ready from their desktop, the
    scenario puts their phones in the queue itself so that calls are answered."""
    extensions = tuple(
        u.extension for u in DEMO_USERS if u.extension and "inbound_agent" in u.roles
    )
    known = tuple(
        CallerId(number, name)
        for name, number, _, _ in (demo_customer(n) for n in range(0, DEMO_CUSTOMERS, 7))
    )
    outbound = tuple(u.extension for u in DEMO_USERS if u.extension and "outbound_agent" in u.roles)
    return Demo(
        extensions=extensions,
        queue="sales",
        calls_per_minute=6.0,
        add_agents=True,
        known_callers=known,
        outbound_extensions=outbound,
        # The numbers the demo campaign dials: a third answer, some machines, many ring out.
        dialled=RandomCustomers(
            answer=0.35,
            busy=0.1,
            no_answer=0.35,
            machine=0.2,
            ring=(3.0, 12.0),
            talk=(600.0, 900.0),
        ),
    )


async def start_simulator(settings: Settings) -> RunningSimulator:
    secret = settings.ami_secret.get_secret_value() or secrets.token_urlsafe(18)
    user = AmiUser.create(settings.ami_username, secret, read=AMI_CLASSES, write=AMI_CLASSES)
    name = settings.simulator_scenario
    scenario = demo_scenario() if name == "demo" else scenario_named(name) if name else None
    host = "127.0.0.1"
    simulator = await serve(
        host,
        settings.ami_port,
        scenario=scenario,
        seed=settings.simulator_seed,
        speed=settings.simulator_speed,
        users=[user],
        mode="pjsip",
        config_files={QUEUES_FILE: OUR_QUEUES_CONF.read_text(), TRUNKS_FILE: TRUNKS_CONF},
    )
    # As config/asterisk/manager.conf's channelvars: the IVR's results ride on channel events.
    simulator.pbx.channel_vars = (*settings.ami_call_variables, *DIALER_CHANNEL_VARIABLES)
    return RunningSimulator(simulator, host, simulator.port, settings.ami_username, secret)
