"""Domain events of the PBX side: what happened to calls and agents, in our own words.

The call and agent state machines (``cti.calls``, ``cti.agents``) turn AMI frames into these;
everything downstream (screen pop, call records, dialer, web hub) consumes only these. AMI
spellings (``Linkedid``, ``CallerIDNum``) never appear here.

Every event is a frozen, slotted dataclass built with keyword arguments only. ``at`` is always
the receive time of the AMI frame that caused the event (seconds, as passed to ``apply``);
durations are differences of such times. Tags and captured variables are sorted tuples of
``(name, value)`` pairs so that events stay hashable and compare by value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

Pairs = tuple[tuple[str, str], ...]


class Direction(StrEnum):
    """Who started the call. Set by ``CallTracker.expect`` for calls we originate."""

    INBOUND = "inbound"  # default for a call that entered a queue as a caller
    OUTBOUND = "outbound"  # we dialled the customer (preview, progressive, predictive)
    CLICK_TO_CALL = "click_to_call"  # we rang the agent first, then dialled the customer
    UNKNOWN = "unknown"  # only seen in snapshots of calls we have not classified


class Outcome(StrEnum):
    """How a call ended, for call records, retry rules and the abandonment cap."""

    ANSWERED = "answered"  # an agent talked to the customer
    ABANDONED = "abandoned"  # the customer hung up while waiting (or, outbound: answered, no agent)
    QUEUE_TIMEOUT = "queue_timeout"  # the queue gave up on the caller (Queue() timeout)
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    MACHINE = "machine"  # outbound: the PBX's AMD() found an answering machine
    CONGESTION = "congestion"
    FAILED = "failed"  # could not be placed, or the agent leg of a click-to-call failed
    UNKNOWN = "unknown"  # ended while we were disconnected and nothing tells us how


class WithdrawalReason(StrEnum):
    """Why an agent's ringing phone stopped ringing without that agent taking the call."""

    ANSWERED_ELSEWHERE = "answered_elsewhere"  # ring-all / hunt: another agent took it
    RING_NO_ANSWER = "ring_no_answer"  # member ring timeout (AgentRingNoAnswer)
    REJECTED = "rejected"  # the device answered busy / congestion / unavailable
    CALLER_LEFT = "caller_left"  # the caller hung up
    QUEUE_TIMEOUT = "queue_timeout"  # the queue gave up on the caller
    CANCELLED = "cancelled"  # ringing stopped for a reason AMI did not tell us
    # An attended transfer's consultation ended without the transfer: cancelled by the
    # transferer, the target hung up, or nobody answered it. Also comes after the consulted
    # agent answered (CallAnswered): the customer never reached that agent.
    TRANSFER_CANCELLED = "transfer_cancelled"


class Party(StrEnum):
    """Who a dialled leg reaches: the originate leg of a click-to-call rings the agent."""

    AGENT = "agent"
    CUSTOMER = "customer"


class TransferKind(StrEnum):
    BLIND = "blind"
    ATTENDED = "attended"


class LegEnd(StrEnum):
    """Why an agent's part of a call ended (``AgentLegEnded.reason``)."""

    HUNG_UP = "hung_up"  # the agent's leg hung up while the call went on, or as it ended
    TRANSFERRED = "transferred"  # the agent transferred the customer (blind or attended)
    # The customer went on without a transfer: a Redirect, back into a queue, to another phone.
    MOVED = "moved"
    CALL_ENDED = "call_ended"  # the call ended with the leg still up (or a resync found it gone)


class Activity(StrEnum):
    """What an agent is doing with the calls it is offered (by a queue, or a transfer)."""

    IDLE = "idle"
    RINGING = "ringing"
    TALKING = "talking"


