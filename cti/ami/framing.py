"""Sans-IO framing for the Asterisk Manager Interface (AMI).

Bytes in, frames out; no sockets, no asyncio, no logging, no clock. The same code frames both
directions: the client parses what Asterisk (or our simulator) sends, the simulator parses the
client's actions.

Wire format: an optional banner line (``Asterisk Call Manager/11.0.0\\r\\n``) at the start of
the server's stream, then messages made of ``Key: value`` lines, each message ended by a blank
line. Asterisk writes CRLF; bare LF is tolerated.

Decisions worth knowing:

* A message is decoded only once it is completely framed, so a UTF-8 character split across two
  reads survives.
* A header name ends at the first ``:`` of its line (AMI names never hold one); one space after
  it is dropped, so ``Key:value`` (which Asterisk sometimes writes) reads like ``Key: value``.
  Values keep any further colons and spaces.
* Bad input never raises. A frame keeps what could be read and lists what could not in
  ``Frame.problems``: invalid UTF-8 (replaced with U+FFFD; the frame is still delivered and
  counted in ``stats.malformed_frames``), lines without a ``:``, empty header names (the first
  ten such lines, then a count).
* A message larger than ``max_frame_size`` is not decoded. Its bytes are dropped up to the next
  blank line (even if that arrives much later, so memory stays bounded) and a single record takes
  its place: ``kind == "unknown"``, no headers, ``oversized`` true, ``raw_size`` the bytes dropped.
  The frames after it are not affected.
* Header names are looked up case-insensitively, as Asterisk does for actions (strcasecmp).
* The pre-Asterisk-14 ``Response: Follows`` command output is not special-cased: its output lines
  come out as headers or problems, and the frames after it parse normally.
* Output never depends on how the stream was cut into ``feed`` calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from typing import Literal

FrameKind = Literal["event", "response", "action", "unknown"]
Headers = tuple[tuple[str, str], ...]

BANNER_PREFIX = b"Asterisk Call Manager/"
# A banner longer than this is not a banner; the bytes are parsed as an ordinary frame instead.
BANNER_MAX_SIZE = 1024
# Asterisk values can reach 1 MiB (e.g. a long Variable); the slack covers the header names.
DEFAULT_MAX_FRAME_SIZE = 2 * 1024 * 1024
# Below this a single real AMI event would not fit; smaller limits are a configuration mistake.
MIN_MAX_FRAME_SIZE = 64

# End of message: a line break followed by an empty line, in CRLF or bare-LF spelling.
_TERMINATOR = re.compile(rb"\n\r?\n")
# Bytes to keep when a buffer is scanned without success: a terminator may start in them.
_TERMINATOR_TAIL = 2
_KIND_BY_FIRST_KEY: dict[str, FrameKind] = {
    "Event": "event",
    "Response": "response",
    "Action": "action",
}
_KIND_BY_FOLDED_KEY: dict[str, FrameKind] = {
    key.lower(): kind for key, kind in _KIND_BY_FIRST_KEY.items()
}
_PROBLEM_SAMPLE_CHARS = 80
_MAX_LINE_PROBLEMS = 10


class Frame:
    """One AMI message: ordered ``(key, value)`` headers plus what went wrong reading it.

    Repeated keys (``Variable:``, ``ChanVariable:``) are kept in order; ``get`` and ``[]`` give
    the first value, ``get_all`` every value. Treat instances as immutable.
    """

    __slots__ = (
        "_first",
        "_folded",
        "headers",
        "kind",
        "name",
        "oversized",
        "problems",
        "raw_size",
    )

    def __init__(
        self,
        headers: Headers,
        *,
        problems: tuple[str, ...] = (),
        raw_size: int = 0,
        oversized: bool = False,
    ) -> None:
        self.headers = headers
        self.problems = problems
        self.raw_size = raw_size
        self.oversized = oversized
        # Fast path: Asterisk puts Event / Response first, clients put Action first.
        kind = _KIND_BY_FIRST_KEY.get(headers[0][0]) if headers else None
        if kind is None:
            self.kind, self.name = _classify(headers)
        else:
            self.kind, self.name = kind, headers[0][1]
        self._first: dict[str, str] | None = None
        self._folded: dict[str, str] | None = None

    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of ``key`` (any letter case), or ``default``."""
        if self._first is None:
            # reversed() so that the first occurrence of a repeated key wins.
            self._first = dict(reversed(self.headers))
        value = self._first.get(key)
        if value is not None:
            return value
        if self._folded is None:
            self._folded = {k.lower(): v for k, v in reversed(self.headers)}
        return self._folded.get(key.lower(), default)

    def get_all(self, key: str) -> tuple[str, ...]:
        """Every value of ``key`` (any letter case), in wire order."""
        folded = key.lower()
        return tuple(v for k, v in self.headers if k.lower() == folded)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    @property
    def action_id(self) -> str | None:
        """Asterisk spells it ``ActionID`` in what it sends; an exact lookup spares most events
        (which carry none) the case-folded copy of their headers that a miss in ``get`` builds.
        Clients may spell it any way (the simulator reads their actions): those fold."""
        if self._first is None:
            self._first = dict(reversed(self.headers))
        value = self._first.get("ActionID")
        if value is None and self.kind == "action":
            return self.get("ActionID")
        return value

    def _identity(self) -> tuple[Headers, tuple[str, ...], int, bool]:
        return (self.headers, self.problems, self.raw_size, self.oversized)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        extra = f", problems={self.problems!r}" if self.problems else ""
        return (
            f"Frame(kind={self.kind!r}, name={self.name!r}, headers={len(self.headers)}, "
            f"raw_size={self.raw_size}{extra})"
        )


