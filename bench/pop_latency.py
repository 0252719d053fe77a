"""Screen-pop latency: from the simulator writing the AgentCalled event that makes an agent's
phone ring, to the pop arriving at that agent's websocket client. The service runs in its own
process (``callcentre serve``), the simulator and the agents' clients (the driver) in this one;
both sides stamp with the system-wide monotonic clock. In the same run, the floor: a bare
aiohttp websocket message of the same size between two processes on this machine.

Beside that end-to-end figure, the service's own share, stamped inside it: from reading the
AMI frame to writing the pop to the websocket (its ``callcentre_pop_seconds`` histogram,
scraped from /metrics at the end; percentiles are bucket upper bounds). With two or more
cores the service (and PostgreSQL and Redis) run pinned to core 0 and the driver to core 1
(``--no-pin`` to share), so the driver's own loop does not sit in the service's figures.

    python -m bench.pop_latency [--agents 200] [--rate 20] [--seconds 15]
        [--shape embedded|production|both] [--database-url postgresql+asyncpg://…]
        [--redis-url redis://…] [--no-pin]

``embedded`` is SQLite and the in-process bus; ``production`` is PostgreSQL and Redis (started
here, throw-away, unless their URLs are given). Prints one JSON object: each shape's figures
and, measured in the same run, the floor."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.servers import service_ready
from crm_core.audit import SYSTEM
from crm_core.clock import utc_now
from crm_core.db import create_engine, session_factory
from crm_core.demo import load_demo_customers
from crm_core.migrate import upgrade_to_head
from crm_core.passwords import Passwords
from crm_core.schemas import UserCreate
from crm_core.users import UserService
from pbxsim import AgentProfile, AmiUser, CallerId, serve
from pbxsim.scenarios import did_for, log_agents_in

FIRST_EXTENSION = 2000
LOGIN_BATCH = 50
PASSWORD = "bench password"
FLOOR_SERVER = """
import asyncio, json, sys, time
from aiohttp import web
size = int(sys.argv[1])
async def ws(request):
    sock = web.WebSocketResponse(); await sock.prepare(request)
    pad = "x" * size
    for _ in range(int(sys.argv[2])):
        await asyncio.sleep(0.02)
        await sock.send_str(json.dumps({"sent": time.monotonic(), "pad": pad}))
    await sock.close(); return sock
