"""Throw-away PostgreSQL and Redis servers, started by the test session and the benchmarks.

PostgreSQL's initdb refuses to run as root, so as root the cluster belongs to an unprivileged
user (Debian's `postgres` account, or one made here). Both listen on loopback, on free ports,
with their files in a temporary folder that is removed afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError(
        "PostgreSQL server binaries not found: apt-get install postgresql (see README.md)"
    )


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "callcentre-test"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(["useradd", "--system", "--no-create-home", "callcentre-test"], check=True)
    return "callcentre-test"


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    bindir = _pg_bin()
    owner = _unprivileged_user()
    as_owner = ["runuser", "-u", owner, "--"] if owner else []
    root = Path(tempfile.mkdtemp(prefix="cc-pg-"))
    data = root / "data"
    if owner:
        shutil.chown(root, owner)
    port = free_port()
    log = root / "server.log"
    try:
        subprocess.run(
            [
                *as_owner,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        # Durability is not what these tests measure; speed is welcome.
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [
                *as_owner,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        yield Postgres(host="127.0.0.1", port=port, user="postgres")
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*as_owner, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Redis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextlib.contextmanager
def redis_server() -> Iterator[Redis]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: apt-get install redis-server (see README.md)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="cc-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield Redis(port=port, process=process)
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if process.poll() is None:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


async def service_ready(base: str) -> None:
    """Wait until a ``callcentre serve`` at ``base`` has its PBX link up (its /readyz says so:
    the benchmarks run on this machine, so they read the details)."""
    async with aiohttp.ClientSession() as probe:
        for _ in range(300):
            try:
                async with probe.get(f"{base}/readyz") as response:
                    body = await response.json()
                    if body.get("checks", {}).get("pbx", {}).get("connected"):
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the service did not connect to the simulator: see its service.log")
