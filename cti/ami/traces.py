"""Reader for the raw AMI trace files recorded from a real Asterisk (``ami-traces/*.ami``).

File layout: ``#`` comment lines, then records. Each record is a marker line
``@@ RECV|SEND|NOTE c=<connection> t=<seconds> n=<length>[ <note>]`` ending in LF, followed by
exactly ``n`` payload bytes as they went over the wire. Payloads are read by length, never by
looking for text, since they hold CRLF and may hold anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Direction = Literal["RECV", "SEND", "NOTE"]

_MARKER = re.compile(rb"@@ (RECV|SEND|NOTE) c=(\d+) t=([0-9.]+) n=(\d+)(?: (.*))?")
_DIRECTIONS: dict[bytes, Direction] = {b"RECV": "RECV", b"SEND": "SEND", b"NOTE": "NOTE"}


class TraceFormatError(ValueError):
    """The file does not follow the trace format; the message gives the byte offset."""


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One marker line and its payload.

    ``RECV`` is Asterisk to client, ``SEND`` client to Asterisk, ``NOTE`` an annotation whose
    text is in ``note`` (its payload is empty).
    """

    direction: Direction
    connection: int
    t: float
    payload: bytes
    note: str = ""


def read_trace(path: str | Path) -> Iterator[TraceRecord]:
    """Every record of a trace file, in file order."""
    return iter_records(Path(path).read_bytes())


def iter_records(data: bytes) -> Iterator[TraceRecord]:
    """Every record of trace file contents, in order."""
    position = _skip_header(data)
    while position < len(data):
        line_end = data.find(b"\n", position)
        if line_end < 0:
            raise TraceFormatError(f"marker line without LF at byte {position}")
        marker = _MARKER.fullmatch(data, position, line_end)
        if marker is None:
            raise TraceFormatError(f"not a marker line at byte {position}")
        size = int(marker.group(4))
        payload_start = line_end + 1
        payload = data[payload_start : payload_start + size]
        if len(payload) != size:
            raise TraceFormatError(f"payload at byte {payload_start} is cut short")
        yield TraceRecord(
            direction=_DIRECTIONS[marker.group(1)],
            connection=int(marker.group(2)),
            t=float(marker.group(3)),
            payload=payload,
            note=(marker.group(5) or b"").decode("utf-8", "replace"),
        )
        position = payload_start + size


def _skip_header(data: bytes) -> int:
    position = 0
    while data.startswith(b"#", position):
        line_end = data.find(b"\n", position)
        if line_end < 0:
            return len(data)
        position = line_end + 1
    return position


def header_lines(path: str | Path) -> list[str]:
    """The ``#`` comment lines at the top of a trace (version, scenario, actions sent)."""
    data = Path(path).read_bytes()
    return data[: _skip_header(data)].decode("utf-8", "replace").splitlines()


def streams_by_connection(records: Iterable[TraceRecord], direction: Direction) -> dict[int, bytes]:
    """The byte stream of each connection in one direction: its payloads concatenated."""
    chunks: dict[int, list[bytes]] = {}
    for record in records:
        if record.direction == direction:
            chunks.setdefault(record.connection, []).append(record.payload)
    return {connection: b"".join(parts) for connection, parts in chunks.items()}


def received_streams(path: str | Path) -> dict[int, bytes]:
    """What Asterisk sent on each connection of a trace (banner included)."""
    return streams_by_connection(read_trace(path), "RECV")


def sent_streams(path: str | Path) -> dict[int, bytes]:
    """What the client sent on each connection of a trace."""
    return streams_by_connection(read_trace(path), "SEND")
