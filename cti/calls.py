"""The call-state machine: AMI frames in, domain events out, one call per Linkedid.

Pure logic: no I/O, no clock (the caller passes each frame's receive time as ``at``), no logging.
``CallTracker.apply`` is the hot path (about 180 AMI events per call, most of them ``Newexten`` /
``VarSet`` that matter to nobody): one dictionary lookup on the event name drops everything not in
``_HANDLERS``.

What is a call, and which calls are reported
    Every channel belongs to the call of the Linkedid it was created with (``Newchannel``); the
    call ends when its last channel hangs up. Only calls we have a reason to report produce
    domain events: calls that entered a queue as a caller (inbound, unless expected otherwise) and
    calls registered with ``expect`` (the ChannelId we passed to Originate). Other Linkedids
    (internal calls, originates nobody expected) are followed silently so that resync stays
    correct, and forgotten when they end. Channels keep the call they were created in even if
    Asterisk later gives them another Linkedid (it propagates the oldest Linkedid across a bridge,
    e.g. after an attended transfer): each call still ends when its own channels are gone.

Idempotence
    Each call keeps the hashes of the frames it has applied (``hash(frame.headers)``, i.e. event
    name, ids and every header) and ignores a frame it has already seen; frames about a channel
    that has hung up find no channel and are dropped; ``Newchannel`` for a Linkedid that has ended
    is dropped (a bounded memory of ended Linkedids). So a frame replayed at any later point
    yields nothing, while memory stays bounded: a call's state and seen-set go with its
    ``CallEnded``. Byte-identical frames within one call are treated as one (they carry the same
    facts; Asterisk does send some twice, e.g. ``DialEnd CANCEL``).

Abandoned or timed out
    Asterisk 22 reports a Queue() timeout with ``QueueCallerAbandon`` too. A caller who hangs up
    always has a ``HangupRequest`` (or, when hung up by AMI, ``SoftHangupRequest``) on the
    queue caller channel *before* ``QueueCallerAbandon``; a timeout has none (the dialplan's
    ``QUEUESTATUS=TIMEOUT`` comes after, and only if dialplan-class events are enabled). So the
    decision is made at ``QueueCallerAbandon`` from that flag, without needing ``VarSet``.

Outcome (``CallEnded.outcome``), first rule that applies
    answered (an agent was connected) > the queue's verdict (abandoned / queue_timeout) > queued
    but left unanswered (abandoned) > for outbound and click-to-call: the last customer leg's
    DialStatus (BUSY, NOANSWER/CANCEL, CONGESTION, CHANUNAVAIL; ANSWER without an agent counts as
    abandoned, as in predictive dialling), then the OriginateResponse reason if it came first,
    then the Q.850 hangup cause (17 busy, 18/19 no answer, 34/38/41/42/44 congestion) > failed.
    A click-to-call whose agent leg failed (no customer leg dialled) is failed. A call ended by
    ``reconcile`` with nothing known is unknown.

Transfers
    ``BlindTransfer`` and ``AttendedTransfer`` with ``Result: Success`` give ``CallTransferred``
    for the call of the transferee (else of the transferer); failed ones give nothing. The call
    keeps its Linkedid through a transfer, so it is followed, not replaced:

    * Once the call has been answered, a Dial() that rings another device is an offer to that
      agent (``CallOffered``, queue ""; the customer's identity, the same ``linked_id``), then
      ``CallAnswered`` or ``CallOfferWithdrawn``. Dialled from the customer's side (the queue
      caller or click-to-call customer leg, or the transferee of a blind transfer or Redirect)
      it is a transfer: the answering agent becomes the call's agent. Dialled from any other
      channel it is an attended transfer's consultation (AMI Atxfer dials through
      ``Local/<exten>@<context>``, created with the transferer as requestor and so with the
      customer's Linkedid): its answer is told to that agent, but the call stays the
      transferer's until ``AttendedTransfer`` (then the consulted agent takes it, at once or
      when it answers a "blond" transfer). A consultation that ends without the transfer is
      withdrawn (``TRANSFER_CANCELLED``), even after its ``CallAnswered``.
    * A transfer to a queue DID re-queues the customer: the queue's offers follow as usual. A
      consultation through a queue (Atxfer to a DID) gives offers with that queue's name, and
      its giving up is never the customer abandoning.
    * ``CallEnded`` comes once, when the last channel with the call's Linkedid is gone (the
      consultation's channels included), naming the last agent who had the customer.
    * A consultation with a Linkedid of its own (placed by the agent's phone, then joined by a
      SIP REFER) is another call, reported by nobody: it yields no domain events. The
      customer's call learns its new agent from ``AttendedTransfer`` (the transfer target's
      device, when it is not a Local channel) and reports ``CallTransferred`` and, later, its
      one ``CallEnded``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from cti.ami.framing import Frame
from cti.events import (
    CallAbandoned,
    CallAnswered,
    CallDialEnded,
    CallDialled,
    CallEnded,
    CallEvent,
    CallOffered,
    CallOfferWithdrawn,
    CallQueueTimedOut,
    CallTransferred,
    Direction,
    OriginateFailed,
    Outcome,
    Pairs,
    Party,
    TransferKind,
    WithdrawalReason,
)

# The AMI events the call-state machine reacts to, each with its handler. Anything else is
# dropped by the first dictionary lookup in ``apply``.
_HANDLERS: Final[dict[str, str]] = {
    "Newchannel": "_on_new_channel",
    "NewCallerid": "_on_new_caller_id",
    "VarSet": "_on_var_set",  # only registered when capture_variables is not empty
    "HangupRequest": "_on_hangup_request",
    "SoftHangupRequest": "_on_hangup_request",
    "Hangup": "_on_hangup",
    "DialBegin": "_on_dial_begin",
    "DialEnd": "_on_dial_end",
    "QueueCallerJoin": "_on_queue_caller_join",
    "QueueCallerAbandon": "_on_queue_caller_abandon",
    "QueueCallerLeave": "_on_queue_caller_leave",
    "AgentCalled": "_on_agent_called",
    "AgentRingNoAnswer": "_on_agent_ring_no_answer",
    "AgentConnect": "_on_agent_connect",
    "AgentComplete": "_on_agent_complete",
    "BlindTransfer": "_on_blind_transfer",
    "AttendedTransfer": "_on_attended_transfer",
    "OriginateResponse": "_on_originate_response",
}

# Values Asterisk writes where it has nothing to say.
_NOTHING: Final = frozenset({"", "<unknown>", "(null)"})
# Caller numbers that mean "withheld" whatever the presentation bits say (SIP convention).
_WITHHELD_NUMBERS: Final = frozenset({"anonymous", "restricted", "private", "withheld"})
# AST_PRES_RESTRICTION mask and its "restricted" value in CID-CallingPres.
_PRES_MASK: Final = 0x60
_PRES_RESTRICTED: Final = 0x20

_DIAL_OUTCOMES: Final[dict[str, Outcome]] = {
    "ANSWER": Outcome.ABANDONED,  # customer answered but no agent was connected
    "BUSY": Outcome.BUSY,
    "NOANSWER": Outcome.NO_ANSWER,
    "CANCEL": Outcome.NO_ANSWER,  # we hung up before the customer answered
    "CONGESTION": Outcome.CONGESTION,
    "CHANUNAVAIL": Outcome.FAILED,
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

# _Offer kinds.
QUEUE_RING: Final = "queue"
TRANSFER_RING: Final = "transfer"
CONSULT_RING: Final = "consult"

DEFAULT_REMEMBERED_ENDED_CALLS: Final = 10_000
DEFAULT_MAX_EXPECTATIONS: Final = 10_000


@dataclass(frozen=True, slots=True)
class OpenCall:
    """A snapshot of one reported call in progress, for dashboards and resync checks."""

    linked_id: str
    direction: Direction
    state: str  # dialling, queued, ringing, answered or active
    caller_number: str
    customer_number: str
    queue: str
    agent_interface: str
    offered_at: float
    answered_at: float | None
    channels: tuple[str, ...]  # channel names
    tags: Pairs


@dataclass(frozen=True, slots=True)
class _Expectation:
    uniqueid: str
    direction: Direction
    tags: Pairs
    action_id: str


class _Channel:
    __slots__ = ("call", "consult", "hangup_requested", "name", "seen_at", "uniqueid")

    def __init__(self, uniqueid: str, name: str, call: _Call, seen_at: float) -> None:
        self.uniqueid = uniqueid
        self.name = name
        self.call = call
        self.hangup_requested = False
        self.seen_at = seen_at  # a listing asked for before this cannot know the channel
        # Dials or queues for an attended transfer's consultation, not for the customer.
        self.consult = False


class _Offer:
    """One ring of an agent's device with this call.

    ``kind``: a queue member ring of the customer (``queue``); once the call was answered, a
    ring from the customer's side, i.e. a transfer (``transfer``); or a ring for an attended
    transfer's consultation (``consult``), which becomes a transfer if it completes.
    ``via_queue``: rung by a queue (AgentCalled / AgentConnect report it), else by Dial()."""

    __slots__ = (
        "agent_interface", "answered", "calling_uniqueid", "completed", "device_channel",
        "device_uniqueid", "kind", "member_name", "offered_at", "open", "queue", "via_queue",
    )

    def __init__(
        self, device_uniqueid: str, device_channel: str, agent: str, member: str, *,
        kind: str = QUEUE_RING, queue: str = "", via_queue: bool = True,
        calling_uniqueid: str = "", offered_at: float = 0.0,
    ) -> None:
        self.device_uniqueid = device_uniqueid
        self.device_channel = device_channel
        self.agent_interface = agent
        self.member_name = member
        self.open = True
        self.kind = kind
        self.queue = queue
        self.via_queue = via_queue
        self.calling_uniqueid = calling_uniqueid  # the channel that rang this device
        self.offered_at = offered_at
        self.answered = False
        self.completed = False  # a consultation whose transfer went through


class _Dial:
    """One dialled leg that is not a queue member ring (originate leg, Dial())."""

    __slots__ = ("destination", "party", "status", "uniqueid")

    def __init__(self, uniqueid: str, destination: str, party: Party) -> None:
        self.uniqueid = uniqueid
        self.destination = destination
        self.party = party
        self.status = ""


class _Call:
    __slots__ = (
        "agent_interface",
        "answered",
        "answered_at",
        "any_member_answered",
        "caller",
        "caller_name",
        "caller_number",
        "channels",
        "created_at",
        "customer_side",
        "device_channel",
        "dials",
        "direction",
        "dnis",
        "hangup_cause",
        "hangup_cause_text",
        "in_queue",
        "joined_at",
        "linked_id",
        "member_name",
        "offered_at",
        "offered_at_estimated",
        "offers",
        "origin_channel",
        "originate_reason",
        "queue",
        "queue_result",
        "reported",
        "restricted",
        "seen",
        "tags",
        "variables",
    )

    def __init__(self, linked_id: str, created_at: float) -> None:
        self.linked_id = linked_id
        self.created_at = created_at
        self.direction = Direction.UNKNOWN
        self.reported = False
        self.tags: Pairs = ()
        self.channels: dict[str, _Channel] = {}
        self.seen: set[int] = set()
        self.origin_channel = ""  # the expected (originated) channel's name
        self.caller: _Channel | None = None  # the queue caller channel
        # Uniqueids of the channels that carry the customer, oldest first: the queue caller or
        # the answered customer leg, then whoever a transfer put in its place.
        self.customer_side: dict[str, None] = {}
        self.caller_number = ""
        self.caller_name = ""
        self.dnis = ""
        self.restricted = False
        self.queue = ""
        self.offered_at: float | None = None  # first queue entry
        self.offered_at_estimated = False  # from a resync; refined by HoldTime when known
        self.joined_at: float | None = None  # latest queue entry
        self.in_queue = False
        self.queue_result: Outcome | None = None
        self.offers: dict[str, _Offer] = {}
        self.dials: dict[str, _Dial] = {}
        self.any_member_answered = False
        self.answered = False
        self.answered_at: float | None = None
        self.agent_interface = ""
        self.member_name = ""
        self.device_channel = ""
        self.variables: dict[str, str] = {}
        self.originate_reason: int | None = None
        self.hangup_cause = 0
        self.hangup_cause_text = ""

    def first_sight(self, frame: Frame) -> bool:
        """True the first time this call sees this exact frame (the replay guard)."""
        key = hash(frame.headers)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def customer_number(self) -> str:
        """Who the customer is: the caller inbound, the first dialled customer otherwise."""
        if self.direction is Direction.OUTBOUND or self.direction is Direction.CLICK_TO_CALL:
            for dial in self.dials.values():
                if dial.party is Party.CUSTOMER:
                    return number_of(dial.destination)
            return ""
        # "anonymous" and the like are placeholders, not numbers to look a customer up by.
        return "" if self.caller_number.lower() in _WITHHELD_NUMBERS else self.caller_number

    def start(self) -> float:
        return self.offered_at if self.offered_at is not None else self.created_at


class _RecentKeys:
    """An insertion-ordered set that forgets its oldest keys beyond ``capacity``."""

    __slots__ = ("_capacity", "_keys")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._keys: dict[object, None] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: object) -> bool:
        """Remember ``key``; False if it was already remembered."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            del self._keys[next(iter(self._keys))]
        return True


