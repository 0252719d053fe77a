"""The PBX link's lease, on a real redis-server: one holder at a time, a takeover after the
holder dies, fencing tokens that only go up, and a holder that stops when its lease is gone."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import redis.asyncio as redis

from cti.leader import Leadership, RedisLease, SoleLease
from tests.support.waiting import until


def lease_name() -> str:
    return f"pbx:test-{uuid.uuid4().hex[:8]}"


async def test_one_holder_at_a_time_and_the_next_one_gets_a_higher_token(redis):
    client = redis_client(redis)
    name = lease_name()
    first, second = RedisLease(client, name, ttl=0.5), RedisLease(client, name, ttl=0.5)
    token = await first.acquire()
    assert token is not None
    assert await second.acquire() is None
    assert await first.renew()
    await asyncio.sleep(0.7)  # the holder stopped renewing (it died): the lease expires
    successor = await second.acquire()
    assert successor is not None and successor > token
    assert not await first.renew()  # the old holder learns it is not the holder any more
    await second.release()
    await client.aclose()


async def test_a_standby_takes_over_within_the_lease_when_the_driver_dies(redis):
    client = redis_client(redis)
    name = lease_name()
    terms: list[tuple[str, int, float]] = []

    def leading(who: str):
        @contextlib.asynccontextmanager
        async def lead(token: int):
            terms.append((who, token, time.monotonic()))
            yield

        return lead

    dead = RedisLease(client, name, ttl=1.0)
    first_token = await dead.acquire()  # the driver, which then dies without a word
    died_at = time.monotonic()
    standby = Leadership(RedisLease(client, name, ttl=1.0), leading("standby"), ttl=1.0)
    task = asyncio.create_task(standby.run())
    await until(lambda: terms, timeout=5)
    who, token, elected_at = terms[0]
    assert who == "standby" and token > first_token
    assert elected_at - died_at < 1.0 + standby.renew_every + 0.5
    assert standby.leading and standby.token == token
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await client.aclose()


async def test_a_holder_whose_lease_was_taken_stops_driving_at_once(redis):
    client = redis_client(redis)
    name = lease_name()
    left = asyncio.Event()

    @contextlib.asynccontextmanager
    async def lead(_token: int):
        try:
            yield
        finally:
            left.set()

    holder = Leadership(RedisLease(client, name, ttl=2.0), lead, ttl=2.0)
    task = asyncio.create_task(holder.run())
    await until(lambda: holder.leading, timeout=5)
    await client.delete(f"callcentre:lease:{name}")  # e.g. expired during a long pause
    taken = await RedisLease(client, name, ttl=2.0).acquire()
    assert taken is not None
    async with asyncio.timeout(2.0):  # noticed at the next renewal (every ttl / 4)
        await left.wait()
    assert not holder.leading
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await client.aclose()


async def test_a_sole_instance_always_leads():
    lease = SoleLease("pbx:local")
    assert await lease.acquire() == 1 and await lease.renew()


def redis_client(server) -> redis.Redis:
    return redis.from_url(server.url)
