"""Byte streams for benchmarks, built from the recorded Asterisk traces: many distinct calls."""

from __future__ import annotations

import os
import re
from pathlib import Path

from cti.ami.traces import received_streams

# The repository's own copy (bench/ must not import tests/); AMI_TRACES_DIR picks other recordings.
DEFAULT_TRACES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ami-traces"
TRACES = Path(os.environ.get("AMI_TRACES_DIR") or DEFAULT_TRACES)
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
_UNIQUEID = re.compile(rb"\b1\d{9}\.(\d+)\b")
_CHANNEL_SEQ = re.compile(rb"-([0-9a-f]{8})(;[12])?\b")


def call_stream(trace: str = "03-inbound-answered-by-agent.ami", copies: int = 300) -> bytes:
    """The trace's events `copies` times over, each copy with its own ids and channel names,
    so that the state machines see `copies` different calls."""
    stream = received_streams(TRACES / trace)[1]
    body = stream[len(BANNER):] if stream.startswith(BANNER) else stream
    out = [BANNER]
    for n in range(copies):
        prefix = b"2%09d." % n
        copy = _UNIQUEID.sub(lambda m, p=prefix: p + m.group(1), body)
        copy = _CHANNEL_SEQ.sub(lambda m, n=n: b"-%08x" % (n * 16 + int(m.group(1), 16))
                                + (m.group(2) or b""), copy)
        out.append(copy)
    return b"".join(out)


def chunks(data: bytes, size: int = 65536) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]