Handler = Callable[[Frame, float], list[CallEvent]]


class CallTracker:
    """Follows every call on one PBX and reports what happens to the ones we care about.

    ``capture_variables``: channel variables (set with VarSet on any channel of the call before
    an agent rings, typically the IVR's account number) copied into ``CallOffered.variables``.
    ``remember_ended``: how many ended Linkedids to remember against replays.
    ``max_expectations``: bound on registered originates that never produced a channel.
    """

    def __init__(
        self,
        *,
        capture_variables: frozenset[str] = frozenset(),
        remember_ended: int = DEFAULT_REMEMBERED_ENDED_CALLS,
        max_expectations: int = DEFAULT_MAX_EXPECTATIONS,
    ) -> None:
        self._capture = frozenset(capture_variables)
        self._calls: dict[str, _Call] = {}
        self._channels: dict[str, _Channel] = {}
        self._ended = _RecentKeys(remember_ended)
        self._max_expectations = max_expectations
        self._expected: dict[str, _Expectation] = {}
        self._expected_by_action: dict[str, _Expectation] = {}
        self._originate_failures = _RecentKeys(remember_ended)
        self._dispatch: dict[str, Handler] = {
            name: getattr(self, method)
            for name, method in _HANDLERS.items()
            if name != "VarSet" or self._capture
        }

    # ------------------------------------------------------------ public API

    def apply(self, frame: Frame, at: float) -> list[CallEvent]:
        """The domain events this AMI frame causes (usually none). Never raises on odd input."""
        handler = self._dispatch.get(frame.name)
        if handler is None:
            return []
        return handler(frame, at)

    def expect(
        self,
        uniqueid: str,
        direction: str,
        tags: Mapping[str, str] | None = None,
        *,
        action_id: str | None = None,
    ) -> None:
        """Register a call we are about to originate with ``ChannelId: uniqueid``.

        Its events then carry ``direction`` and ``tags``. ``action_id`` (the Originate's
        ActionID) lets a failed OriginateResponse, which reports ``Uniqueid: <unknown>``, be
        matched to this registration. Raises ValueError for an unknown direction.
        """
        expectation = _Expectation(uniqueid, Direction(direction), _pairs(tags), action_id or "")
        channel = self._channels.get(uniqueid)
        if channel is not None:  # registered late: the channel is already there
            self._adopt_expectation(channel, expectation)
        else:
            _bounded_put(self._expected, uniqueid, expectation, self._max_expectations)
        if action_id:
            _bounded_put(self._expected_by_action, action_id, expectation, self._max_expectations)

    def open_calls(self) -> list[OpenCall]:
        """The reported calls in progress, oldest first."""
        return [_snapshot(call) for call in self._calls.values() if call.reported]

    @property
    def tracked_call_count(self) -> int:
        """Calls held in memory, reported or not (for metrics and the bounded-memory test)."""
        return len(self._calls)

    @property
    def tracked_channel_count(self) -> int:
        return len(self._channels)

    @property
    def handled_events(self) -> frozenset[str]:
        """The AMI event names this tracker reacts to (the link drops the rest unread)."""
        return frozenset(self._dispatch)

    def reconcile(self, channels: Iterable[Frame], at: float) -> list[CallEvent]:
        """Bring the state in line with a CoreShowChannels listing taken after a reconnect.

        ``at`` is the time the listing was asked for: channels first seen after it are not
        judged by it (their Newchannel may arrive before the listing does). ``channels`` are
        the ``CoreShowChannel`` items (other frames are ignored). Channels we hold that are not
        listed are gone: their calls end (``CallEnded`` at ``at``, outcome as
        in the module notes; a caller who was still queued counts as abandoned) and their open
        offers are withdrawn (cancelled). Listed channels we do not know are adopted, silently:
        a channel in the Queue application is a queue caller (answered if it is in a bridge),
        one in AppQueue an agent leg; call start is estimated from the channel's Duration and
        refined by the HoldTime / TalkTime of the call's later AgentComplete or
        QueueCallerAbandon. Adopted calls then follow later events like any other.
        """
        listed: dict[str, Frame] = {}
        for frame in channels:
            uniqueid = frame.get("Uniqueid") if frame.name == "CoreShowChannel" else None
            if uniqueid:
                listed[uniqueid] = frame
        events: list[CallEvent] = []
        for call in list(self._calls.values()):
            events += self._drop_vanished_channels(call, listed, at)
        for uniqueid, frame in listed.items():
            channel = self._channels.get(uniqueid)
            if channel is None:
                channel = self._adopt_listed_channel(uniqueid, frame, at)
            if channel is not None:
                _note_listing(channel, frame, at)
                if channel.call.caller is not None:
                    self._report_as_inbound(channel.call)
        return events

    # ------------------------------------------------------------ channels

    def _on_new_channel(self, frame: Frame, at: float) -> list[CallEvent]:
        get = frame.get
        linked_id = get("Linkedid")
        uniqueid = get("Uniqueid")
        if not linked_id or not uniqueid or uniqueid in self._channels:
            return []
        call = self._calls.get(linked_id)
        if call is None:
            if linked_id in self._ended:  # a replay of an ended call
                return []
            call = self._calls[linked_id] = _Call(linked_id, at)
        if not call.first_sight(frame):
            return []
        channel = self._register_channel(call, uniqueid, get("Channel") or "", at)
        expectation = self._expected.pop(uniqueid, None)
        if expectation is not None:
            self._adopt_expectation(channel, expectation)
        return []

    def _on_new_caller_id(self, frame: Frame, at: float) -> list[CallEvent]:
        channel = self._channels.get(frame.get("Uniqueid") or "")
        if channel is not None and _is_restricted(frame.get("CID-CallingPres")):
            channel.call.restricted = True
        return []

    def _on_var_set(self, frame: Frame, at: float) -> list[CallEvent]:
        headers = frame.headers
        # Asterisk ends VarSet with Variable / Value: read them without building a dict.
        if len(headers) > 2 and headers[-2][0] == "Variable" and headers[-1][0] == "Value":
            name, value = headers[-2][1], headers[-1][1]
        else:
            name, value = frame.get("Variable") or "", frame.get("Value") or ""
        if name not in self._capture:
            return []
        channel = self._channels.get(frame.get("Uniqueid") or "")
        if channel is not None and channel.call.first_sight(frame):
            channel.call.variables[name] = value
        return []

    def _on_hangup_request(self, frame: Frame, at: float) -> list[CallEvent]:
        channel = self._channels.get(frame.get("Uniqueid") or "")
        if channel is not None:
            channel.hangup_requested = True
        return []

    def _on_hangup(self, frame: Frame, at: float) -> list[CallEvent]:
        get = frame.get
        channel = self._channels.get(get("Uniqueid") or "")
        if channel is None:
            return []
        call = channel.call
        self._unregister_channel(channel)  # a replayed Hangup then finds no channel
        cause = _int(get("Cause"))
        if cause and not call.hangup_cause:
            call.hangup_cause = cause
            call.hangup_cause_text = get("Cause-txt") or ""
        events: list[CallEvent] = []
        offer = call.offers.get(channel.uniqueid)
        if offer is not None and _consultation_over(offer):
            offer.completed = True  # the consulted agent hung up without taking the customer
            events = self._withdraw(call, offer, WithdrawalReason.TRANSFER_CANCELLED, at)
        if call.channels:
            return events
        return events + self._end_call(call, at)

    # ------------------------------------------------------------ dialling

    def _dial_leg(self, frame: Frame) -> tuple[_Call, _Channel | None, str] | None:
        """The call, calling channel (None for an Originate's own leg) and dialled uniqueid."""
        get = frame.get
        dest_uniqueid = get("DestUniqueid")
        if not dest_uniqueid:
            return None
        caller_uniqueid = get("Uniqueid")
        if caller_uniqueid is None:  # Originate dials its first leg with no calling channel
            origin = self._channels.get(dest_uniqueid)
            return None if origin is None else (origin.call, None, dest_uniqueid)
        calling = self._channels.get(caller_uniqueid)
        return None if calling is None else (calling.call, calling, dest_uniqueid)

    def _on_dial_begin(self, frame: Frame, at: float) -> list[CallEvent]:
        leg = self._dial_leg(frame)
        if leg is None:
            return []
        call, calling, dest_uniqueid = leg
        if not call.first_sight(frame) or dest_uniqueid in call.dials:
            return []
        if dest_uniqueid in call.offers or (calling is call.caller and call.in_queue):
            return []  # a queue member ring: AgentCalled reports it as an offer
        if call.answered and call.reported and calling is not None:
            return self._offer_dialled_agent(call, calling, frame, at)
        clicked = call.direction is Direction.CLICK_TO_CALL
        if calling is None:
            party = Party.AGENT if clicked else Party.CUSTOMER
        else:
            party = Party.CUSTOMER if clicked else Party.AGENT
        get = frame.get
        destination = get("DialString") or get("DestChannel") or ""
        call.dials[dest_uniqueid] = _Dial(dest_uniqueid, destination, party)
        if not call.reported:
            return []
        return [
            CallDialled(
                linked_id=call.linked_id,
                uniqueid=dest_uniqueid,
                destination=destination,
                party=party,
                direction=call.direction,
                tags=call.tags,
                at=at,
            )
        ]

    def _on_dial_end(self, frame: Frame, at: float) -> list[CallEvent]:
        leg = self._dial_leg(frame)
        if leg is None:
            return []
        call, calling, dest_uniqueid = leg
        if not call.first_sight(frame):
            return []
        status = frame.get("DialStatus") or ""
        offer = call.offers.get(dest_uniqueid)
        if offer is not None:
            if offer.via_queue:
                return self._end_member_ring(call, offer, status, at)
            return self._end_dialled_ring(call, offer, status, at)
        dial = call.dials.get(dest_uniqueid)
        if dial is None or dial.status or not status:
            return []
        dial.status = status
        if not call.reported:
            return []
        events: list[CallEvent] = [
            CallDialEnded(
                linked_id=call.linked_id,
                uniqueid=dest_uniqueid,
                destination=dial.destination,
                party=dial.party,
                dial_status=status,
                at=at,
            )
        ]
        if status == "ANSWER" and calling is not None:
            events += self._answer_dialled_leg(call, dial, frame, at)
        return events

    def _end_member_ring(
        self, call: _Call, offer: _Offer, status: str, at: float
    ) -> list[CallEvent]:
        if status == "ANSWER":
            offer.answered = True
            if offer.kind == QUEUE_RING:
                call.any_member_answered = True  # tells the others' CANCEL from a hang-up
            return []
        if not offer.open:
            return []
        return self._withdraw(call, offer, _withdrawal_reason(call, offer, status), at)

    def _offer_dialled_agent(
        self, call: _Call, calling: _Channel, frame: Frame, at: float
    ) -> list[CallEvent]:
        """A Dial() in an answered call rings another agent: from the customer's side it is a
        transfer (blind, or a Redirect); from anywhere else (the Local channel an attended
        transfer dials through), a consultation. Either way the agent is offered the call."""
        get = frame.get
        dest_uniqueid = get("DestUniqueid") or ""
        device = get("DestChannel") or ""
        consult = calling.uniqueid not in call.customer_side
        calling.consult = calling.consult or consult
        offer = _Offer(
            dest_uniqueid, device, interface_of(device), "",
            kind=CONSULT_RING if consult else TRANSFER_RING, via_queue=False,
            calling_uniqueid=calling.uniqueid, offered_at=at,
        )
        call.offers[dest_uniqueid] = offer
        return [self._offered(call, offer, "", at, exten=_text(get("Exten")))]

    def _end_dialled_ring(
        self, call: _Call, offer: _Offer, status: str, at: float
    ) -> list[CallEvent]:
        if not offer.open or not status:
            return []
        if status != "ANSWER":
            return self._withdraw(call, offer, _withdrawal_reason(call, offer, status), at)
        offer.open = False
        offer.answered = True
        if offer.kind == CONSULT_RING:
            return [self._consultation_answered(call, offer, at)]
        return self._answer(
            call, agent_interface=offer.agent_interface, member_name=offer.member_name,
            device_channel=offer.device_channel, queue=offer.queue, at=at,
            wait_from=offer.offered_at,
        )

    @staticmethod
    def _consultation_answered(call: _Call, offer: _Offer, at: float) -> CallAnswered:
        """The consulted agent answered the transferer: told to that agent, but the call stays
        the transferer's until the transfer completes."""
        return CallAnswered(
            linked_id=call.linked_id,
            agent_interface=offer.agent_interface,
            member_name=offer.member_name,
            device_channel=offer.device_channel,
            queue=offer.queue,
            direction=call.direction,
            at=at,
            wait_seconds=max(0.0, at - offer.offered_at),
        )

    def _answer_dialled_leg(
        self, call: _Call, dial: _Dial, frame: Frame, at: float
    ) -> list[CallEvent]:
        """A Dial() leg answered: the call is answered if that brings agent and customer
        together (click-to-call: the customer leg; otherwise an agent leg)."""
        if dial.party is Party.CUSTOMER:
            if call.direction is not Direction.CLICK_TO_CALL:
                return []
            call.customer_side[dial.uniqueid] = None
            device = call.origin_channel
        else:
            device = frame.get("DestChannel") or ""
        return self._answer(
            call,
            agent_interface=interface_of(device),
            member_name="",
            device_channel=device,
            queue="",
            at=at,
        )

    # ------------------------------------------------------------ queues

    def _queue_caller(self, frame: Frame) -> tuple[_Call, _Channel] | None:
        channel = self._channels.get(frame.get("Uniqueid") or "")
        if channel is None or not channel.call.first_sight(frame):
            return None
        return channel.call, channel

    def _on_queue_caller_join(self, frame: Frame, at: float) -> list[CallEvent]:
        found = self._queue_caller(frame)
        if found is None:
            return []
        call, channel = found
        if call.answered and channel.uniqueid not in call.customer_side:
            channel.consult = True  # an attended transfer consults a queue, not the customer
            return []
        get = frame.get
        if call.answered:
            call.any_member_answered = False  # transferred to a queue: a new round of rings
        call.customer_side[channel.uniqueid] = None
        call.caller = channel
        call.queue = get("Queue") or ""
        call.joined_at = at
        call.in_queue = True
        if call.offered_at is None:
            call.offered_at = at
        _note_caller_id(call, frame)
        if not call.dnis:
            call.dnis = _text(get("Exten"))
        self._report_as_inbound(call)
        return []

    def _on_queue_caller_leave(self, frame: Frame, at: float) -> list[CallEvent]:
        channel = self._channels.get(frame.get("Uniqueid") or "")
        if channel is not None and channel is channel.call.caller:
            channel.call.in_queue = False
        return []

    def _on_queue_caller_abandon(self, frame: Frame, at: float) -> list[CallEvent]:
        found = self._queue_caller(frame)
        if found is None:
            return []
        call, channel = found
        if channel.consult:  # the consultation gave up waiting: the customer did not
            return [
                event for offer in list(call.offers.values())
                if offer.open and offer.calling_uniqueid == channel.uniqueid
                for event in self._withdraw(call, offer, WithdrawalReason.TRANSFER_CANCELLED, at)
            ]
        get = frame.get
        call.in_queue = False
        hold_seconds = _int(get("HoldTime"))
        if call.offered_at is None or call.offered_at_estimated:
            call.offered_at = at - hold_seconds
            call.offered_at_estimated = False
        waited = at - call.joined_at if call.joined_at is not None else float(hold_seconds)
        # A caller who hangs up has a hangup request before this event; a timeout has none.
        hung_up = channel.hangup_requested
        call.queue_result = Outcome.ABANDONED if hung_up else Outcome.QUEUE_TIMEOUT
        reason = WithdrawalReason.CALLER_LEFT if hung_up else WithdrawalReason.QUEUE_TIMEOUT
        events = self._withdraw_open_offers(call, reason, at)
        if not call.reported:
            return events
        event_type = CallAbandoned if hung_up else CallQueueTimedOut
        events.append(
            event_type(
                linked_id=call.linked_id,
                queue=get("Queue") or call.queue,
                position=_int(get("Position")),
                original_position=_int(get("OriginalPosition")),
                wait_seconds=waited,
                direction=call.direction,
                at=at,
            )
        )
        return events

    def _on_agent_called(self, frame: Frame, at: float) -> list[CallEvent]:
        found = self._queue_caller(frame)
        if found is None:
            return []
        call, channel = found
        get = frame.get
        device_uniqueid = get("DestUniqueid")
        if not device_uniqueid or device_uniqueid in call.offers:
            return []
        queue = get("Queue") or ""
        if channel.consult:
            offer = _Offer(
                device_uniqueid, get("DestChannel") or "", get("Interface") or "",
                get("MemberName") or "", kind=CONSULT_RING, queue=queue,
                calling_uniqueid=channel.uniqueid, offered_at=at,
            )
            call.offers[device_uniqueid] = offer
            return [self._offered(call, offer, queue, at, exten=_text(get("Exten")))]
        if call.caller is None:
            call.caller = channel
            call.customer_side[channel.uniqueid] = None
        if not call.queue:
            call.queue = get("Queue") or ""
        if call.offered_at is None:
            call.offered_at = at
        self._report_as_inbound(call)
        _note_caller_id(call, frame)
        if self._capture:
            self._note_channel_variables(call, frame)
        offer = _Offer(
            device_uniqueid,
            get("DestChannel") or "",
            get("Interface") or "",
            get("MemberName") or "",
            queue=queue or call.queue,
            calling_uniqueid=channel.uniqueid,
            offered_at=at,
        )
        call.offers[device_uniqueid] = offer
        return [
            self._offered(
                call, offer, queue or call.queue, at, caller_uniqueid=channel.uniqueid,
                exten=_text(get("Exten")),
            )
        ]

    def _note_channel_variables(self, call: _Call, frame: Frame) -> None:
        """With manager.conf ``channelvars``, Asterisk puts the caller channel's variables on
        its events as ``ChanVariable: NAME=value``: the production path (the dialplan event
        class, and with it VarSet, is filtered out at the source)."""
        for item in frame.get_all("ChanVariable"):
            name, _, value = item.partition("=")
            if name in self._capture and value:
                call.variables[name] = value

    def _offered(
        self, call: _Call, offer: _Offer, queue: str, at: float, *,
        caller_uniqueid: str | None = None, exten: str = "",
    ) -> CallOffered:
        """The offer as the agent's screen needs it. An offer made after the call was
        answered (a transfer or a consultation) presents the customer, as the first did."""
        customer = call.customer_number()
        dialled_out = call.direction in (Direction.OUTBOUND, Direction.CLICK_TO_CALL)
        caller_number = call.caller_number
        if offer.kind != QUEUE_RING and not caller_number:
            caller_number = customer  # click-to-call: the customer was dialled, never queued
        if caller_uniqueid is None:
            caller_uniqueid = next(iter(call.customer_side), "")
        return CallOffered(
            linked_id=call.linked_id,
            uniqueid_of_caller=caller_uniqueid,
            agent_interface=offer.agent_interface,
            member_name=offer.member_name,
            device_channel=offer.device_channel,
            caller_number=caller_number,
            caller_name=call.caller_name,
            presentation_restricted=call.restricted
            or caller_number.lower() in _WITHHELD_NUMBERS,
            customer_number=customer,
            dnis=customer if dialled_out else (call.dnis or exten),
            queue=queue,
            direction=call.direction,
            variables=tuple(sorted(call.variables.items())),
            tags=call.tags,
            at=at,
        )

    def _on_agent_ring_no_answer(self, frame: Frame, at: float) -> list[CallEvent]:
        found = self._queue_caller(frame)
        if found is None:
            return []
        call, _ = found
        offer = call.offers.get(frame.get("DestUniqueid") or "")
        if offer is None or not offer.open:
            return []
        return self._withdraw(call, offer, WithdrawalReason.RING_NO_ANSWER, at)

    def _on_agent_connect(self, frame: Frame, at: float) -> list[CallEvent]:
        found = self._queue_caller(frame)
        if found is None:
            return []
        call, channel = found
        get = frame.get
        device_uniqueid = get("DestUniqueid") or ""
        offer = call.offers.get(device_uniqueid)
        if offer is None:  # rung while we were away (adopted call): record it as answered
            offer = _Offer(device_uniqueid, get("DestChannel") or "", "", "")
            call.offers[device_uniqueid] = offer
        elif not offer.open:
            return []  # withdrawn already: a late or replayed connect
        offer.open = False
        if offer.kind == CONSULT_RING:
            offer.answered = True
            return [self._consultation_answered(call, offer, at)]
        call.in_queue = False
        if call.caller is None:
            call.caller = channel
            call.customer_side[channel.uniqueid] = None
        self._report_as_inbound(call)
        return self._answer(
            call,
            agent_interface=get("Interface") or offer.agent_interface,
            member_name=get("MemberName") or offer.member_name,
            device_channel=get("DestChannel") or offer.device_channel,
            queue=get("Queue") or call.queue,
            at=at,
        )

    def _on_agent_complete(self, frame: Frame, at: float) -> list[CallEvent]:
        """Fills in what a resync could not know: when the call was answered, and by whom."""
        channel = self._channels.get(frame.get("Uniqueid") or "")
        if channel is None:
            return []
        call = channel.call
        get = frame.get
        if call.answered_at is None:
            call.answered = True
            call.answered_at = at - _int(get("TalkTime"))
            if call.offered_at is None or call.offered_at_estimated:
                call.offered_at = call.answered_at - _int(get("HoldTime"))
                call.offered_at_estimated = False
        if not call.agent_interface:
            call.agent_interface = get("Interface") or ""
            call.member_name = get("MemberName") or ""
        if not call.queue:
            call.queue = get("Queue") or ""
        return []

    # ------------------------------------------------------------ transfers

    def _on_blind_transfer(self, frame: Frame, at: float) -> list[CallEvent]:
        get = frame.get
        call = self._transferred_call(frame, "Transferer")
        if call is None:
            return []
        # The transferee goes on in the dialplan: what it dials next is the transfer's target.
        transferee = get("TransfereeUniqueid") or ""
        if transferee in call.channels:
            call.customer_side[transferee] = None
        target = f"{get('Extension') or ''}@{get('Context') or ''}"
        return [_transferred(call, frame, TransferKind.BLIND, "Transferer", target, at)]

    def _on_attended_transfer(self, frame: Frame, at: float) -> list[CallEvent]:
        get = frame.get
        call = self._transferred_call(frame, "OrigTransferer")
        if call is None:
            return []
        target_channel = get("TransferTargetChannel") or ""
        consultation = _consultation(call)
        if consultation is not None:
            # The consulted agent takes the call: at once if it answered the consultation,
            # else ("blond" transfer) when it answers.
            consultation.completed = True
            call.customer_side[consultation.calling_uniqueid] = None
            target = consultation.device_channel
            if consultation.answered:
                call.agent_interface = consultation.agent_interface
                call.member_name = consultation.member_name
                call.device_channel = consultation.device_channel
                if consultation.queue:
                    call.queue = consultation.queue
            else:
                consultation.kind = TRANSFER_RING
        else:
            # A consultation we did not follow (placed by the phone, with its own Linkedid):
            # the target channel is the new agent's device, unless it is the Local channel
            # Asterisk dialled through.
            target = (
                target_channel
                or (get("DestApp") if get("DestType") == "App" else None)
                or get("DestBridgeUniqueid")
                or ""
            )
            if target_channel and not target_channel.startswith("Local/"):
                call.agent_interface = interface_of(target_channel)
                call.member_name = ""
                call.device_channel = target_channel
        return [_transferred(call, frame, TransferKind.ATTENDED, "OrigTransferer", target, at)]

    def _transferred_call(self, frame: Frame, transferer: str) -> _Call | None:
        """The reported call a successful transfer event is about (the transferee's, else the
        transferer's), the first time it is seen."""
        get = frame.get
        if get("Result") != "Success":
            return None
        channel = self._channels.get(get("TransfereeUniqueid") or "") or self._channels.get(
            get(f"{transferer}Uniqueid") or ""
        )
        if channel is None or not channel.call.first_sight(frame) or not channel.call.reported:
            return None
        return channel.call

    # ------------------------------------------------------------ originate

    def _on_originate_response(self, frame: Frame, at: float) -> list[CallEvent]:
        get = frame.get
        action_id = get("ActionID") or ""
        expectation = self._expected_by_action.pop(action_id, None) if action_id else None
        if get("Response") != "Failure" or not self._originate_failures.add(hash(frame.headers)):
            return []
        code = _int(get("Reason"))
        text, outcome = _ORIGINATE_REASONS.get(code, (f"reason {code}", Outcome.FAILED))
        uniqueid = expectation.uniqueid if expectation is not None else ""
        channel = self._channels.get(uniqueid) if uniqueid else None
        if channel is not None:
            channel.call.originate_reason = code
        return [
            OriginateFailed(
                action_id=action_id,
                uniqueid=uniqueid,
                channel=get("Channel") or "",
                reason_code=code,
                reason=text,
                outcome=outcome,
                direction=expectation.direction if expectation else Direction.UNKNOWN,
                tags=expectation.tags if expectation else (),
                at=at,
            )
        ]

    # ------------------------------------------------------------ state changes

    def _register_channel(
        self, call: _Call, uniqueid: str, name: str, at: float
    ) -> _Channel:
        channel = _Channel(uniqueid, name, call, at)
        self._channels[uniqueid] = channel
        call.channels[uniqueid] = channel
        return channel

    def _unregister_channel(self, channel: _Channel) -> None:
        del self._channels[channel.uniqueid]
        del channel.call.channels[channel.uniqueid]

    def _adopt_expectation(self, channel: _Channel, expectation: _Expectation) -> None:
        call = channel.call
        call.direction = expectation.direction
        call.tags = expectation.tags
        call.reported = True
        call.origin_channel = channel.name
        if call.direction is Direction.CLICK_TO_CALL:  # the originated leg rings the agent
            call.agent_interface = interface_of(channel.name)

    @staticmethod
    def _report_as_inbound(call: _Call) -> None:
        """A call nobody expected that queues as a caller is an inbound call."""
        if not call.reported:
            call.reported = True
            call.direction = Direction.INBOUND

    def _answer(
        self,
        call: _Call,
        *,
        agent_interface: str,
        member_name: str,
        device_channel: str,
        queue: str,
        at: float,
        wait_from: float | None = None,
    ) -> list[CallEvent]:
        if call.answered_at is None:
            call.answered_at = at
        call.answered = True
        call.agent_interface = agent_interface
        call.member_name = member_name
        call.device_channel = device_channel
        if queue:
            call.queue = queue
        events: list[CallEvent] = [
            CallAnswered(
                linked_id=call.linked_id,
                agent_interface=agent_interface,
                member_name=member_name,
                device_channel=device_channel,
                queue=queue,
                direction=call.direction,
                at=at,
                wait_seconds=at - (call.start() if wait_from is None else wait_from),
            )
        ]
        events += self._withdraw_open_offers(call, WithdrawalReason.ANSWERED_ELSEWHERE, at)
        return events

    def _withdraw(
        self, call: _Call, offer: _Offer, reason: WithdrawalReason, at: float
    ) -> list[CallEvent]:
        offer.open = False
        return [
            CallOfferWithdrawn(
                linked_id=call.linked_id,
                agent_interface=offer.agent_interface,
                device_channel=offer.device_channel,
                reason=reason,
                at=at,
            )
        ]

    def _withdraw_open_offers(
        self, call: _Call, reason: WithdrawalReason, at: float
    ) -> list[CallEvent]:
        events: list[CallEvent] = []
        for offer in call.offers.values():
            if offer.open:
                events += self._withdraw(call, offer, reason, at)
        return events

    def _end_call(self, call: _Call, at: float, *, resynced: bool = False) -> list[CallEvent]:
        """Report the end of ``call`` and forget it."""
        for channel in list(call.channels.values()):
            self._unregister_channel(channel)
        del self._calls[call.linked_id]
        self._ended.add(call.linked_id)
        if resynced:
            reason = WithdrawalReason.CANCELLED
        elif call.queue_result is Outcome.QUEUE_TIMEOUT:
            reason = WithdrawalReason.QUEUE_TIMEOUT
        else:
            reason = WithdrawalReason.CALLER_LEFT
        events = self._withdraw_open_offers(call, reason, at)
        if call.reported:
            events.append(_ended(call, at, resynced=resynced))
        return events

    # ------------------------------------------------------------ resync

    def _drop_vanished_channels(
        self, call: _Call, listed: Mapping[str, Frame], at: float
    ) -> list[CallEvent]:
        # `at` is when the listing was asked for: channels that appeared later are not in it.
        gone = [
            channel for uniqueid, channel in call.channels.items()
            if uniqueid not in listed and channel.seen_at < at
        ]
        if not gone:
            return []
        if len(gone) == len(call.channels):
            return self._end_call(call, at, resynced=True)
        events: list[CallEvent] = []
        for channel in gone:
            self._unregister_channel(channel)
            offer = call.offers.get(channel.uniqueid)
            if offer is not None and offer.open:
                events += self._withdraw(call, offer, WithdrawalReason.CANCELLED, at)
            elif offer is not None and _consultation_over(offer):
                offer.completed = True
                events += self._withdraw(call, offer, WithdrawalReason.TRANSFER_CANCELLED, at)
        return events

    def _adopt_listed_channel(self, uniqueid: str, frame: Frame, at: float) -> _Channel | None:
        linked_id = frame.get("Linkedid")
        if not linked_id or linked_id in self._ended:
            return None
        age = _duration_seconds(frame.get("Duration"))
        call = self._calls.get(linked_id)
        if call is None:
            call = self._calls[linked_id] = _Call(linked_id, at - age)
        else:
            call.created_at = min(call.created_at, at - age)
        channel = self._register_channel(call, uniqueid, frame.get("Channel") or "", at)
        expectation = self._expected.pop(uniqueid, None)
        if expectation is not None:
            self._adopt_expectation(channel, expectation)
        return channel


