"""The state the call tracker keeps (calls, their channels, offers and dialled legs), the
snapshot it shows, and the small pure helpers that read AMI header values into it.

Nothing here reacts to events or decides outcomes: the event handling lives in ``tracker``, the
rules in ``outcomes`` and ``transfers``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from cti.ami.framing import Frame
from cti.devices import interface_of
from cti.events import Direction, Outcome, Pairs, Party

# Values Asterisk writes where it has nothing to say.
_NOTHING: Final = frozenset({"", "<unknown>", "(null)"})
# Caller numbers that mean "withheld" whatever the presentation bits say (SIP convention).
_WITHHELD_NUMBERS: Final = frozenset({"anonymous", "restricted", "private", "withheld"})
# AST_PRES_RESTRICTION mask and its "restricted" value in CID-CallingPres.
_PRES_MASK: Final = 0x60
_PRES_RESTRICTED: Final = 0x20

# _Offer kinds.
QUEUE_RING: Final = "queue"
TRANSFER_RING: Final = "transfer"
CONSULT_RING: Final = "consult"


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
        "agent_interface",
        "answered",
        "calling_uniqueid",
        "completed",
        "device_channel",
        "device_uniqueid",
        "kind",
        "member_name",
        "offered_at",
        "open",
        "queue",
        "via_queue",
    )

    def __init__(
        self,
        device_uniqueid: str,
        device_channel: str,
        agent: str,
        member: str,
        *,
        kind: str = QUEUE_RING,
        queue: str = "",
        via_queue: bool = True,
        calling_uniqueid: str = "",
        offered_at: float = 0.0,
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


class _AgentLeg:
    """One agent connected to the customer: from that answer to the leg's end.

    ``hold`` / ``talk``: Asterisk's HoldTime (AgentConnect) and TalkTime (AgentComplete) for
    this agent, None until told (then measured here)."""

    __slots__ = (
        "agent_interface",
        "answered_at",
        "device_channel",
        "ended_at",
        "estimated",
        "hold",
        "member_name",
        "order",
        "queue",
        "reason",
        "talk",
    )

    def __init__(
        self,
        agent: str,
        member: str,
        device_channel: str,
        queue: str,
        answered_at: float,
        hold: float,
        order: int,
    ) -> None:
        self.order = order  # among the call's stays and legs, for the record
        self.agent_interface = agent
        self.member_name = member
        self.device_channel = device_channel
        self.queue = queue
        self.answered_at = answered_at
        self.hold = hold
        self.talk: float | None = None
        self.ended_at: float | None = None
        self.reason = ""
        self.estimated = False

    def talk_seconds(self, until: float) -> float:
        if self.talk is not None:
            return self.talk
        end = self.ended_at if self.ended_at is not None else until
        return max(0.0, end - self.answered_at)


class _QueueStay:
    """The customer waiting in one queue: from joining to being answered or leaving."""

    __slots__ = ("joined_at", "left_at", "order", "queue", "result", "wait")

    def __init__(self, queue: str, joined_at: float, order: int) -> None:
        self.order = order  # among the call's stays and legs, for the record
        self.queue = queue
        self.joined_at = joined_at
        self.left_at: float | None = None
        self.wait: float | None = None  # HoldTime when Asterisk told it
        self.result = ""

    def close(self, result: str, at: float, wait: float | None = None) -> None:
        if self.left_at is None:
            self.left_at, self.result, self.wait = at, result, wait


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
        "legs",
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
        "stays",
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
        self.legs: list[_AgentLeg] = []  # agents connected to the customer, in order
        self.stays: list[_QueueStay] = []  # queues the customer waited in, in order
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

    def refine_offered_at(self, at: float) -> None:
        """Asterisk told when the call entered its queue (HoldTime) after a resync guessed."""
        if self.offered_at is None or self.offered_at_estimated:
            if self.stays and self.stays[0].joined_at == self.offered_at:
                self.stays[0].joined_at = at
            self.offered_at = at
            self.offered_at_estimated = False

    def parts(self) -> int:
        return len(self.stays) + len(self.legs)

    def open_legs(self) -> list[_AgentLeg]:
        return [leg for leg in self.legs if leg.ended_at is None]

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


# ---------------------------------------------------------------- helpers


def number_of(dial_string: str) -> str:
    """The number in a dial string: ``+15551234567@customers`` -> ``+15551234567``,
    ``trunk/sip:0201234567@host`` -> ``0201234567``."""
    user = dial_string.partition("@")[0].rpartition("/")[2]
    return user.removeprefix("sip:").removeprefix("tel:")


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
        if not call.stays:
            call.stays.append(_QueueStay(call.queue, call.offered_at, call.parts()))
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
