"""The recorded Asterisk sessions in tests/fixtures/ami-traces, as the tests read them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cti.ami.framing import AmiFrameParser, Frame
from cti.ami.traces import read_trace

DEFAULT_TRACES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "ami-traces"
# AMI_TRACES_DIR runs the suite against other recordings of the same scenarios.
TRACES_DIR = Path(os.environ.get("AMI_TRACES_DIR") or DEFAULT_TRACES_DIR)
TRACE_NAMES = (
    "01-login-banner-and-ping",
    "02-agent-ready-pause-unpause-remove",
    "03-inbound-answered-by-agent",
    "04-inbound-abandoned",
    "05-inbound-withheld-and-national-cli",
    "06-click-to-call",
    "07-outbound-predictive",
    "09-resync-after-reconnect",
)


@dataclass(frozen=True, slots=True)
class Received:
    """One frame Asterisk sent, with its connection and the trace's receive time."""

    connection: int
    at: float
    frame: Frame


def trace_path(name: str) -> Path:
    return TRACES_DIR / f"{name}.ami"


@cache
def received(name: str, connection: int | None = None) -> tuple[Received, ...]:
    """Every frame of every connection (or of one), in file order, with its record's t."""
    parsers: dict[int, AmiFrameParser] = {}
    frames: list[Received] = []
    for record in read_trace(trace_path(name)):
        if record.direction != "RECV":
            continue
        if connection is not None and record.connection != connection:
            continue
        parser = parsers.setdefault(record.connection, AmiFrameParser())
        frames += (Received(record.connection, record.t, f) for f in parser.feed(record.payload))
    return tuple(frames)


def until(frames: Sequence[Received], name: str, occurrence: int = 1) -> list[Received]:
    """The frames up to and including the n-th frame with this event name."""
    seen = 0
    for index, item in enumerate(frames):
        if item.frame.name == name:
            seen += 1
            if seen == occurrence:
                return list(frames[: index + 1])
    raise AssertionError(f"no {name} number {occurrence}")