# ---------------------------------------------------------------- helpers


def interface_of(channel_name: str) -> str:
    """The device of a channel: ``PJSIP/1001-0000001b`` -> ``PJSIP/1001``,
    ``Local/1001@agents-0000001b;1`` -> ``Local/1001@agents``."""
    base = channel_name.partition(";")[0]
    head, separator, suffix = base.rpartition("-")
    if separator and head and suffix and all(c in "0123456789abcdefABCDEF" for c in suffix):
        return head
    return base


def number_of(dial_string: str) -> str:
    """The number in a dial string: ``+15551234567@customers`` -> ``+15551234567``,
    ``trunk/sip:0201234567@host`` -> ``0201234567``."""
    user = dial_string.partition("@")[0].rpartition("/")[2]
    return user.removeprefix("sip:").removeprefix("tel:")


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
        channel.hangup_requested for uniqueid, channel in call.channels.items()
        if uniqueid in call.customer_side
    ):
        return WithdrawalReason.CALLER_LEFT
    return WithdrawalReason.CANCELLED


def _consultation_over(offer: _Offer) -> bool:
    """An answered consultation whose device is gone before any transfer: withdrawn, though
    answered (open offers are withdrawn by their DialEnd)."""
    return offer.kind == CONSULT_RING and offer.answered and not offer.completed