def _classify(headers: Headers) -> tuple[FrameKind, str]:
    """Kind and name from the first Event / Response / Action header, in any letter case."""
    # A client may put ActionID first, or spell "action:"; Asterisk accepts both.
    for key, value in headers:
        kind = _KIND_BY_FOLDED_KEY.get(key.lower())
        if kind is not None:
            return kind, value
    return "unknown", ""


@dataclass(slots=True)
class ParserStats:
    """Running totals, for metrics and logs."""

    frames: int = 0
    malformed_frames: int = 0  # delivered, but with problems (oversized ones included)
    oversized_frames: int = 0
    discarded_bytes: int = 0
    skipped_events: int = 0  # events not wanted, dropped before decoding


class AmiFrameParser:
    """Accumulates bytes and returns each complete frame once.

    ``parser.feed(chunk)`` may be called with any cut of the stream, down to single bytes.
    ``max_frame_size`` bounds one message, blank line included, and so the memory held.
    """

    def __init__(
        self,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        wanted_events: frozenset[str] | None = None,
    ) -> None:
        """``wanted_events``: when given, events of other names are dropped before they are
        decoded (most of a busy PBX's traffic is events nobody here reacts to). Events that
        carry an ActionID (answers to our own list actions) are always kept."""
        if max_frame_size < MIN_MAX_FRAME_SIZE:
            raise ValueError(f"max_frame_size must be at least {MIN_MAX_FRAME_SIZE} bytes")
        self.max_frame_size = max_frame_size
        self._wanted = (
            None if wanted_events is None else frozenset(n.encode() for n in wanted_events)
        )
        self.banner: str | None = None
        self.stats = ParserStats()
        self._buffer = bytearray()
        self._banner_pending = True
        self._scan_from = 0  # bytes before this offset hold no terminator
        self._discarding = False  # inside an oversized frame, dropping until its end
        self._discarded = 0  # bytes of that oversized frame dropped so far

    @property
    def buffered_size(self) -> int:
        """Bytes held waiting for the end of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add received bytes; return the frames they complete, in stream order."""
        self._buffer += data
        if self._banner_pending and not self._consume_banner():
            return []
        frames: list[Frame] = []
        if self._discarding and not self._skip_oversized(frames):
            return frames
        self._frame_buffer(frames)
        return frames

    def _consume_banner(self) -> bool:
        """Take the banner line off the front of the stream; False while undecided."""
        buffer = self._buffer
        known = min(len(buffer), len(BANNER_PREFIX))
        if buffer[:known] != BANNER_PREFIX[:known]:
            self._banner_pending = False  # no banner: a client's stream, or another server
            return True
        line_end = buffer.find(b"\n", 0, BANNER_MAX_SIZE)
        if line_end < 0:
            if len(buffer) < BANNER_MAX_SIZE:
                return False
            self._banner_pending = False  # too long to be a banner: frame it like any message
            return True
        self.banner = buffer[:line_end].decode("utf-8", "replace").rstrip("\r")
        del buffer[: line_end + 1]
        self._banner_pending = False
        return True

    def _skip_oversized(self, frames: list[Frame]) -> bool:
        """Drop the rest of an oversized frame; True once its end has been reached."""
        buffer = self._buffer
        found = _TERMINATOR.search(buffer)
        if found is None:
            self._drop_scanned_prefix()
            return False
        self._discarded += found.end()
        del buffer[: found.end()]
        frames.append(self._oversized_record(self._discarded))
        self._discarding = False
        self._discarded = 0
        self._scan_from = 0
        return True

    def _drop_scanned_prefix(self) -> None:
        """Free the bytes already known to hold no terminator, keeping a possible partial one."""
        droppable = len(self._buffer) - _TERMINATOR_TAIL
        if droppable > 0:
            self._discarded += droppable
            del self._buffer[:droppable]

    def _frame_buffer(self, frames: list[Frame]) -> None:
        """Cut every complete message out of the buffer; keep the incomplete rest."""
        buffer = self._buffer
        search = _TERMINATOR.search
        max_size = self.max_frame_size
        wanted = self._wanted
        start = 0
        found = search(buffer, self._scan_from)
        while found is not None:
            end = found.end()
            if end - start > max_size:
                frames.append(self._oversized_record(end - start))
            else:
                body_end = found.start()
                if body_end > start and buffer[body_end - 1] == 0x0D:  # CR of the last line
                    body_end -= 1
                if body_end > start and not (
                    wanted is not None and self._unwanted(buffer, start, body_end, wanted)
                ):
                    frames.append(self._decode(buffer[start:body_end], end - start))
                # else: a stray blank line between messages carries nothing
            start = end
            found = search(buffer, start)
        if start:
            del buffer[:start]
        self._scan_from = max(0, len(buffer) - _TERMINATOR_TAIL)
        if len(buffer) > max_size:
            self._discarding = True
            self._drop_scanned_prefix()
            self._scan_from = 0

    def _unwanted(self, buffer: bytearray, start: int, end: int, wanted: frozenset[bytes]) -> bool:
        """An event whose name is not wanted and that answers no action of ours."""
        if not buffer.startswith(b"Event: ", start):
            return False
        name_end = buffer.find(b"\n", start, end)
        if name_end < 0:
            name_end = end
        if buffer[name_end - 1] == 0x0D:
            name_end -= 1
        name = bytes(buffer[start + 7 : name_end])
        if name in wanted or buffer.find(b"ActionID:", start, end) >= 0:
            return False
        self.stats.skipped_events += 1
        return True

    def _decode(self, body: bytearray, raw_size: int) -> Frame:
        try:
            text = body.decode("utf-8")
            problems: list[str] = []
        except UnicodeDecodeError:
            text = body.decode("utf-8", "replace")
            problems = ["invalid UTF-8 replaced with U+FFFD"]
        headers = _split_headers(text, problems)
        self.stats.frames += 1
        if problems:
            self.stats.malformed_frames += 1
            return Frame(headers, problems=tuple(problems), raw_size=raw_size)
        return Frame(headers, raw_size=raw_size)

    def _oversized_record(self, size: int) -> Frame:
        stats = self.stats
        stats.frames += 1
        stats.malformed_frames += 1
        stats.oversized_frames += 1
        stats.discarded_bytes += size
        problem = f"frame of {size} bytes exceeds the {self.max_frame_size}-byte limit; discarded"
        return Frame((), problems=(problem,), raw_size=size, oversized=True)


