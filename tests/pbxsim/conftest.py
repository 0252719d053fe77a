"""Fixtures for the PBX simulator tests: the recorded traces, simulators on loopback, clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pbxsim import ManualClock, Simulator
from tests.support.traces import TRACES_DIR

from .amiclient import AmiClient

# Unix time of simulated time 0 in tests: fixed, so runs can be compared byte for byte.
EPOCH = 1_795_643_939.0

SimulatorFactory = Callable[..., Awaitable[Simulator]]
ClientFactory = Callable[..., Awaitable[AmiClient]]


@pytest.fixture(scope="session")
def traces_dir() -> Path:
    if not (TRACES_DIR / "README.md").is_file() or not list(TRACES_DIR.glob("*.ami")):
        pytest.fail(f"AMI traces not found in {TRACES_DIR}; set AMI_TRACES_DIR to their folder")
    return TRACES_DIR


@pytest.fixture
async def start_simulator() -> AsyncIterator[SimulatorFactory]:
    """Start simulators on a free loopback port (a ManualClock unless told otherwise)."""
    started: list[Simulator] = []

    async def start(**options: Any) -> Simulator:
        if "clock" not in options and "speed" not in options:
            options["clock"] = ManualClock(epoch=EPOCH)
        options.setdefault("auth_failure_delay", 0.05)
        simulator = Simulator(**options)
        await simulator.start("127.0.0.1", 0)
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        await simulator.close()
        assert simulator.pbx.errors == [], simulator.pbx.errors


@pytest.fixture
async def simulator(start_simulator: SimulatorFactory) -> Simulator:
    return await start_simulator()


@pytest.fixture
async def connect() -> AsyncIterator[ClientFactory]:
    clients: list[AmiClient] = []

    async def open_client(simulator: Simulator, *, login: bool = True, **extra: str) -> AmiClient:
        client = await AmiClient.connect(simulator.port)
        clients.append(client)
        if login:
            reply = await client.login(**extra)
            assert reply.name == "Success", reply.headers
        return client

    yield open_client
    for client in clients:
        await client.close()
