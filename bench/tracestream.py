"""Byte streams for benchmarks, built from the recorded Asterisk traces: many distinct calls.

The traces were recorded with ``Events: on`` (every event class). A session that logs in with
an event class mask (the service's ``AMI_EVENTS``, ``call,agent,system,user`` by default)
receives less: ``masked_messages`` derives that stream from a trace, so a benchmark measures
what the service would really be sent.

Asterisk's rule (``main/manager.c``, ``process_events``): a broadcast event of category ``C`` (a
bit set, one bit per class) goes to a session iff ``(readperm & C) == C`` and
``(send_events & C) == C``, where ``send_events`` is the ``Events:`` mask of the Login (or of a
later ``Events`` action). So every class of the event must be in the mask; the events in
the traces each have a single class, so this is the same as "one of its classes". The
``Privilege:`` header is ``authority_to_str(C)``, which also lists the ``all`` alias (INT_MAX
matches every category); ``all`` is not a class and is ignored. A ``Privilege`` list holding
``all`` is how a broadcast event is told apart from what answers an action (responses, list
items such as ``QueueMember`` or ``CoreShowChannel``, and ``Status`` whose hard-coded
``Privilege: Call`` has no ``all``): those are written to the asking session whatever its mask.
The banner is always sent. (``readperm``, the manager.conf ``read =`` line, narrows it further;
the lab user reads ``all``, and production's ``read`` covers ``call,agent,system,user``.)
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import Settings
from cti.ami.traces import read_trace

# The repository's own copy (bench/ must not import tests/); AMI_TRACES_DIR picks other recordings.
DEFAULT_TRACES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ami-traces"
TRACES = Path(os.environ.get("AMI_TRACES_DIR") or DEFAULT_TRACES)
DEFAULT_TRACE = "03-inbound-answered-by-agent.ami"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
# The service's default AMI_EVENTS (config/settings.py): "call,agent,system,user".
SERVICE_EVENTS: str = Settings.model_fields["ami_events"].default
_UNIQUEID = re.compile(rb"\b1\d{9}\.(\d+)\b")
_CHANNEL_SEQ = re.compile(rb"-([0-9a-f]{8})(;[12])?\b")
_PRIVILEGE = re.compile(rb"\r\nPrivilege: ?([^\r\n]*)\r\n", re.IGNORECASE)
# ast_true / ast_false spellings accepted by strings_to_mask (Events: on / off); numeric masks
# ("1" is the system bit there, not "on") are not supported.
_TRUE = frozenset({"yes", "true", "y", "t", "on"})
_FALSE = frozenset({"no", "false", "n", "f", "0", "off"})
# The labels of perms[] in manager.c (minus the "all" / "none" aliases).
CLASSES = frozenset(
    {
        "system",
        "call",
        "log",
        "verbose",
        "command",
        "agent",
        "user",
        "config",
        "dtmf",
        "reporting",
        "cdr",
        "dialplan",
        "originate",
        "agi",
        "cc",
        "aoc",
        "test",
        "security",
        "message",
    }
)
# Counter keys for messages that are not broadcast events (always sent).
BANNER_KEY = "(banner)"
RESPONSE_KEY = "(response)"
ACTION_ITEM_KEY = "(event answering an action)"


def parse_mask(events: str | Iterable[str] | None) -> frozenset[str]:
    """The classes an ``Events:`` value lets through, as Asterisk's strings_to_mask reads it:
    ``on`` (or ``all``, or None) is every class, ``off`` none, else a comma-separated list."""
    if events is None:
        return CLASSES
    labels = events.split(",") if isinstance(events, str) else list(events)
    labels = [label.strip().lower() for label in labels if label.strip()]
    if not labels:  # an empty Events header changes nothing: every class
        return CLASSES
    if len(labels) == 1 and labels[0] in _FALSE:
        return frozenset()
    if (len(labels) == 1 and labels[0] in _TRUE) or "all" in labels:
        return CLASSES
    return frozenset(label for label in labels if label in CLASSES)


def mask_name(mask: frozenset[str]) -> str:
    if mask == CLASSES:
        return "on"
    return ",".join(sorted(mask)) if mask else "off"


def event_classes(message: bytes) -> frozenset[str] | None:
    """The classes of a broadcast event (from its Privilege header, ``all`` left out), or None
    for anything else: the banner, a response, or an event that answers an action."""
    if not message.startswith(b"Event:"):
        return None
    found = _PRIVILEGE.search(message)
    if found is None:
        return None
    labels = {
        label.strip().lower() for label in found.group(1).decode("ascii", "replace").split(",")
    }
    if "all" not in labels:
        return None  # e.g. Status items: "Privilege: Call", written for our own action
    return frozenset(labels - {"all"})


def asterisk_sends(message: bytes, mask: frozenset[str]) -> bool:
    """Whether Asterisk writes this message to a session logged in with ``mask``."""
    classes = event_classes(message)
    return classes is None or classes <= mask


def received_messages(path: str | Path, connection: int = 1) -> list[bytes]:
    """What Asterisk sent on one connection of a trace, one message per item (banner first).

    The recorder cut received data at message boundaries (see the traces' README): each RECV
    record is the banner or one whole message; anything else is refused."""
    messages = [
        record.payload
        for record in read_trace(path)
        if record.direction == "RECV" and record.connection == connection
    ]
    for index, message in enumerate(messages):
        whole = message.endswith(b"\r\n\r\n") and message.count(b"\r\n\r\n") == 1
        if not (whole or (index == 0 and message.startswith(b"Asterisk Call Manager/"))):
            raise ValueError(f"{path}: RECV #{index} of c={connection} is not one message")
    return messages


def _key(message: bytes, index: int) -> str:
    classes = event_classes(message)
    if classes is not None:
        return ",".join(sorted(classes)) or "(none)"
    if index == 0 and message.startswith(b"Asterisk Call Manager/"):
        return BANNER_KEY
    if message.startswith(b"Response:"):
        return RESPONSE_KEY
    return ACTION_ITEM_KEY


@dataclass
class MaskedMessages:
    """One connection's messages as a session with ``mask`` would have received them."""

    trace: str
    events: str  # the Events: value as given
    mask: frozenset[str]  # the classes it lets through
    messages: list[bytes]
    kept: Counter[str] = field(default_factory=Counter)  # by class, or a "(...)" kind
    dropped: Counter[str] = field(default_factory=Counter)

    def describe(self, copies: int = 1) -> dict[str, object]:
        """How the stream was derived, counts for one copy of the trace and for ``copies``
        (``replicate`` keeps a single banner)."""
        kept, dropped = sum(self.kept.values()), sum(self.dropped.values())
        banner = self.kept[BANNER_KEY]
        return {
            "trace": self.trace,
            "events": self.events,
            "classes_sent": mask_name(self.mask),
            "rule": "Asterisk sends a broadcast event (Privilege lists 'all') iff every class "
            "in its Privilege header is in the Events mask; responses, events answering "
            "an action (no 'all' in Privilege) and the banner are always sent",
            "per_trace_copy": {
                "messages_kept": kept,
                "messages_dropped": dropped,
                "kept_by_class": dict(sorted(self.kept.items())),
                "dropped_by_class": dict(sorted(self.dropped.items())),
            },
            "copies": copies,
            "messages_kept": copies * (kept - banner) + banner,
            "messages_dropped": copies * dropped,
        }


def masked_messages(
    trace: str = DEFAULT_TRACE,
    events: str | Iterable[str] | None = SERVICE_EVENTS,
    connection: int = 1,
) -> MaskedMessages:
    """The trace's connection as Asterisk would have sent it to a session whose ``Events:``
    mask is ``events`` (``"on"`` or None: unchanged)."""
    mask = parse_mask(events)
    given = "on" if events is None else events if isinstance(events, str) else ",".join(events)
    result = MaskedMessages(trace, given, mask, [])
    for index, message in enumerate(received_messages(TRACES / trace, connection)):
        key = _key(message, index)
        if asterisk_sends(message, mask):
            result.messages.append(message)
            result.kept[key] += 1
        else:
            result.dropped[key] += 1
    return result


def replicate(messages: list[bytes], copies: int) -> bytes:
    """The messages (banner first) ``copies`` times over, each copy with its own ids and
    channel names, so that the state machines see ``copies`` different calls."""
    body = b"".join(messages)
    if body.startswith(BANNER):
        body = body[len(BANNER) :]
    out = [BANNER]
    for n in range(copies):
        prefix = b"2%09d." % n
        copy = _UNIQUEID.sub(lambda m, p=prefix: p + m.group(1), body)
        copy = _CHANNEL_SEQ.sub(
            lambda m, n=n: b"-%08x" % (n * 16 + int(m.group(1), 16)) + (m.group(2) or b""), copy
        )
        out.append(copy)
    return b"".join(out)


def call_stream(
    trace: str = DEFAULT_TRACE,
    copies: int = 300,
    events: str | None = SERVICE_EVENTS,
) -> bytes:
    """The trace's connection 1, as a session with the ``events`` mask receives it
    (``"on"``: as recorded, every class), ``copies`` times over with fresh ids."""
    return replicate(masked_messages(trace, events).messages, copies)


def chunks(data: bytes, size: int = 65536) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]