def _split_headers(text: str, problems: list[str]) -> Headers:
    """Header pairs from one decoded message; unreadable lines are added to ``problems``."""
    lines = text.split("\r\n") if "\r" in text else text.split("\n")
    if len(lines) == text.count("\n") + 1:  # else a bare LF hides inside a CRLF message
        # Fast path for well-formed messages: the filter drops exactly the lines that need care,
        # so an unchanged length means every line was "Key: value" with a plain, non-empty key.
        pairs = [
            (key, value)
            for key, separator, value in map(str.partition, lines, repeat(": "))
            if separator and key and ":" not in key
        ]
        if len(pairs) == len(lines):
            return tuple(pairs)
    return _split_headers_line_by_line(text, problems)


def _split_headers_line_by_line(text: str, problems: list[str]) -> Headers:
    """Every line, with what is wrong recorded rather than raised."""
    text = text.replace("\r\n", "\n").lstrip("\n")  # blank lines before a message carry nothing
    pairs: list[tuple[str, str]] = []
    bad_lines: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        key, value = _split_line(line)
        if key is None:
            bad_lines.append(f"line {number}: no ':' separator: {_sample(line)}")
        elif not key:
            bad_lines.append(f"line {number}: empty header name: {_sample(line)}")
        else:
            pairs.append((key, value))
    # A bound, so that a frame of a million one-byte lines cannot become a million messages.
    problems += bad_lines[:_MAX_LINE_PROBLEMS]
    if len(bad_lines) > _MAX_LINE_PROBLEMS:
        problems.append(f"{len(bad_lines) - _MAX_LINE_PROBLEMS} more unreadable lines")
    return tuple(pairs)


