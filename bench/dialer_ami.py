"""The dialer through the real link: the service (its campaign driver, the pacing, the
compliance checks, SQLite) against its built-in PBX simulator over AMI/TCP, accelerated, with
20 agents working a predictive campaign for 30 simulated minutes; in the same run, on the same
simulated PBX, progressive dialling (the baseline), and the pure simulation (`dialer.
simulation`) of the same call centre, to show that the engine behaves the same through the
link as in the benchmark's model.

    python -m bench.dialer_ami [--agents 20] [--minutes 30] [--speed 10] [--live 0.25]

The service's clock, its decision tick (1 simulated second) and its wrap-up run at the
simulator's speed, so that every duration the pacing learns is in simulated seconds. Figures
are counted from the simulator's AgentComplete events (talk) and the campaign's dial records
(answers, abandons); talk minutes per agent-hour are over the whole run. Prints one JSON
object."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from config.logs import configure_logging
from config.settings import Settings
from crm_core.audit import SYSTEM
from crm_core.call_lists import CallLists, NewEntry
from crm_core.models import DialAttempt
from dialer import campaigns
from dialer.controllers import Engine
from dialer.pacing import Mode, Policy
from dialer.simulation import Scenario, simulate
from pbxsim import AgentProfile
from pbxsim.behaviour import RandomCustomers
from pbxsim.scenarios import log_agents_in
from web.app import create_app
from web.appkeys import db_key, pbx_key, simulator_key

START = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 10:00 in New York
FIRST_EXTENSION = 3001
RING = (4.0, 14.0)  # a person or a machine answers after this (uniform; mean 9 s)
TALK = (20.0, 220.0)  # the agent ends the call after this (uniform; mean 120 s)
WRAP = 15.0


def progress(text: str) -> None:
    print(f"dialer_ami: {text}", file=sys.stderr, flush=True)


class FastClock:
    """The service's clock at the simulator's speed (both follow the event loop's time)."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.t0 = time.monotonic()

    def __call__(self) -> datetime:
        return START + timedelta(seconds=(time.monotonic() - self.t0) * self.speed)


async def run(mode: str, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    speed = args.speed
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{data_dir / 'bench.db'}",
        data_dir=data_dir,
        secret_key="bench-secret-key-not-for-production",
        pbx="simulator",
        simulator_scenario="",
        simulator_speed=speed,
        simulator_seed=args.seed,
        wrapup_seconds=WRAP / speed,
        dialer_tick_seconds=1.0 / speed,
    )
    app = create_app(settings, clock=FastClock(speed), migrate=True)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await asyncio.wait_for(app[pbx_key].runtime.link.wait_connected(), 10)
        sim = app[simulator_key].simulator
        other = max(0.0, 1.0 - args.live - args.machine - args.busy)
        sim.behaviour.customers = RandomCustomers(
            answer=args.live,
            machine=args.machine,
            busy=args.busy,
            no_answer=other,
            ring=RING,
            talk=(3600.0, 3600.0),  # the customer stays: the agent ends the call
            greeting=(4.0, 12.0),
        )
        extensions = [str(FIRST_EXTENSION + i) for i in range(args.agents)]
        talks: list[float] = []
        sim.add_listener(
            lambda e: (
                talks.append(float(e.get("TalkTime") or 0)) if e.name == "AgentComplete" else None
            )
        )
        for extension in extensions:
            sim.behaviour.agents[extension] = AgentProfile(ring_delay=0.5, talk_time=TALK)
        log_agents_in(sim, "outbound", extensions)
        campaign_id = await _campaign(app, mode, args.entries)
        progress(f"{mode}: {args.agents} agents, {args.minutes} simulated minutes at {speed}x")
        began = time.monotonic()
        await asyncio.sleep(args.minutes * 60 / speed)
        wall = time.monotonic() - began
        engine = app[pbx_key].dialer.engines[campaign_id]
        counts = dict(engine.counts)
        async with app[db_key]() as db:
            dials = await db.scalar(
                select(func.count())
                .select_from(DialAttempt)
                .where(DialAttempt.campaign_id == campaign_id)
            )
        agent_hours = args.agents * args.minutes / 60
        live = counts["answered"]
        return {
            "mode": mode,
            "talk_minutes_per_agent_hour": round(sum(talks) / 60 / agent_hours, 1),
            "contacts_per_agent_hour": round(len(talks) / agent_hours, 1),
            "dials": dials,
            "live_answers": live,
            "abandoned": counts["abandoned"],
            "abandon_rate": round(counts["abandoned"] / live, 4) if live else 0.0,
            "abandon_max_window": max((w.rate for w in engine.windows.counts(0.0)), default=0.0),
            "talk_seconds_mean": round(statistics.fmean(talks), 1) if talks else 0.0,
            "wall_seconds": round(wall, 1),
        }
    finally:
        await runner.cleanup()


async def _campaign(app: web.Application, mode: str, entries: int) -> int:
    async with app[db_key]() as db:
        row, _ = await campaigns.create(
            db,
            {
                "name": f"Bench {mode}",
                "mode": mode,
                "caller_id": "+12125550100",
                "hours_start": "00:00",
                "hours_end": "23:59",
                "weekdays": list(range(7)),
                "fallback_timezone": "America/New_York",
                "max_attempts": 1,
            },
            SYSTEM,
            START,
        )
        await db.flush()
        numbers = (f"+1212{7_000_000 + i:07d}" for i in range(entries))
        await CallLists(db, clock=lambda: START, region="US").add(
            row.id,
            (NewEntry(number_e164=n, reason_kind="upload", reason_text="bench") for n in numbers),
            SYSTEM,
        )
        await campaigns.change_status(db, row.id, "start", SYSTEM, START)
        await db.commit()
        return row.id


def modelled(args: argparse.Namespace) -> dict[str, Any]:
    """The same call centre in the pure simulation (uniform ring and talk times approximated
    by its lognormal ones with the same means)."""
    scenario = replace(
        Scenario(),
        agents=args.agents,
        live=args.live,
        machine=args.machine,
        busy=args.busy,
        ring_median=9.0,
        talk_mean=120.0,
        talk_cv=0.48,  # a uniform 20-220 s
        wrap=WRAP,
        duration=args.minutes * 60.0,
        warmup=0.0,
    )
    out = {}
    for mode in ("progressive", "predictive"):
        results = [
            simulate(scenario, Engine(Policy(mode=Mode(mode)), name=mode), seed)
            for seed in range(3)
        ]
        out[mode] = {
            "talk_minutes_per_agent_hour": round(
                statistics.fmean(r.talk_minutes_per_agent_hour for r in results), 1
            ),
            "abandon_max": max(r.abandon_max for r in results),
        }
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    runs = {}
    for mode in ("progressive", "predictive"):
        with tempfile.TemporaryDirectory(prefix="bench-dialer-ami-") as tmp:
            runs[mode] = await run(mode, args, Path(tmp))
    ours, base = (
        runs["predictive"]["talk_minutes_per_agent_hour"],
        runs["progressive"]["talk_minutes_per_agent_hour"],
    )
    return {
        "benchmark": "dialer_ami",
        "agents": args.agents,
        "simulated_minutes": args.minutes,
        "speed": args.speed,
        "live_answer_rate": args.live,
        "cap": 0.03,
        "bound": round(60 * 120 / (120 + WRAP), 1),
        "through_ami": runs,
        "predictive_over_progressive": round(ours / base, 3) if base else None,
        "pure_simulation": modelled(args),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--live", type=float, default=0.25)
    parser.add_argument("--machine", type=float, default=0.15)
    parser.add_argument("--busy", type=float, default=0.08)
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    configure_logging("json", "WARNING")  # to stderr: stdout is the figures
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