app = web.Application(); app.router.add_get("/ws", ws)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[3]), print=None)
"""


def progress(text: str) -> None:
    print(f"pop_latency: {text}", file=sys.stderr, flush=True)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0}
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def prepare(url: str, agents: int) -> None:
    engine = create_engine(url)
    await upgrade_to_head(engine)
    passwords = Passwords(time_cost=1, memory_kib=256, parallelism=1)
    async with session_factory(engine)() as db:
        service = UserService(db, passwords=passwords, clock=utc_now)
        for n in range(agents):
            extension = str(FIRST_EXTENSION + n)
            if await service.by_username(f"agent{extension}") is None:
                await service.create(
                    UserCreate(
                        username=f"agent{extension}",
                        display_name=f"Agent {extension}",
                        password=PASSWORD,
                        roles=["inbound_agent"],
                        extension=extension,
                    ),
                    SYSTEM,
                )
        await load_demo_customers(db, clock=utc_now)
        await db.commit()  # the loader leaves committing to its caller
    await engine.dispose()


async def floor(size: int, count: int) -> list[float]:
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FLOOR_SERVER, str(size), str(count), str(port)
    )
    latencies: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    ws = await http.ws_connect(f"http://127.0.0.1:{port}/ws")
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            async for msg in ws:
                latencies.append(time.monotonic() - json.loads(msg.data)["sent"])
    finally:
        server.kill()
        await server.wait()
    return latencies


SERVICE_CORE, DRIVER_CORE = 0, 1


def pin(core: int, enabled: bool) -> None:
    """Run this process (and what it starts from now on) on one core."""
    if enabled:
        os.sched_setaffinity(0, {core})


async def main(args: argparse.Namespace) -> dict[str, Any]:
    args.pin = args.pin and len(os.sched_getaffinity(0)) >= 2
    pin(DRIVER_CORE, args.pin)
    runs = []
    if args.shape in ("embedded", "both"):
        data_dir = Path(tempfile.mkdtemp(prefix="cc-pop-"))
        runs.append(await run_shape(args, f"sqlite+aiosqlite:///{data_dir}/bench.db", "", data_dir))
    if args.shape in ("production", "both"):
        data_dir = Path(tempfile.mkdtemp(prefix="cc-pop-"))
        if args.database_url:
            runs.append(await run_shape(args, args.database_url, args.redis_url, data_dir))
        else:
            from bench.servers import postgres_server, redis_server

            pin(SERVICE_CORE, args.pin)  # the servers start on the service's core
            with postgres_server() as pg, redis_server() as redis:
                pin(DRIVER_CORE, args.pin)
                connection = await asyncpg.connect(pg.dsn("postgres"))
                await connection.execute("CREATE DATABASE pop_bench")
                await connection.close()
                runs.append(await run_shape(args, pg.url("pop_bench"), redis.url, data_dir))
    size = max((run.pop("size") for run in runs), default=1000)
    bare = percentiles(await floor(size, 500))
    for run in runs:
        run["ratio_p99_to_floor"] = (
            round(run["pop"]["p99_ms"] / bare["p99_ms"], 1) if run["pops_matched"] else None
        )
    return {
        "benchmark": "pop_latency",
        "agents": args.agents,
        "calls_per_second": args.rate,
        "seconds": args.seconds,
        "pinned": (
            {"service_and_databases": SERVICE_CORE, "driver": DRIVER_CORE} if args.pin else False
        ),
        "runs": runs,
        "floor_bare_websocket": bare,
        "pop_message_bytes": size,
    }


async def run_shape(
    args: argparse.Namespace,
    url: str,
    redis_url: str,
    data_dir: Path,
) -> dict[str, Any]:
    progress(f"{url.split(':')[0]}: preparing {args.agents} agents")
    await prepare(url, args.agents)
    sim = await serve(
        "127.0.0.1", 0, seed=5, speed=1.0, mode="pjsip", users=[AmiUser.create("bench", "bench")]
    )
    extensions = [str(FIRST_EXTENSION + n) for n in range(args.agents)]
    for extension in extensions:
        sim.behaviour.agents[extension] = AgentProfile(ring_delay=2.0, talk_time=4.0)
    log_agents_in(sim, "sales", extensions)
    rung: dict[tuple[str, str], float] = {}
    sim.add_listener(
        lambda e: (
            rung.setdefault((e.get("Linkedid") or "", e.get("DestChannel") or ""), time.monotonic())
            if e.name == "AgentCalled"
            else None
        )
    )

    port = free_port()
    env = {
        **os.environ,
        "CALLCENTRE_DATABASE_URL": url,
        "CALLCENTRE_DATA_DIR": str(data_dir),
        "CALLCENTRE_PBX": "asterisk",
        "CALLCENTRE_AMI_PORT": str(sim.port),
        "CALLCENTRE_AMI_USERNAME": "bench",
        "CALLCENTRE_AMI_SECRET": "bench",
        "CALLCENTRE_PORT": str(port),
        "CALLCENTRE_LOG_LEVEL": "WARNING",
        "CALLCENTRE_SESSION_TOUCH_SECONDS": "600",
        "CALLCENTRE_LOGIN_MAX_FAILURES_PER_CLIENT": "100000",
        "CALLCENTRE_ARGON2_TIME_COST": "1",
        "CALLCENTRE_ARGON2_MEMORY_KIB": "256",
    }
    if redis_url:
        env["CALLCENTRE_REDIS_URL"] = redis_url
    service_log = (data_dir / "service.log").open("wb")  # kept for when a run goes wrong
    pinned = ["taskset", "-c", str(SERVICE_CORE)] if args.pin else []
    service = await asyncio.create_subprocess_exec(
        *pinned,
        sys.executable,
        "-m",
        "web.cli",
        "serve",
        env=env,
        stdout=service_log,
        stderr=service_log,
    )
    base = f"http://127.0.0.1:{port}"
    arrived: dict[tuple[str, str], float] = {}
    sizes: list[int] = []
    try:
        await service_ready(base)
        progress("service ready; agents logging in")
        sockets = []
        for start in range(0, len(extensions), LOGIN_BATCH):  # a shift starting, not a storm
            sockets += await asyncio.gather(
                *(
                    agent_socket(base, e, arrived, sizes)
                    for e in extensions[start : start + LOGIN_BATCH]
                )
            )
        did = did_for(sim, "sales")
        calls = int(args.rate * args.seconds)
        progress(f"agents connected; {calls} calls")
        for n in range(calls):
            number = f"+1555{2_000_000 + (n * 7) % 3000:07d}"
            sim.inbound_call(did, CallerId(number, ""), patience=30, queue="sales")
            await asyncio.sleep(1 / args.rate)
        await asyncio.sleep(3)
        async with aiohttp.ClientSession() as probe, probe.get(f"{base}/metrics") as response:
            inside = service_share(await response.text())
        for _, task in sockets:
            task.cancel()
        for session, _ in sockets:
            await session.close()
    finally:
        progress("stopping the service")
        service.terminate()
        await service.wait()
        service_log.close()
        progress("stopping the simulator")
        await sim.close()
    latencies = [arrived[key] - at for key, at in rung.items() if key in arrived]
    return {
        "database": url.split(":")[0],
        "bus": "redis" if redis_url else "in-process",
        "offers": len(rung),
        "pops_matched": len(latencies),
        "pop": percentiles(latencies),
        "service_share": inside,
        "goal_p99_ms": 10 if redis_url else 5,
        "size": int(statistics.median(sizes)) if sizes else 1000,
    }


def service_share(metrics: str) -> dict[str, Any]:
    """p50 / p99 (as bucket upper bounds) and mean of the service's pop histogram."""
    buckets: list[tuple[float, float]] = []
    count = total = 0.0
    for line in metrics.splitlines():
        if line.startswith("callcentre_pop_seconds_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(bound), float(line.rsplit(" ", 1)[1])))
        elif line.startswith("callcentre_pop_seconds_count"):
            count = float(line.rsplit(" ", 1)[1])
        elif line.startswith("callcentre_pop_seconds_sum"):
            total = float(line.rsplit(" ", 1)[1])
    if not count:
        return {"count": 0}

    def upper_bound(share: float) -> float:
        return next(bound for bound, seen in sorted(buckets) if seen >= share * count)

    return {
        "count": int(count),
        "mean_ms": round(total / count * 1000, 3),
        "p50_ms_at_most": upper_bound(0.5) * 1000,
        "p99_ms_at_most": upper_bound(0.99) * 1000,
    }


async def agent_socket(base: str, extension: str, arrived: dict, sizes: list[int]):
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(
        f"{base}/api/v1/auth/login", json={"username": f"agent{extension}", "password": PASSWORD}
    ) as r:
        assert r.status == 200, await r.text()
    ws = await session.ws_connect(f"{base}/ws", headers={"Origin": base})

    async def read() -> None:
        async for msg in ws:
            now = time.monotonic()
            data = json.loads(msg.data)
            if data.get("type") == "call.offered":
                arrived.setdefault((data["call_id"], data["device_channel"]), now)
                sizes.append(len(msg.data))

    return session, asyncio.create_task(read())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--shape", choices=("embedded", "production", "both"), default="both")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the service and the driver share the cores",
    )
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
