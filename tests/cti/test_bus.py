"""The bus: in-process and Redis pub/sub behave alike; with Redis, an instance hears what
another instance publishes."""

from __future__ import annotations

import asyncio

import pytest
from redis import exceptions as redis_errors

from cti.bus import InProcessBus, RedisBus


async def collect(bus, channel: str) -> asyncio.Queue:
    received: asyncio.Queue = asyncio.Queue()
    await bus.subscribe(channel, lambda ch, msg: received.put_nowait((ch, msg)))
    return received


@pytest.fixture(params=["in-process", "redis"])
async def bus(request):
    if request.param == "in-process":
        bus = InProcessBus()
    else:
        bus = RedisBus(request.getfixturevalue("redis").url)
    await bus.start()
    yield bus
    await bus.close()


async def test_a_subscriber_receives_what_is_published_on_its_channel(bus):
    inbox = await collect(bus, "agents.1001")
    other = await collect(bus, "agents.1002")
    if isinstance(bus, RedisBus):
        await bus.wait_subscribed()
    await bus.publish("agents.1001", {"type": "pop", "caller": "+15551234567"})
    channel, message = await asyncio.wait_for(inbox.get(), 5)
    assert channel == "agents.1001"
    assert message == {"type": "pop", "caller": "+15551234567"}
    await asyncio.sleep(0.05)
    assert other.empty()
    assert await bus.ping() is True


async def test_a_failing_handler_does_not_stop_delivery_to_the_others(bus):
    await bus.subscribe("x", lambda ch, msg: 1 / 0)
    inbox = await collect(bus, "x")
    if isinstance(bus, RedisBus):
        await bus.wait_subscribed()
    await bus.publish("x", {"n": 1})
    assert (await asyncio.wait_for(inbox.get(), 5))[1] == {"n": 1}


async def test_redis_carries_messages_between_two_instances(redis):
    first, second = RedisBus(redis.url), RedisBus(redis.url)
    await first.start()
    await second.start()
    try:
        inbox = await collect(second, "sessions.ended")
        await second.wait_subscribed()
        await asyncio.sleep(0.05)
        await first.publish("sessions.ended", {"session_ids": ["abc"], "reason": "replaced"})
        _, message = await asyncio.wait_for(inbox.get(), 5)
        assert message == {"session_ids": ["abc"], "reason": "replaced"}
    finally:
        await first.close()
        await second.close()


async def test_the_redis_bus_reports_a_dead_server():
    bus = RedisBus("redis://127.0.0.1:9/0")
    assert await bus.ping() is False
    with pytest.raises(redis_errors.ConnectionError):
        await bus.start()
    await bus.close()


async def test_a_worker_cancelled_while_publishing_to_redis_stops(redis):
    """redis-py may swallow a cancellation arriving mid-command; a worker loop publishing to the
    bus must still stop when cancelled (the service could not shut down otherwise)."""
    bus = RedisBus(redis.url)
    await bus.start()

    async def worker() -> None:
        while True:
            await bus.publish("agent.events", {"pad": "x" * 2000})

    try:
        for attempt in range(100):
            task = asyncio.create_task(worker())
            await asyncio.sleep(0.0005 * (attempt % 7))
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=2)
            assert done and task.cancelled(), f"attempt {attempt}: the worker ran on"
    finally:
        await bus.close()
