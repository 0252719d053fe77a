"""The recorded Asterisk sessions in ../shared/ami-traces, as the tests read them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cti.ami.framing import AmiFrameParser, Frame
from cti.ami.traces import read_trace

TRACES_DIR = Path(
    os.environ.get("AMI_TRACES_DIR")
    or Path(__file__).resolve().parents[3] / "shared" / "ami-traces"
)
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