# ---------------------------------------------------------------- calls


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOffered:
    """An agent's phone started ringing with this call (from a queue, or rung by a transfer or
    an attended transfer's consultation, ``queue`` then ""): pop the screen."""

    linked_id: str
    uniqueid_of_caller: str  # the queue caller channel
    agent_interface: str  # queue member interface, e.g. PJSIP/1001 or Local/1001@agents
    member_name: str
    device_channel: str  # the ringing channel; identifies this offer among re-offers
    caller_number: str  # as presented by the PBX ("" when unknown)
    caller_name: str
    presentation_restricted: bool  # withheld CLI: show "withheld" to the agent
    customer_number: str  # inbound: the caller; outbound / click-to-call: who we dialled
    dnis: str  # inbound: the DID (extension where the caller queued); outbound: the dialled number
    queue: str
    direction: Direction
    variables: Pairs  # captured channel variables, e.g. an IVR-collected account number
    tags: Pairs  # from CallTracker.expect
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOfferWithdrawn:
    """A ringing offer ended without this agent taking the call: close that screen pop."""

    linked_id: str
    agent_interface: str
    device_channel: str
    reason: WithdrawalReason
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnswered:
    """An agent is connected to the customer (AgentConnect, or click-to-call customer answer)."""

    linked_id: str
    agent_interface: str
    member_name: str
    device_channel: str
    queue: str  # "" when no queue was involved (click-to-call, transfer to an extension)
    direction: Direction
    at: float
    # From offered_at (see CallEnded) to this answer; for an agent rung by a transfer or a
    # consultation, from that agent's CallOffered.
    wait_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAbandoned:
    """The caller hung up while waiting in a queue."""

    linked_id: str
    queue: str
    position: int
    original_position: int
    wait_seconds: float
    direction: Direction
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallQueueTimedOut:
    """The queue gave up on a waiting caller (Queue() timeout); the dialplan may go on."""

    linked_id: str
    queue: str
    position: int
    original_position: int
    wait_seconds: float
    direction: Direction
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTransferred:
    """Asterisk reported a successful blind or attended transfer (BlindTransfer /
    AttendedTransfer with ``Result: Success``): the transferring agent is off the call.

    ``agent_interface``: the agent who transferred (the interface of the transferer channel).
    ``target``: blind, ``extension@context``; attended, the consulted agent's device channel
    when the consultation was followed, else the transfer target channel, else the
    application or bridge the transferee was moved to. Who takes the call is told by the
    target's own CallOffered / CallAnswered (same ``linked_id``).
    """

    linked_id: str
    kind: TransferKind
    agent_interface: str
    transferer_channel: str
    transferee_channel: str
    target: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDialled:
    """A call we follow started dialling a leg (DialBegin) that is not a queue member ring."""

    linked_id: str
    uniqueid: str  # of the dialled channel
    destination: str  # the dial string, e.g. 6001@customers or PJSIP/+15551234567@trunk
    party: Party
    direction: Direction
    tags: Pairs
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDialEnded:
    """That leg stopped ringing (DialEnd): ANSWER, BUSY, NOANSWER, CONGESTION, CANCEL, ..."""

    linked_id: str
    uniqueid: str
    destination: str
    party: Party
    dial_status: str  # as Asterisk spells it
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginateFailed:
    """An Originate we sent did not connect (OriginateResponse ``Response: Failure``).

    Correlate by ``action_id``; ``uniqueid`` is the ChannelId we registered with
    ``CallTracker.expect(..., action_id=...)``, else "" (Asterisk reports ``<unknown>``).
    """

    action_id: str
    uniqueid: str
    channel: str  # as requested, e.g. Local/7002@customers
    reason_code: int  # 0 failure, 1 hung up, 3 rang without answer, 5 busy, 8 congestion
    reason: str
    outcome: Outcome
    direction: Direction
    tags: Pairs
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLegEnded:
    """An agent's part of a call is over, the call perhaps not: their own end and wrap-up.

    Exactly one per answered agent leg (the customer connected to that agent), whether the agent
    hung up, transferred, the customer was moved on (Redirect, back into a queue) or the call
    ended. ``hold_seconds`` / ``talk_seconds``: Asterisk's own HoldTime / TalkTime for that
    agent (AgentConnect / AgentComplete) when it told them, else measured here.
    """

    linked_id: str
    agent_interface: str
    member_name: str
    device_channel: str
    queue: str
    direction: Direction
    answered_at: float
    hold_seconds: float
    talk_seconds: float
    reason: LegEnd
    at: float
    estimated: bool = False  # the end was inferred by a resynchronisation


