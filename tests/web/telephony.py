"""Helpers for tests that run the service with its built-in PBX simulator."""

from __future__ import annotations

import time

from crm_core.audit import SYSTEM
from crm_core.customers import CustomerService
from crm_core.schemas import CustomerCreate
from cti.ami import actions
from pbxsim import CallerId
from pbxsim.scenarios import did_for
from web.appkeys import clock_key, db_key, pbx_key, simulator_key


async def add_customer(app, name: str, *numbers: str) -> int:
    async with app[db_key]() as db:
        made = await CustomerService(db, clock=app[clock_key], region="US").create(
            CustomerCreate(name=name, numbers=[{"number": n} for n in numbers]), SYSTEM
        )
        await db.commit()
        return made.id


async def agent_ready(app, extension: str, queue: str = "sales") -> None:
    await app[pbx_key].runtime.link.send(
        actions.queue_add(
            queue,
            f"PJSIP/{extension}",
            member_name=f"Agent {extension}",
            state_interface=f"PJSIP/{extension}",
        )
    )


def ring(app, number: str, name: str = "") -> list[tuple[str, float]]:
    """A caller dials the sales DID; returns the simulator's record of agent answers."""
    sim = app[simulator_key].simulator
    answers: list[tuple[str, float]] = []
    sim.add_listener(
        lambda e: (
            answers.append((e.get("Linkedid"), time.monotonic()))
            if e.name == "AgentConnect"
            else None
        )
    )
    sim.inbound_call(did_for(sim, "sales"), CallerId(number, name), patience=60, queue="sales")
    return answers