def _consultation(call: _Call) -> _Offer | None:
    """The latest consultation still going on (ringing, or answered and not over)."""
    for offer in reversed(call.offers.values()):
        if offer.kind == CONSULT_RING and not offer.completed and (offer.open or offer.answered):
            return offer
    return None


def _transferred(
    call: _Call, frame: Frame, kind: TransferKind, transferer: str, target: str, at: float
) -> CallTransferred:
    transferer_channel = frame.get(f"{transferer}Channel") or ""
    return CallTransferred(
        linked_id=call.linked_id,
        kind=kind,
        agent_interface=interface_of(transferer_channel),
        transferer_channel=transferer_channel,
        transferee_channel=frame.get("TransfereeChannel") or "",
        target=target,
        at=at,
    )


def _outcome(call: _Call, *, resynced: bool) -> Outcome:
    if call.answered:
        return Outcome.ANSWERED
    if call.queue_result is not None:
        return call.queue_result
    if call.queue:
        return Outcome.ABANDONED  # queued, then gone without an answer
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
    return CallEnded(
        linked_id=call.linked_id,
        direction=call.direction,
        outcome=_outcome(call, resynced=resynced),
        caller_number=call.caller_number,
        customer_number=call.customer_number(),
        queue=call.queue,
        agent_interface=call.agent_interface,
        offered_at=offered_at,
        answered_at=answered_at,
        ended_at=at,
        wait_seconds=max(0.0, waited_until - offered_at),
        talk_seconds=max(0.0, at - answered_at) if answered_at is not None else 0.0,
        hangup_cause=call.hangup_cause,
        hangup_cause_text=call.hangup_cause_text,
        tags=call.tags,
    )


