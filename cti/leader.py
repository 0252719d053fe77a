"""Who drives the PBX link: a lease with a fencing token, so that of several instances exactly
one connects to each AMI link, and another takes over within a few seconds of its death.

The lease is redis-py's ``Lock`` (a key with an owner token and a time to live, renewed by its
holder), with a counter beside it: each time the lease is won the counter goes up, and that
number (the *fencing token*) goes with every write the driver makes, so that the writes of a
driver that lost its lease without knowing it (a long pause, a partition) lose against those
of its successor where the data lands (see crm_core.call_records).

A holder that cannot renew stops driving before its lease can have expired in Redis (it keeps
a margin), so two drivers never overlap as long as clocks run at the same rate. The embedded
shape (one process, no Redis) leads alone with ``SoleLease``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from cti.bus import raise_if_cancelled

log = structlog.get_logger("cti.leader")


class Lease(Protocol):
    name: str

    async def acquire(self) -> int | None:
        """Try once; the new fencing token when won, None when another holds it."""

    async def renew(self) -> bool:
        """Extend a held lease; False when it is no longer ours."""

    async def release(self) -> None: ...


class SoleLease:
    """One instance, no lock server: always won, with token 1."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def acquire(self) -> int | None:
        return 1

    async def renew(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class RedisLease:
    def __init__(
        self, redis: Any, name: str, *, ttl: float, namespace: str = "callcentre:lease:"
    ) -> None:
        from redis.asyncio.lock import Lock

        self.name = name
        self.ttl = ttl
        self._redis = redis
        self._counter = f"{namespace}{name}:fence"
        self._lock = Lock(redis, f"{namespace}{name}", timeout=ttl, blocking=False)

    # After each command: redis-py may swallow a cancellation arriving mid-command (cti.bus).

    async def acquire(self) -> int | None:
        won = await self._lock.acquire(blocking=False)
        raise_if_cancelled()
        if not won:
            return None
        token = int(await self._redis.incr(self._counter))
        raise_if_cancelled()
        return token

    async def renew(self) -> bool:
        from redis.exceptions import LockError

        try:
            await self._lock.reacquire()
        except LockError:
            return False
        finally:
            raise_if_cancelled()
        return True

    async def release(self) -> None:
        from redis.exceptions import LockError

        with contextlib.suppress(LockError):
            await self._lock.release()
        raise_if_cancelled()


class Leadership:
    """Runs ``lead(token)`` (an async context: entered when the lease is won, left when it is
    lost or on stop) for as long as this instance holds the lease; otherwise stands by and
    tries again every ``retry`` seconds."""

    def __init__(
        self,
        lease: Lease,
        lead: Callable[[int], contextlib.AbstractAsyncContextManager[Any]],
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease = lease
        self.lead = lead
        self.ttl = ttl
        self.renew_every = ttl / 4
        # Stop driving this long after the last good renewal: before Redis lets it expire.
        self.give_up_after = ttl * 0.75
        self.clock = clock
        self.token: int | None = None
        self.elected_at: float | None = None
        self.terms = 0
        # Set once the first try is over (and, when it won, driving has started): the app
        # factory waits for it so that a sole instance is driving when it starts serving.
        self.first_try = asyncio.Event()

    @property
    def leading(self) -> bool:
        return self.token is not None

    async def run(self) -> None:
        while True:
            token = await self._try_acquire()
            if token is None:
                self.first_try.set()
            else:
                try:
                    await self._hold(token)
                except Exception:  # driving failed to start or broke: let another try
                    log.exception("lease.term_failed", lease=self.lease.name, token=token)
            await asyncio.sleep(self.renew_every)

    async def _try_acquire(self) -> int | None:
        try:
            return await self.lease.acquire()
        except Exception as exc:  # the lock server is away: stand by
            log.warning("lease.acquire_failed", lease=self.lease.name, error=str(exc))
            return None

    async def _hold(self, token: int) -> None:
        self.token, self.elected_at, self.terms = token, time.time(), self.terms + 1
        log.info("lease.won", lease=self.lease.name, token=token)
        last_renewed = self.clock()
        try:
            async with self.lead(token):
                self.first_try.set()
                while True:
                    await asyncio.sleep(self.renew_every)
                    renewed = await self._renew()
                    if renewed:
                        last_renewed = self.clock()
                    # Not ours any more (it expired; another may hold it): stop at once. Not
                    # renewed (Redis away): stop before it can have expired.
                    elif renewed is False or self.clock() - last_renewed > self.give_up_after:
                        log.error("lease.lost", lease=self.lease.name, token=token)
                        return
        finally:
            self.token = None
            self.first_try.set()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self.lease.release()

    async def _renew(self) -> bool | None:
        """True: renewed; False: the lease is not ours any more; None: could not tell."""
        try:
            return await self.lease.renew()
        except Exception as exc:
            log.warning("lease.renew_failed", lease=self.lease.name, error=str(exc))
            return None
