"""The driver's open calls kept for a successor (on a real redis-server), and what the successor
makes of those the PBX no longer has."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from cti.calls import OpenCall
from cti.events import AgentLegEnded, CallEnded, Direction, LegEnd, Outcome
from desk.checkpoint import RedisCheckpoint, ended_in_the_gap


def open_call(
    linked_id: str,
    state: str,
    answered_at: float | None = None,
    direction: Direction = Direction.INBOUND,
) -> OpenCall:
    return OpenCall(
        linked_id=linked_id,
        direction=direction,
        state=state,
        caller_number="+15551234567",
        customer_number="+15551234567",
        queue="sales",
        agent_interface="PJSIP/1001" if answered_at else "",
        offered_at=100.0,
        answered_at=answered_at,
        channels=("PJSIP/trunk-00000001",),
        tags=(("customer_id", "7"),),
    )


async def test_the_open_calls_come_back_as_they_were_saved(redis):
    client = _client(redis)
    checkpoint = RedisCheckpoint(client, f"pbx:test-{uuid.uuid4().hex[:6]}")
    assert await checkpoint.load() == []
    calls = [open_call("a", "answered", 110.0), open_call("b", "queued")]
    await checkpoint.save(calls)
    assert await checkpoint.load() == calls
    await client.aclose()


def test_calls_gone_from_the_pbx_are_answered_if_they_were_else_of_unknown_outcome():
    before = [
        open_call("talking", "answered", 110.0),
        open_call("waiting", "queued"),
        open_call("ringing", "ringing"),
        open_call("still-up", "answered", 105.0),
        open_call("dialled", "dialling", direction=Direction.OUTBOUND),
    ]
    events = ended_in_the_gap(before, ["still-up"], 130.0)
    ended = {e.linked_id: e for e in events if isinstance(e, CallEnded)}
    # The agent who was talking gets the end of their part (and so a wrap-up).
    (leg,) = [e for e in events if isinstance(e, AgentLegEnded)]
    assert (leg.linked_id, leg.reason, leg.estimated) == ("talking", LegEnd.CALL_ENDED, True)
    assert set(ended) == {"talking", "waiting", "ringing", "dialled"}
    assert (ended["talking"].outcome, ended["talking"].talk_seconds) == (Outcome.ANSWERED, 20.0)
    # Waiting or ringing at the last checkpoint: it may have been answered in the gap.
    assert {ended[c].outcome for c in ("waiting", "ringing", "dialled")} == {Outcome.UNKNOWN}
    assert all(e.estimated and e.ended_at == 130.0 for e in ended.values())
    assert ended["talking"].tags == (("customer_id", "7"),)


def _client(server) -> aioredis.Redis:
    return aioredis.from_url(server.url)
