"""AMI events as the simulator emits them: name, class, ordered headers, wire bytes.

Each event belongs to one Asterisk class (``call``, ``dialplan``, ``agent``, ...); a session only
receives the classes its user may read and its ``Events`` mask lets through. The class shows on
the wire as ``Privilege: <class>,all``, as Asterisk writes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from cti.ami.framing import serialise

SYSTEM = "system"
CALL = "call"
LOG = "log"
VERBOSE = "verbose"
COMMAND = "command"
AGENT = "agent"
USER = "user"
CONFIG = "config"
DTMF = "dtmf"
REPORTING = "reporting"
CDR = "cdr"
DIALPLAN = "dialplan"
ORIGINATE = "originate"
AGI = "agi"
CC = "cc"
AOC = "aoc"
TEST = "test"
SECURITY = "security"
MESSAGE = "message"

# Asterisk's manager classes (manager.h), in its order.
ALL_CLASSES: tuple[str, ...] = (
    SYSTEM,
    CALL,
    LOG,
    VERBOSE,
    COMMAND,
    AGENT,
    USER,
    CONFIG,
    DTMF,
    REPORTING,
    CDR,
    DIALPLAN,
    ORIGINATE,
    AGI,
    CC,
    AOC,
    TEST,
    SECURITY,
    MESSAGE,
)

# The class of every event the simulator emits, as Asterisk 22 assigns it.
EVENT_CLASSES: dict[str, str] = {
    "FullyBooted": SYSTEM,
    "Reload": SYSTEM,
    "Shutdown": SYSTEM,
    "SuccessfulAuth": SECURITY,
    "InvalidPassword": SECURITY,
    "InvalidAccountID": SECURITY,
    "ChallengeSent": SECURITY,
    "ChallengeResponseFailed": SECURITY,
    "RequestBadFormat": SECURITY,
    "RequestNotAllowed": SECURITY,
    "Newchannel": CALL,
    "Newstate": CALL,
    "NewCallerid": CALL,
    "NewConnectedLine": CALL,
    "NewAccountCode": CALL,
    "LocalBridge": CALL,
    "DialBegin": CALL,
    "DialState": CALL,
    "DialEnd": CALL,
    "BridgeCreate": CALL,
    "BridgeEnter": CALL,
    "BridgeLeave": CALL,
    "BridgeDestroy": CALL,
    "HangupRequest": CALL,
    "SoftHangupRequest": CALL,
    "Hangup": CALL,
    "DeviceStateChange": CALL,
    "OriginateResponse": CALL,
    "BlindTransfer": CALL,
    "AttendedTransfer": CALL,
    "Hold": CALL,
    "Unhold": CALL,
    "MusicOnHoldStart": CALL,
    "MusicOnHoldStop": CALL,
    "Newexten": DIALPLAN,
    "VarSet": DIALPLAN,
    "QueueCallerJoin": AGENT,
    "QueueCallerLeave": AGENT,
    "QueueCallerAbandon": AGENT,
    "QueueMemberAdded": AGENT,
    "QueueMemberRemoved": AGENT,
    "QueueMemberPause": AGENT,
    "QueueMemberStatus": AGENT,
    "QueueMemberPenalty": AGENT,
    "QueueMemberRinginuse": AGENT,
    "AgentCalled": AGENT,
    "AgentConnect": AGENT,
    "AgentComplete": AGENT,
    "AgentRingNoAnswer": AGENT,
    "AgentDump": AGENT,
    "Cdr": CDR,
    "UserEvent": USER,
}

Header = tuple[str, str]


class Snapshot:
    """A block of headers already serialised (a channel's snapshot), to splice into events."""

    __slots__ = ("headers", "wire")

    def __init__(self, headers: list[Header], wire: bytes) -> None:
        self.headers = headers
        self.wire = wire  # the header lines, without the blank line that ends a message


Part = Header | Snapshot
_HEADS: dict[tuple[str, str], bytes] = {}


def _head(name: str, category: str) -> bytes:
    head = _HEADS.get((name, category))
    if head is None:
        head = _HEADS[(name, category)] = serialise(
            (("Event", name), ("Privilege", f"{category},all"))
        )[:-2]
    return head


class Event:
    """One AMI event; its wire bytes are built once, however many sessions receive it.

    ``parts`` are header pairs and ``Snapshot`` blocks, in wire order; every byte on the wire
    goes through ``serialise``, which refuses CR/LF inside values."""

    __slots__ = ("_parts", "_wire", "category", "headers", "name")

    def __init__(
        self, name: str, parts: Sequence[Part] | Snapshot, *, category: str | None = None
    ) -> None:
        self.name = name
        self.category = category or EVENT_CLASSES.get(name, CALL)
        if isinstance(parts, Snapshot):
            parts = (parts,)
        headers: list[Header] = []
        for part in parts:
            if isinstance(part, Snapshot):
                headers.extend(part.headers)
            else:
                headers.append(part)
        self.headers = tuple(headers)
        self._parts = parts
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            chunks = [_head(self.name, self.category)]
            pending: list[Header] = []
            for part in self._parts:
                if isinstance(part, Snapshot):
                    if pending:
                        chunks.append(serialise(pending)[:-2])
                        pending = []
                    chunks.append(part.wire)
                else:
                    pending.append(part)
            if pending:
                chunks.append(serialise(pending)[:-2])
            chunks.append(b"\r\n")
            self._wire = b"".join(chunks)
        return self._wire

    def get(self, key: str, default: str | None = None) -> str | None:
        for name, value in self.headers:
            if name == key:
                return value
        return default

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {len(self.headers)} headers)"


def response(status: str, action_id: str | None, *headers: Header) -> bytes:
    """A ``Response:`` message; ``ActionID`` second, as Asterisk writes it."""
    pairs: list[Header] = [("Response", status)]
    if action_id is not None:
        pairs.append(("ActionID", action_id))
    pairs.extend(headers)
    return serialise(pairs)


def parse_classes(text: str) -> frozenset[str]:
    """A comma list of classes (``call,agent`` or ``all``) as a set; unknown names are ignored."""
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    if "all" in names:
        return frozenset(ALL_CLASSES)
    return frozenset(names & set(ALL_CLASSES))
