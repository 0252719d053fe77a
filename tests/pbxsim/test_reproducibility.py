"""Same seed, same stream: byte for byte, at any speed, over TCP."""

from __future__ import annotations

import asyncio

from pbxsim import AmiUser, InboundBurst, ManualClock, RealTimeClock, Simulator

from .conftest import EPOCH, ClientFactory, SimulatorFactory
from .replay import caught_up

# Every class but security: security events carry the client's TCP port, which the kernel picks.
READ_ALL_BUT_SECURITY = "system,call,agent,dialplan,cdr,user"
CALLS = 12


def _burst() -> InboundBurst:
    return InboundBurst(
        calls=CALLS,
        over_seconds=10,
        agents=3,
        abandon_rate=0.5,
        patience=(2.0, 8.0),
        talk_time=(4.0, 12.0),
        ring_delay=(0.5, 3.0),
    )


async def _stream(
    start_simulator: SimulatorFactory, connect: ClientFactory, *, seed: int, speed: float | None
) -> bytes:
    """The bytes one client receives while a burst plays out, from login to the last hangup."""
    clock = ManualClock(epoch=EPOCH) if speed is None else RealTimeClock(speed=speed, epoch=EPOCH)
    users = [AmiUser.create("cti", "cti-secret", read=READ_ALL_BUT_SECURITY)]
    simulator: Simulator = await start_simulator(clock=clock, seed=seed, users=users)
    if isinstance(clock, RealTimeClock):
        clock.stop()  # time stands still until the client is in
    client = await connect(simulator)
    scenario = _burst()
    simulator.run(scenario)
    if isinstance(clock, RealTimeClock):
        clock.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while scenario.placed < CALLS or simulator.pbx.channels:
            assert loop.time() < deadline
            await asyncio.sleep(0.02)
    else:
        clock.run_until_idle()
    await caught_up(simulator, client)
    assert scenario.placed == CALLS
    return bytes(client.raw)


async def test_same_seed_gives_a_byte_identical_stream_at_any_speed(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    stepped = await _stream(start_simulator, connect, seed=7, speed=None)
    fast = await _stream(start_simulator, connect, seed=7, speed=50)
    faster = await _stream(start_simulator, connect, seed=7, speed=200)
    assert stepped.count(b"Event: QueueCallerJoin\r\n") == CALLS
    assert fast == stepped
    assert faster == stepped


async def test_another_seed_gives_other_calls(
    start_simulator: SimulatorFactory, connect: ClientFactory
) -> None:
    first = await _stream(start_simulator, connect, seed=1, speed=None)
    second = await _stream(start_simulator, connect, seed=2, speed=None)
    assert first != second
    assert second.count(b"Event: QueueCallerJoin\r\n") == CALLS
