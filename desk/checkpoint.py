"""What the PBX driver knows of calls in progress, kept beside its lease so that a successor
can close the calls that ended while nobody drove the link.

The driver writes its open calls (the call-state machine's snapshots) every ``every`` seconds.
A new driver reads them before it connects; after its first resynchronisation every call of
that list the PBX no longer has ended in the gap: it gets a CallEnded marked estimated, with
an end time taken at the takeover. Its outcome is "answered" when it had been answered;
otherwise "unknown": a call that was waiting or ringing may have been answered and ended in
the gap, and nothing the PBX lists afterwards tells which. An answered one also ends its
agent's part (AgentLegEnded, estimated): that agent's wrap-up. Calls still up were adopted by
the resynchronisation itself."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any, Protocol

from cti.bus import raise_if_cancelled
from cti.calls import OpenCall
from cti.events import (
    AgentLegEnded,
    CallEnded,
    CallEvent,
    CallLeg,
    Direction,
    LegEnd,
    Outcome,
)


class Checkpoint(Protocol):
    async def save(self, calls: Iterable[OpenCall]) -> None: ...
    async def load(self) -> list[OpenCall]: ...


class RedisCheckpoint:
    def __init__(self, redis: Any, lease_name: str, namespace: str = "callcentre:lease:") -> None:
        self._redis = redis
        self._key = f"{namespace}{lease_name}:open_calls"

    async def save(self, calls: Iterable[OpenCall]) -> None:
        data = json.dumps([asdict(c) for c in calls], separators=(",", ":"))
        await self._redis.set(self._key, data)
        raise_if_cancelled()  # redis-py may swallow a cancellation (cti.bus)

    async def load(self) -> list[OpenCall]:
        raw = await self._redis.get(self._key)
        raise_if_cancelled()
        if not raw:
            return []
        calls = []
        for item in json.loads(raw):
            item["direction"] = Direction(item["direction"])
            item["channels"] = tuple(item["channels"])
            item["tags"] = tuple(tuple(pair) for pair in item["tags"])
            calls.append(OpenCall(**item))
        return calls


def ended_in_the_gap(
    before: Iterable[OpenCall],
    still_open: Iterable[str],
    at: float,
) -> list[CallEvent]:
    """The calls of the predecessor's list that the PBX no longer has: ended unseen."""
    open_now = set(still_open)
    return [
        event for call in before if call.linked_id not in open_now for event in _ended(call, at)
    ]


def _ended(call: OpenCall, at: float) -> list[CallEvent]:
    answered = call.answered_at is not None and bool(call.agent_interface)
    outcome = Outcome.ANSWERED if call.answered_at is not None else Outcome.UNKNOWN
    waited_until = call.answered_at if call.answered_at is not None else at
    talk = max(0.0, at - call.answered_at) if call.answered_at is not None else 0.0
    events: list[CallEvent] = []
    legs: tuple[CallLeg, ...] = ()
    if answered and call.answered_at is not None:
        hold = max(0.0, call.answered_at - call.offered_at)
        events.append(
            AgentLegEnded(
                linked_id=call.linked_id,
                agent_interface=call.agent_interface,
                member_name="",
                device_channel="",
                queue=call.queue,
                direction=call.direction,
                answered_at=call.answered_at,
                hold_seconds=hold,
                talk_seconds=talk,
                reason=LegEnd.CALL_ENDED,
                at=at,
                estimated=True,
            )
        )
        legs = (
            CallLeg(
                kind="agent",
                queue=call.queue,
                agent_interface=call.agent_interface,
                member_name="",
                started_at=call.answered_at,
                ended_at=at,
                wait_seconds=hold,
                talk_seconds=talk,
                result=str(LegEnd.CALL_ENDED),
            ),
        )
    ended = CallEnded(
        linked_id=call.linked_id,
        direction=call.direction,
        outcome=outcome,
        caller_number=call.caller_number,
        customer_number=call.customer_number,
        queue=call.queue,
        agent_interface=call.agent_interface,
        offered_at=call.offered_at,
        answered_at=call.answered_at,
        ended_at=at,
        wait_seconds=max(0.0, waited_until - call.offered_at),
        talk_seconds=talk,
        hangup_cause=0,
        hangup_cause_text="",
        tags=call.tags,
        estimated=True,
        legs=legs,
    )
    return [*events, ended]