@dataclass(frozen=True, slots=True, kw_only=True)
class CallLeg:
    """One part of a call's life, for the record: a stay in a queue (``kind`` "queue": from
    joining to being answered or leaving, ``result`` answered / abandoned / queue_timeout /
    left) or an agent's connection to the customer (``kind`` "agent", ``result`` a ``LegEnd``).
    """

    kind: str
    queue: str
    agent_interface: str
    member_name: str
    started_at: float  # joined the queue; the agent answered
    ended_at: float
    wait_seconds: float  # queue: time in it; agent: its HoldTime
    talk_seconds: float  # agent only
    result: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded:
    """The last channel of the call hung up (or a resync found it gone): write the record.

    ``offered_at`` is when the call entered its first queue, or when it was created if it never
    queued. ``wait_seconds`` runs from it to the first answer (or to the end when unanswered).
    ``talk_seconds``: the sum of the agent legs' talk (a call moved from agent to agent is not
    talking while it waits in between); 0 when unanswered. ``hangup_cause`` is the first
    non-zero Q.850 cause seen on the call's channels. ``agent_interface`` / ``queue``: the last
    agent who had the customer, the last queue. ``legs``: every queue stay and agent
    connection, in order (``CallLeg``).
    """

    linked_id: str
    direction: Direction
    outcome: Outcome
    caller_number: str
    customer_number: str
    queue: str
    agent_interface: str
    offered_at: float
    answered_at: float | None
    ended_at: float
    wait_seconds: float
    talk_seconds: float
    hangup_cause: int
    hangup_cause_text: str
    tags: Pairs
    # The end was not seen but inferred (a resynchronisation found the call gone, or it ended
    # while no instance drove the link): ended_at, and so the durations, are estimates.
    estimated: bool = False
    legs: tuple[CallLeg, ...] = ()
    variables: Pairs = ()  # captured channel variables (manager.conf channelvars)


# ---------------------------------------------------------------- agents


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentJoinedQueue:
    interface: str
    queue: str
    member_name: str
    state_interface: str  # the device whose state the queue follows, e.g. Custom:agent1001
    paused: bool
    paused_reason: str
    device_state: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLeftQueue:
    interface: str
    queue: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPaused:
    interface: str
    queue: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentUnpaused:
    interface: str
    queue: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentDeviceStateChanged:
    """NOT_INUSE, INUSE, BUSY, INVALID, UNAVAILABLE, RINGING, RINGINUSE, ONHOLD or UNKNOWN."""

    interface: str
    state_interface: str
    state: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentActivityChanged:
    """The agent's phone started ringing with a call (queue or transfer), was answered, or went
    idle."""

    interface: str
    activity: Activity
    linked_id: str  # the call rung / talked to; "" when idle
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberWas:
    """A queue member as the PBX had it: its interface as the PBX spells it, and per queue
    whether it was paused and why."""

    pbx_interface: str
    member_name: str
    state_interface: str
    queues: tuple[tuple[str, bool, str], ...]  # (queue, paused, reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxRestarted:
    """The PBX started again while the link was down (its start time changed): it has forgotten
    its dynamic queue members. ``members``: those it had before, as they were."""

    members: tuple[MemberWas, ...]
    at: float


CallEvent = (
    CallOffered
    | CallOfferWithdrawn
    | CallAnswered
    | CallAbandoned
    | CallQueueTimedOut
    | CallTransferred
    | AgentLegEnded
    | CallDialled
    | CallDialEnded
    | OriginateFailed
    | CallEnded
)
AgentEvent = (
    AgentJoinedQueue
    | AgentLeftQueue
    | AgentPaused
    | AgentUnpaused
    | AgentDeviceStateChanged
    | AgentActivityChanged
)
DomainEvent = CallEvent | AgentEvent | PbxRestarted
