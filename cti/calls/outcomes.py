"""How a call ended (``CallEnded.outcome``) and why an offer was withdrawn: rules over a call's
state, no state of their own.

Abandoned or timed out
    Asterisk 22 reports a Queue() timeout with ``QueueCallerAbandon`` too. A caller who hangs up
    always has a ``HangupRequest`` (or, when hung up by AMI, ``SoftHangupRequest``) on the
    queue caller channel *before* ``QueueCallerAbandon``; a timeout has none (the dialplan's
    ``QUEUESTATUS=TIMEOUT`` comes after, and only if dialplan-class events are enabled). So the
    decision is made at ``QueueCallerAbandon`` from that flag, without needing ``VarSet``
    (``CallTracker._on_queue_caller_abandon`` records it as the call's ``queue_result``).

Outcome (``CallEnded.outcome``), first rule that applies
    answered (an agent was connected) > the queue's verdict (abandoned / queue_timeout) > queued
    but left unanswered (abandoned) > an answering machine (``AMDSTATUS``) > for outbound and
    click-to-call: the last customer leg's DialStatus (BUSY, NOANSWER/CANCEL, CONGESTION,
    CHANUNAVAIL; ANSWER without an agent counts as abandoned, as in predictive dialling), then
    the OriginateResponse reason if it came first, then the Q.850 hangup cause (17 busy, 18/19
    no answer, 34/38/41/42/44 congestion) > failed. A click-to-call whose agent leg failed (no
    customer leg dialled) is failed. A call ended by ``reconcile`` with nothing known is
    unknown.
"""

from __future__ import annotations

from typing import Final

from cti.calls.legs import recorded_legs
from cti.calls.model import CONSULT_RING, QUEUE_RING, _Call, _Offer
from cti.events import CallEnded, Direction, Outcome, Party, WithdrawalReason

_DIAL_OUTCOMES: Final[dict[str, Outcome]] = {
    "ANSWER": Outcome.ABANDONED,  # customer answered but no agent was connected
    "BUSY": Outcome.BUSY,
    "NOANSWER": Outcome.NO_ANSWER,
    "CANCEL": Outcome.NO_ANSWER,  # we hung up before the customer answered
    "CONGESTION": Outcome.CONGESTION,
    "CHANUNAVAIL": Outcome.FAILED,
}
# The Q.850 cause a refused customer leg stands for, when its own Hangup never came (the
# trunk refused it before a channel was up) or came after the agent's plain clearing.
_DIAL_CAUSES: Final[dict[Outcome, tuple[int, str]]] = {
    Outcome.BUSY: (17, "User busy"),
    Outcome.NO_ANSWER: (19, "User alerting, no answer"),
    Outcome.CONGESTION: (34, "Circuit/channel congestion"),
}
# OriginateResponse Reason: the AST_CONTROL_* frame that ended the attempt.
_ORIGINATE_REASONS: Final[dict[int, tuple[str, Outcome]]] = {
    0: ("failed (no such channel or technology)", Outcome.FAILED),
    1: ("hung up before answer", Outcome.FAILED),
    3: ("rang without answer", Outcome.NO_ANSWER),
    4: ("answered", Outcome.ANSWERED),
    5: ("busy", Outcome.BUSY),
    8: ("congestion", Outcome.CONGESTION),
}
_CAUSE_OUTCOMES: Final[dict[int, Outcome]] = {
    17: Outcome.BUSY,
    18: Outcome.NO_ANSWER,
    19: Outcome.NO_ANSWER,
    34: Outcome.CONGESTION,
    38: Outcome.CONGESTION,
    41: Outcome.CONGESTION,
    42: Outcome.CONGESTION,
    44: Outcome.CONGESTION,
}
_REJECTING_DIAL_STATUSES: Final = frozenset({"BUSY", "CONGESTION", "CHANUNAVAIL"})


def _withdrawal_reason(call: _Call, offer: _Offer, status: str) -> WithdrawalReason:
    if status == "NOANSWER":
        return WithdrawalReason.RING_NO_ANSWER
    if status in _REJECTING_DIAL_STATUSES:
        return WithdrawalReason.REJECTED
    if offer.kind == CONSULT_RING:
        answered_here = any(
            other.answered and other.calling_uniqueid == offer.calling_uniqueid
            for other in call.offers.values()
        )
        if answered_here:
            return WithdrawalReason.ANSWERED_ELSEWHERE
        return WithdrawalReason.TRANSFER_CANCELLED
    if offer.kind == QUEUE_RING and call.any_member_answered:
        return WithdrawalReason.ANSWERED_ELSEWHERE
    if any(
        channel.hangup_requested
        for uniqueid, channel in call.channels.items()
        if uniqueid in call.customer_side
    ):
        return WithdrawalReason.CALLER_LEFT
    return WithdrawalReason.CANCELLED


def _outcome(call: _Call, *, resynced: bool) -> Outcome:
    if call.answered:
        return Outcome.ANSWERED
    if call.queue_result is not None:
        return call.queue_result
    if call.queue:
        return Outcome.ABANDONED  # queued, then gone without an answer
    if call.variables.get("AMDSTATUS") == "MACHINE":
        return Outcome.MACHINE  # answered by a machine, hung up before any queue
    if call.direction is Direction.OUTBOUND or call.direction is Direction.CLICK_TO_CALL:
        customer_legs = [dial for dial in call.dials.values() if dial.party is Party.CUSTOMER]
        if call.direction is Direction.CLICK_TO_CALL and not customer_legs:
            return Outcome.FAILED  # the agent leg never got as far as dialling the customer
        for dial in reversed(customer_legs):
            if dial.status:
                return _DIAL_OUTCOMES.get(dial.status, Outcome.FAILED)
        if call.originate_reason is not None:
            return _ORIGINATE_REASONS.get(call.originate_reason, ("", Outcome.FAILED))[1]
    if not call.hangup_cause:
        return Outcome.UNKNOWN if resynced else Outcome.FAILED
    return _CAUSE_OUTCOMES.get(call.hangup_cause, Outcome.FAILED)


def _ended(call: _Call, at: float, *, resynced: bool) -> CallEnded:
    offered_at = call.start()
    answered_at = call.answered_at
    waited_until = answered_at if answered_at is not None else at
    outcome = _outcome(call, resynced=resynced)
    cause, cause_text = call.hangup_cause, call.hangup_cause_text
    if outcome in _DIAL_CAUSES and cause in (0, 16):  # normal clearing: the agent's leg spoke
        cause, cause_text = _DIAL_CAUSES[outcome]
    if call.legs:
        talk = sum(leg.talk_seconds(at) for leg in call.legs)
    else:
        talk = max(0.0, at - answered_at) if answered_at is not None else 0.0
    return CallEnded(
        linked_id=call.linked_id,
        direction=call.direction,
        outcome=outcome,
        caller_number=call.caller_number,
        customer_number=call.customer_number(),
        queue=call.queue,
        agent_interface=call.agent_interface,
        offered_at=offered_at,
        answered_at=answered_at,
        ended_at=at,
        wait_seconds=max(0.0, waited_until - offered_at),
        talk_seconds=talk,
        hangup_cause=cause,
        hangup_cause_text=cause_text,
        tags=call.tags,
        estimated=resynced,
        legs=recorded_legs(call, at),
        variables=tuple(sorted(call.variables.items())),
    )
