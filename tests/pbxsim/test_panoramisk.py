"""The service's AMI library, panoramisk 1.4, talks to the simulator as to Asterisk."""

from __future__ import annotations

import asyncio

from panoramisk import Manager
from panoramisk.message import Message

from .conftest import SimulatorFactory


async def test_panoramisk_logs_in_receives_events_and_originates(
    start_simulator: SimulatorFactory,
) -> None:
    simulator = await start_simulator(speed=20)
    events: list[Message] = []
    manager = Manager(
        loop=asyncio.get_running_loop(),
        host="127.0.0.1",
        port=simulator.port,
        username="cti",
        secret="cti-secret",
        ping_delay=60,
        ping_interval=60,
    )
    manager.register_event("*", lambda _manager, event: events.append(event))
    await manager.connect()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not manager.authenticated:
        assert loop.time() < deadline, "panoramisk did not log in"
        await asyncio.sleep(0.01)
    try:
        ping = await asyncio.wait_for(manager.send_action({"Action": "Ping"}), 5)
        assert ping.ping == "Pong"
        replies = await asyncio.wait_for(
            manager.send_action(
                {
                    "Action": "Originate",
                    "Channel": "Local/6001@customers",
                    "Application": "Wait",
                    "Data": "1",
                    "CallerID": "<+15550100100>",
                    "Async": "true",
                }
            ),
            10,
        )
        assert [r.get("Response") for r in replies] == ["Success", "Success"]
        assert replies[1].event == "OriginateResponse" and replies[1].reason == "4"
        while not any(e.event == "Hangup" for e in events):
            assert loop.time() < deadline + 10, "no Hangup event reached panoramisk"
            await asyncio.sleep(0.02)
        names = {e.event for e in events}
        assert {"FullyBooted", "Newchannel", "LocalBridge", "Newstate", "Hangup"} <= names
        channels = await asyncio.wait_for(manager.send_action({"Action": "CoreShowChannels"}), 5)
        assert channels[-1].event == "CoreShowChannelsComplete"
    finally:
        manager.close()
