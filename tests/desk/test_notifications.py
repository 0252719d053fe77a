"""The notifier: this instance's handlers get a notification at once, the other instances get
it over the bus, validated; nobody gets it twice."""

from __future__ import annotations

import asyncio

from cti.bus import InProcessBus
from desk.notifications import ORIGIN, DirectoryChanged, Notifier, ToAgent


async def test_each_instance_gets_a_notification_once_and_the_publisher_at_once():
    bus = InProcessBus()  # shared: two instances on one bus
    here, there = Notifier(bus), Notifier(bus)
    got_here: list[ToAgent] = []
    got_there: list[ToAgent] = []
    await here.subscribe(ToAgent, got_here.append)
    await there.subscribe(ToAgent, got_there.append)

    sent = ToAgent(user_id=7, message={"type": "call.offered", "call_id": "1.1"})
    await here.publish(sent)
    assert got_here == [sent]  # before any loop turn: no round trip through the bus
    assert got_there == []
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert got_here == [sent]  # not again when the bus brings it back
    assert got_there == [sent]


async def test_a_bad_message_from_the_bus_reaches_no_handler():
    bus = InProcessBus()
    notifier = Notifier(bus)
    got: list[ToAgent] = []
    await notifier.subscribe(ToAgent, got.append)
    await bus.publish("agent.events", {"user_id": "not a number", ORIGIN: "elsewhere"})
    await bus.publish("agent.events", {"user_id": 3, "message": {"type": "x"}})
    await asyncio.sleep(0)
    assert got == [ToAgent(user_id=3, message={"type": "x"})]


async def test_a_failing_handler_does_not_keep_the_notification_from_the_others():
    notifier = Notifier(InProcessBus())
    got: list[DirectoryChanged] = []

    def broken(_message: DirectoryChanged) -> None:
        raise RuntimeError("bug")

    await notifier.subscribe(DirectoryChanged, broken)
    await notifier.subscribe(DirectoryChanged, got.append)
    await notifier.publish(DirectoryChanged())
    assert got == [DirectoryChanged()]
