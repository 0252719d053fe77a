"""A client that does not read is dropped after its write timeout; others are not delayed."""

from __future__ import annotations

import asyncio
import socket

from cti.ami.framing import serialise
from pbxsim import AmiUser, InboundBurst, Simulator

from .conftest import ClientFactory, SimulatorFactory


async def _silent_client(simulator: Simulator) -> asyncio.StreamWriter:
    """Logs in, then never reads again (and asks the kernel for a small receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", simulator.port))
    _reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(serialise([("Action", "Login"), ("Username", "slow"), ("Secret", "pw")]))
    await writer.drain()
    return writer


async def _wait_for(condition, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_client_that_stops_reading_is_dropped_and_others_keep_their_stream(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    users = [AmiUser.create("cti", "cti-secret"), AmiUser.create("slow", "pw", write_timeout=0.3)]
    simulator = await start_simulator(users=users)
    simulator.server.max_pending_bytes = 1 << 30  # only the write timeout may drop it here
    reader = await connect(simulator)
    silent = await _silent_client(simulator)
    await _wait_for(
        lambda: (
            len(simulator.server.sessions) == 2
            and all(s.user is not None for s in simulator.server.sessions)
        )
    )
    simulator.run(InboundBurst(calls=400, over_seconds=30, agents=10, talk_time=5.0))
    simulator.clock.advance(120)  # megabytes of events, all at once
    loop = asyncio.get_running_loop()
    started = loop.time()
    pong = await reader.action("Ping", timeout=10)
    assert pong["Ping"] == "Pong"
    await _wait_for(lambda: simulator.server.dropped_slow_clients == 1, timeout=5)
    assert loop.time() - started < 3.0
    assert len(simulator.server.sessions) == 1
    assert sum(1 for f in reader.frames if f.name == "QueueCallerJoin") == 400
    silent.close()


async def test_a_stalled_client_does_not_delay_anyone_else(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    users = [AmiUser.create("cti", "cti-secret"), AmiUser.create("slow", "pw", write_timeout=30)]
    simulator = await start_simulator(users=users)
    reader = await connect(simulator)
    silent = await _silent_client(simulator)
    await _wait_for(lambda: all(s.user is not None for s in simulator.server.sessions))
    simulator.run(InboundBurst(calls=200, over_seconds=30, agents=10, talk_time=5.0))
    simulator.clock.advance(120)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await reader.action("Ping", timeout=10)
    assert loop.time() - started < 2.0  # the silent client still has 30 s of grace
    assert simulator.server.dropped_slow_clients == 0
    silent.close()
