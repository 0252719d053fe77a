"""Agent legs and queue stays: each agent's part of a call, and each queue the customer waited
in, as the call moves on. ``CallTracker`` opens and ends them; the rules live here.

An agent leg opens when the customer is connected to that agent (``CallAnswered`` for the
customer, or an attended transfer handing the customer to the consulted agent) and ends, once,
with ``AgentLegEnded``: when the agent's device channel hangs up, when the agent transfers, when
the customer moves on without a transfer (a Redirect back into a queue or to another phone), or
with the call. So a call that goes from agent 1001 in ``sales`` to 1002 in ``support`` by a
Redirect gives 1001 its end (and wrap-up) when the customer leaves it, not when the call ends.
"""

from __future__ import annotations

from cti.calls.model import _AgentLeg, _Call, _QueueStay
from cti.devices import interface_of, member_key
from cti.events import AgentLegEnded, CallLeg, LegEnd


def open_leg(
    call: _Call,
    *,
    agent: str,
    member: str,
    device_channel: str,
    queue: str,
    at: float,
    hold: float,
) -> None:
    if any(leg.device_channel == device_channel for leg in call.open_legs()):
        return  # the same connection told twice (a resync, then its AgentComplete)
    call.legs.append(
        _AgentLeg(agent, member, device_channel, queue, at, max(0.0, hold), call.parts())
    )


def end_leg(
    call: _Call, leg: _AgentLeg, reason: LegEnd, at: float, *, estimated: bool = False
) -> list[AgentLegEnded]:
    if leg.ended_at is not None:
        return []
    leg.ended_at, leg.reason, leg.estimated = at, str(reason), estimated
    return [
        AgentLegEnded(
            linked_id=call.linked_id,
            agent_interface=leg.agent_interface,
            member_name=leg.member_name,
            device_channel=leg.device_channel,
            queue=leg.queue,
            direction=call.direction,
            answered_at=leg.answered_at,
            hold_seconds=leg.hold,
            talk_seconds=leg.talk_seconds(at),
            reason=reason,
            at=at,
            estimated=estimated,
        )
    ]


def end_open_legs(
    call: _Call, reason: LegEnd, at: float, *, estimated: bool = False
) -> list[AgentLegEnded]:
    return [
        event
        for leg in call.open_legs()
        for event in end_leg(call, leg, reason, at, estimated=estimated)
    ]


def leg_on(call: _Call, device_channel: str) -> _AgentLeg | None:
    """The open leg of the agent on that channel."""
    for leg in call.open_legs():
        if leg.device_channel == device_channel:
            return leg
    return None


def transferer_leg(call: _Call, channel: str) -> _AgentLeg | None:
    """The leg of the agent who transferred from ``channel``: on that channel, else on the same
    phone (a Local member transfers from its PJSIP channel), else the latest one still open."""
    open_legs = call.open_legs()
    phone = interface_of(channel)
    for leg in reversed(open_legs):
        if leg.device_channel == channel or interface_of(leg.device_channel) == phone:
            return leg
    extension = phone.rpartition("/")[2]
    for leg in reversed(open_legs):
        if extension and interface_of(leg.device_channel).startswith(f"Local/{extension}@"):
            return leg
    return open_legs[-1] if open_legs else None


def completed_leg(call: _Call, device_channel: str, interface: str, queue: str) -> _AgentLeg | None:
    """The leg an AgentComplete is about: by the agent's channel, else (some carry no channel
    ids) the latest leg of that member in that queue without Asterisk's talk time yet."""
    for leg in reversed(call.legs):
        if device_channel and leg.device_channel == device_channel:
            return leg
    agent = member_key(interface)
    for leg in reversed(call.legs):
        if leg.talk is None and leg.agent_interface == agent and (not queue or leg.queue == queue):
            return leg
    return None


def join_queue(call: _Call, queue: str, at: float) -> None:
    close_stay(call, "left", at)  # still waiting in the last one: it let the caller go on
    call.stays.append(_QueueStay(queue, at, call.parts()))


def close_stay(call: _Call, result: str, at: float, wait: float | None = None) -> None:
    if call.stays:
        call.stays[-1].close(result, at, wait)


def recorded_legs(call: _Call, at: float) -> tuple[CallLeg, ...]:
    """Every queue stay and agent leg of the call, in order of their start (then of their
    telling); anything still open ends at ``at``."""
    parts: list[tuple[float, int, CallLeg]] = []
    for stay in call.stays:
        left = stay.left_at if stay.left_at is not None else at
        wait = stay.wait if stay.wait is not None else max(0.0, left - stay.joined_at)
        part = CallLeg(
            kind="queue",
            queue=stay.queue,
            agent_interface="",
            member_name="",
            started_at=stay.joined_at,
            ended_at=left,
            wait_seconds=wait,
            talk_seconds=0.0,
            result=stay.result or "left",
        )
        parts.append((stay.joined_at, stay.order, part))
    for leg in call.legs:
        part = CallLeg(
            kind="agent",
            queue=leg.queue,
            agent_interface=leg.agent_interface,
            member_name=leg.member_name,
            started_at=leg.answered_at,
            ended_at=leg.ended_at if leg.ended_at is not None else at,
            wait_seconds=leg.hold,
            talk_seconds=leg.talk_seconds(at),
            result=leg.reason or str(LegEnd.CALL_ENDED),
        )
        parts.append((leg.answered_at, leg.order, part))
    parts.sort(key=lambda item: item[:2])
    return tuple(part for _, _, part in parts)