def _split_line(line: str) -> tuple[str | None, str]:
    """Key and value around the first ":", without the one space Asterisk usually puts after it."""
    key, separator, value = line.partition(":")
    if not separator:
        return None, ""
    return key, value[1:] if value.startswith(" ") else value


def _sample(line: str) -> str:
    """A bounded, escaped excerpt of a bad line, safe to log."""
    return repr(line[:_PROBLEM_SAMPLE_CHARS])


def parse_frame(data: bytes, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> Frame | None:
    """The first frame of ``data`` (a banner is skipped), or None if it holds no whole frame."""
    frames = parse_all(data, max_frame_size=max_frame_size)
    return frames[0] if frames else None


def parse_all(data: bytes, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> list[Frame]:
    """Every complete frame of a whole stream in one call; handy for tests and benchmarks."""
    return AmiFrameParser(max_frame_size=max_frame_size).feed(data)


class UnsafeHeader(ValueError):
    """A header that would change the meaning of the message on the wire (header injection).

    The message names the key, never the value: the value may be a secret.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"refusing AMI header {key!r}: {reason}")
        self.key = key


class UnsafeHeaderName(UnsafeHeader):
    """A header name outside ``[A-Za-z0-9_-]+``."""


class UnsafeHeaderValue(UnsafeHeader):
    """A header value holding CR, LF or NUL, or text that cannot be encoded as UTF-8."""


_SAFE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_UNSAFE_VALUE_CHAR = re.compile(r"[\r\n\x00]")
_CHAR_NAMES = {"\r": "CR", "\n": "LF", "\x00": "NUL"}


def serialise(pairs: Iterable[tuple[str, str]]) -> bytes:
    """Wire bytes of one message: ``Key: value`` CRLF lines, then the blank line.

    Raises ``UnsafeHeaderName`` / ``UnsafeHeaderValue`` rather than write anything that could
    end a line or the message early, and ``TypeError`` for keys or values that are not ``str``
    (so that ``True`` does not silently become ``"True"`` where AMI expects ``"true"``).
    """
    lines: list[bytes] = []
    for key, value in pairs:
        _check_header(key, value)
        try:
            lines.append(f"{key}: {value}\r\n".encode())
        except UnicodeEncodeError:  # lone surrogates, e.g. from a bad os.fsdecode
            raise UnsafeHeaderValue(key, "value is not encodable as UTF-8") from None
    if not lines:
        raise ValueError("refusing to serialise an AMI message without headers")
    lines.append(b"\r\n")
    return b"".join(lines)


def _check_header(key: str, value: str) -> None:
    if not isinstance(key, str) or not isinstance(value, str):
        raise TypeError(f"AMI header names and values must be str, got {key!r}")
    if not _SAFE_KEY.fullmatch(key):
        raise UnsafeHeaderName(key, "name must match [A-Za-z0-9_-]+")
    bad = _UNSAFE_VALUE_CHAR.search(value)
    if bad is not None:
        char = _CHAR_NAMES[bad.group()]
        raise UnsafeHeaderValue(key, f"value contains {char} at offset {bad.start()}")
