"""The bus between instances: messages published on one instance reach the subscribers on every
instance. Two implementations behind one interface: in-process (one instance, the default) and
Redis pub/sub (production). Both carry JSON, so the embedded shape runs the same encoding."""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)

Handler = Callable[[str, dict[str, Any]], None]


class Bus(Protocol):
    kind: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...
    async def subscribe(self, channel: str, handler: Handler) -> None: ...
    async def ping(self) -> bool: ...


class _Subscribers:
    """Handlers by channel. Handlers must not block: they hand work to queues or tasks."""

    def __init__(self) -> None:
        self.handlers: defaultdict[str, list[Handler]] = defaultdict(list)

    def dispatch(self, channel: str, data: str | bytes) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("bus.bad_message", channel=channel, size=len(data))
            return
        for handler in self.handlers.get(channel, ()):
            try:
                handler(channel, message)
            except Exception:
                log.exception("bus.handler_failed", channel=channel)


class InProcessBus:
    kind = "in-process"

    def __init__(self) -> None:
        self._subscribers = _Subscribers()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.handlers.clear()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":"))
        # Delivered on the next loop turn, as a message from Redis would be.
        asyncio.get_running_loop().call_soon(self._subscribers.dispatch, channel, data)

    async def subscribe(self, channel: str, handler: Handler) -> None:
        self._subscribers.handlers[channel].append(handler)

    async def ping(self) -> bool:
        return True


class RedisBus:
    kind = "redis"

    def __init__(self, url: str, *, namespace: str = "callcentre:") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url, decode_responses=True, health_check_interval=15)
        self._namespace = namespace
        self._subscribers = _Subscribers()
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        await self._redis.ping()
        self._reader = asyncio.create_task(self._read_forever(), name="redis-bus-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
        await self._redis.aclose()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":"))
        await self._redis.publish(self._namespace + channel, data)
        raise_if_cancelled()

    async def subscribe(self, channel: str, handler: Handler) -> None:
        new = channel not in self._subscribers.handlers
        self._subscribers.handlers[channel].append(handler)
        if new and self._pubsub is not None:
            await self._pubsub.subscribe(self._namespace + channel)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def _read_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                # A placeholder channel keeps the connection in subscribe mode when nobody
                # has subscribed yet, so listen() has something to wait on.
                await self._pubsub.subscribe(
                    self._namespace + "_",
                    *(self._namespace + c for c in list(self._subscribers.handlers)),
                )
                self._subscribed.set()
                delay = 0.1
                async for item in self._pubsub.listen():
                    if item.get("type") == "message":
                        channel = item["channel"][len(self._namespace) :]
                        self._subscribers.dispatch(channel, item["data"])
            except asyncio.CancelledError:
                if self._pubsub is not None:
                    await self._pubsub.aclose()
                raise
            except Exception as exc:
                self._subscribed.clear()
                log.warning("bus.redis_disconnected", error=str(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay * (1 + random.random() / 2))
                delay = min(delay * 2, 5.0)

    async def wait_subscribed(self) -> None:
        """Until the reader listens (tests publish only after that)."""
        await self._subscribed.wait()


def raise_if_cancelled() -> None:
    """redis-py can swallow a CancelledError that arrives during a command (its connection
    code catches it to drop the connection: redis/redis-py#2028, #2551); the task then runs on
    and never stops. Give the cancellation back to the caller."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def create_bus(redis_url: str) -> Bus:
    return RedisBus(redis_url) if redis_url else InProcessBus()