def _snapshot(call: _Call) -> OpenCall:
    if call.answered:
        state = "answered"
    elif any(offer.open for offer in call.offers.values()):
        state = "ringing"
    elif call.in_queue:
        state = "queued"
    elif any(not dial.status for dial in call.dials.values()):
        state = "dialling"
    else:
        state = "active"
    return OpenCall(
        linked_id=call.linked_id,
        direction=call.direction,
        state=state,
        caller_number=call.caller_number,
        customer_number=call.customer_number(),
        queue=call.queue,
        agent_interface=call.agent_interface,
        offered_at=call.start(),
        answered_at=call.answered_at,
        channels=tuple(channel.name for channel in call.channels.values()),
        tags=call.tags,
    )


def _note_caller_id(call: _Call, frame: Frame) -> None:
    """The queue caller's identity as the PBX presents it now."""
    call.caller_number = _text(frame.get("CallerIDNum"))
    call.caller_name = _text(frame.get("CallerIDName"))


def _note_listing(channel: _Channel, frame: Frame, at: float) -> None:
    """Learn from one CoreShowChannel item what events would have told us, never overriding
    what they did tell us."""
    call = channel.call
    application = frame.get("Application")
    if application == "Queue":
        call.caller = channel
        call.customer_side[channel.uniqueid] = None
        if not call.queue:
            call.queue = (frame.get("ApplicationData") or "").partition(",")[0]
        if not call.caller_number:
            _note_caller_id(call, frame)
        if call.offered_at is None:
            call.offered_at = at - _duration_seconds(frame.get("Duration"))
            call.offered_at_estimated = True
        if frame.get("BridgeId"):
            call.answered = True
            call.in_queue = False
        elif not call.answered:
            call.in_queue = True
    elif application == "AppQueue" and not call.agent_interface and frame.get("BridgeId"):
        call.agent_interface = interface_of(frame.get("Channel") or "")
        call.device_channel = frame.get("Channel") or ""


def _is_restricted(presentation: str | None) -> bool:
    """``CID-CallingPres: 35 (Presentation Prohibited, Network Number)`` -> True."""
    if not presentation:
        return False
    code = _int(presentation.partition(" ")[0], -1)
    return code >= 0 and code & _PRES_MASK == _PRES_RESTRICTED


def _text(value: str | None) -> str:
    return "" if value is None or value in _NOTHING else value


def _int(value: str | None, default: int = 0) -> int:
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        return default


def _duration_seconds(value: str | None) -> float:
    """``Duration: 00:01:04`` (CoreShowChannel) -> 64.0; anything unreadable -> 0.0."""
    total = 0
    for part in (value or "").split(":"):
        if not part.isdigit():
            return 0.0
        total = total * 60 + int(part)
    return float(total)


def _pairs(mapping: Mapping[str, str] | None) -> Pairs:
    return tuple(sorted((mapping or {}).items()))


def _bounded_put(store: dict[str, _Expectation], key: str, value: _Expectation, cap: int) -> None:
    store.pop(key, None)
    store[key] = value
    while len(store) > cap:
        del store[next(iter(store))]
