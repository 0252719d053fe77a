"""AMI framing: real Asterisk 22 traces, hostile bytes, and the header-injection guard."""

from __future__ import annotations

import ast
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from itertools import repeat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.ami.framing import (
    BANNER_PREFIX,
    DEFAULT_MAX_FRAME_SIZE,
    MIN_MAX_FRAME_SIZE,
    AmiFrameParser,
    Frame,
    UnsafeHeader,
    UnsafeHeaderName,
    UnsafeHeaderValue,
    parse_all,
    parse_frame,
    serialise,
)
from cti.ami.traces import (
    TraceFormatError,
    header_lines,
    iter_records,
    read_trace,
    received_streams,
    sent_streams,
)
from tests.support.traces import TRACES_DIR

TRACE_FILES = sorted(TRACES_DIR.glob("*.ami"))
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
LENIENT = settings(deadline=None)  # shared CI machines are slow; correctness is the point here


# ---------------------------------------------------------------- helpers


def feed_in_pieces(stream: bytes, sizes: Iterator[int], **parser_options: int) -> list[Frame]:
    """Frames from feeding ``stream`` as consecutive pieces of the given sizes."""
    parser = AmiFrameParser(**parser_options)
    frames: list[Frame] = []
    position = 0
    while position < len(stream):
        size = next(sizes)
        frames += parser.feed(stream[position : position + size])
        position += size
    return frames


def feed_cut_at(stream: bytes, cuts: Iterable[int], **parser_options: int) -> list[Frame]:
    """Frames from feeding ``stream`` cut at the given offsets."""
    parser = AmiFrameParser(**parser_options)
    frames: list[Frame] = []
    previous = 0
    for cut in sorted(cuts):
        frames += parser.feed(stream[previous:cut])
        previous = cut
    frames += parser.feed(stream[previous:])
    return frames


def random_sizes(seed: str, largest: int) -> Iterator[int]:
    rng = random.Random(seed)
    while True:
        yield rng.randint(1, largest)


@dataclass
class ReadmeStatistics:
    """One file's block of the "Per-file statistics" section of the traces README."""

    bytes_received: int = 0
    events_total: int = 0
    events: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)


@cache
def readme_statistics() -> dict[str, ReadmeStatistics]:
    """File name -> the figures the README gives for it (counted from the files by its author)."""
    text = (TRACES_DIR / "README.md").read_text()
    section = text.split("## Per-file statistics", 1)[1]
    by_file: dict[str, ReadmeStatistics] = {}
    current = ReadmeStatistics()
    for line in section.splitlines():
        line = line.strip()
        if line.startswith("== "):
            current = by_file.setdefault(Path(line[3:]).name, ReadmeStatistics())
        elif line.startswith("connections:"):
            found = re.search(r"bytes received (\d+), events (\d+)", line)
            assert found, line
            current.bytes_received, current.events_total = map(int, found.groups())
        elif line.startswith("actions sent:"):
            for item in line.split(":", 1)[1].split(","):
                name, _, times = item.strip().partition(" x")
                current.actions[name] += int(times or 1)
        elif line.startswith("responses:"):
            current.responses.update(ast.literal_eval(line.split(":", 1)[1].strip()))
        elif line.startswith("events:"):
            for item in line.split(":", 1)[1].split(","):
                name, _, times = item.strip().partition("=")
                current.events[name] = int(times)
    return by_file


def expected_for(path: Path) -> ReadmeStatistics:
    statistics = readme_statistics()
    assert path.name in statistics, f"the traces README has no statistics for {path.name}"
    return statistics[path.name]


@dataclass
class TraceCounts:
    bytes_received: int = 0
    events: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, ...]] = field(default_factory=list)


def count_trace(path: Path) -> TraceCounts:
    counts = TraceCounts()
    for stream in received_streams(path).values():
        parser = AmiFrameParser()
        frames = parser.feed(stream)
        assert parser.buffered_size == 0, "every recorded message should be complete"
        assert parser.banner == "Asterisk Call Manager/11.0.0"
        counts.bytes_received += len(BANNER) + sum(frame.raw_size for frame in frames)
        for frame in frames:
            if frame.kind == "event":
                counts.events[frame.name] += 1
            # The README counts every "Response:" header, OriginateResponse events included.
            if "Response" in frame:
                counts.responses[frame["Response"]] += 1
            if frame.problems:
                counts.problems.append(frame.problems)
    for stream in sent_streams(path).values():
        parser = AmiFrameParser()
        for frame in parser.feed(stream):
            assert frame.kind == "action"
            counts.actions[frame.name] += 1
        assert parser.banner is None
    return counts


def trace_frame_samples() -> list[bytes]:
    """A spread of real messages (both directions) with their terminators, for mutation tests."""
    samples: list[bytes] = []
    for path in TRACE_FILES:
        for record in read_trace(path):
            if record.direction != "NOTE" and record.payload.endswith(b"\r\n\r\n"):
                samples.append(record.payload)
    return samples[::7] or [b"Event: Placeholder\r\nChannel: Local/1001@agents-1;1\r\n\r\n"]


TRACE_SAMPLES = trace_frame_samples()
trace_files = pytest.mark.parametrize("path", TRACE_FILES, ids=[p.stem for p in TRACE_FILES])


# ---------------------------------------------------------------- the recorded Asterisk traces


def test_the_recorded_traces_are_present() -> None:
    # Without them the trace tests below would quietly collect nothing.
    assert len(TRACE_FILES) >= 8, f"AMI traces missing in {TRACES_DIR} (set AMI_TRACES_DIR)"


@trace_files
def test_every_event_in_every_trace_is_framed_and_counted(path: Path) -> None:
    expected = expected_for(path)
    counts = count_trace(path)
    assert sum(counts.events.values()) == expected.events_total
    assert counts.events == expected.events
    assert counts.responses == expected.responses
    assert counts.problems == []


@trace_files
def test_every_action_sent_in_every_trace_is_framed_and_counted(path: Path) -> None:
    assert count_trace(path).actions == expected_for(path).actions


@trace_files
def test_every_received_byte_is_accounted_for_by_banner_and_frame_sizes(path: Path) -> None:
    assert count_trace(path).bytes_received == expected_for(path).bytes_received


def test_inbound_call_trace_has_the_figures_the_readme_states() -> None:
    # Guards the README parsing above: these figures are copied from the README by hand.
    counts = count_trace(TRACES_DIR / "03-inbound-answered-by-agent.ami")
    assert sum(counts.events.values()) == 181
    assert counts.events["AgentCalled"] == 1
    assert counts.events["VarSet"] == 80
    assert counts.responses == Counter({"Success": 7, "Goodbye": 1})


@trace_files
def test_traces_give_identical_frames_whatever_the_read_sizes(path: Path) -> None:
    for stream in [*received_streams(path).values(), *sent_streams(path).values()]:
        whole = parse_all(stream)
        assert feed_in_pieces(stream, repeat(1)) == whole
        assert feed_in_pieces(stream, repeat(7)) == whole
        sizes = random_sizes(path.name, largest=4096)
        assert feed_in_pieces(stream, sizes) == whole


def test_repeated_variable_headers_of_an_originate_are_kept_in_order() -> None:
    stream = sent_streams(TRACES_DIR / "05-inbound-withheld-and-national-cli.ami")[1]
    originate = next(f for f in parse_all(stream) if f.action_id == "orig-withheld-1")
    assert originate.name == "Originate"
    assert originate.get_all("Variable") == ("CID_PRES=prohib",)
    assert originate["CallerID"] == '"Anonymous" <anonymous>'


def test_trace_reader_gives_each_recv_as_one_whole_message_after_the_banner() -> None:
    path = TRACES_DIR / "01-login-banner-and-ping.ami"
    assert "# Scenario: 01-login-banner-and-ping" in header_lines(path)
    records = list(read_trace(path))
    assert {r.direction for r in records} == {"RECV", "SEND", "NOTE"}
    assert records[0].direction == "NOTE" and "tcp connected" in records[0].note
    assert records[0].payload == b""
    seen: set[int] = set()
    for record in (r for r in records if r.direction == "RECV"):
        if record.connection in seen:
            assert record.payload.endswith(b"\r\n\r\n")
        else:
            assert record.payload == BANNER
            seen.add(record.connection)
    assert seen == {1, 2}
    assert [r.t for r in records] == sorted(r.t for r in records)


def test_trace_reader_reads_payloads_by_length_not_by_text() -> None:
    data = (
        b"# header\n#\n"
        b"@@ RECV c=1 t=0.5 n=6\n@@ X\n\n"
        b"@@ NOTE c=1 t=0.6 n=0 closed by peer\n"
        b"@@ SEND c=2 t=0.7 n=3\nab\n"
    )
    records = list(iter_records(data))
    assert [(r.direction, r.connection, r.t, r.payload, r.note) for r in records] == [
        ("RECV", 1, 0.5, b"@@ X\n\n", ""),
        ("NOTE", 1, 0.6, b"", "closed by peer"),
        ("SEND", 2, 0.7, b"ab\n", ""),
    ]


def test_trace_reader_refuses_a_cut_short_payload() -> None:
    with pytest.raises(TraceFormatError, match="cut short"):
        list(iter_records(b"@@ RECV c=1 t=0.5 n=60\nEvent: X\r\n\r\n"))


# ---------------------------------------------------------------- framing behaviour


def test_banner_is_consumed_and_exposed_even_when_it_arrives_in_pieces() -> None:
    parser = AmiFrameParser()
    assert parser.feed(b"Asterisk Call") == []
    assert parser.feed(b" Manager/11.0.0\r") == []
    frames = parser.feed(b"\nResponse: Success\r\nPing: Pong\r\n\r\n")
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert [(f.kind, f.name, f["Ping"]) for f in frames] == [("response", "Success", "Pong")]


def test_client_stream_without_banner_is_framed_as_actions() -> None:
    parser = AmiFrameParser()
    frames = parser.feed(b"Action: Ping\r\nActionID: p-1\r\n\r\n")
    assert parser.banner is None
    assert [(f.kind, f.name, f.action_id) for f in frames] == [("action", "Ping", "p-1")]


def test_banner_text_later_in_the_stream_is_not_a_banner() -> None:
    parser = AmiFrameParser()
    frames = parser.feed(b"Event: A\r\n\r\n" + BANNER + b"Event: B\r\n\r\n")
    assert parser.banner is None
    assert frames[1].problems and frames[1].name == "B"


def test_frame_without_terminating_blank_line_stays_buffered() -> None:
    parser = AmiFrameParser()
    assert parser.feed(b"Event: Hangup\r\nChannel: Local/1001@agents-1;1\r\n") == []
    assert parser.buffered_size > 0
    frames = parser.feed(b"\r\n")
    assert [f.name for f in frames] == ["Hangup"]
    assert parser.buffered_size == 0


def test_utf8_character_split_across_two_feeds_survives() -> None:
    message = "Event: NewCallerid\r\nCallerIDName: Zoë 東京\r\n\r\n".encode()
    cut = message.index("ë".encode()) + 1  # between the two bytes of ë
    parser = AmiFrameParser()
    frames = parser.feed(message[:cut]) + parser.feed(message[cut:])
    assert frames[0]["CallerIDName"] == "Zoë 東京"
    assert frames[0].problems == ()


def test_multibyte_frame_split_at_every_byte_boundary_matches_the_whole() -> None:
    message = "Event: Newchannel\r\nCallerIDName: Zoë 東京 🙂\r\nExten: +4930\r\n\r\n".encode()
    whole = parse_all(message)
    for cut in range(len(message) + 1):
        assert feed_cut_at(message, [cut]) == whole


def test_bare_lf_and_mixed_line_endings_are_tolerated() -> None:
    frames = parse_all(
        b"Event: A\nChannel: x\n\n"  # bare LF throughout
        b"Event: B\nChannel: y\r\n\r\n"  # LF line, CRLF end
        b"Event: C\r\nChannel: z\n\n"  # CRLF line, LF end
    )
    assert [(f.name, f["Channel"], f.problems) for f in frames] == [
        ("A", "x", ()),
        ("B", "y", ()),
        ("C", "z", ()),
    ]


def test_key_colon_value_without_space_is_accepted() -> None:
    frame = parse_frame(b"Event: Foo\r\nOutput:raw text: more\r\nEmpty:\r\n\r\n")
    assert frame is not None
    assert frame.headers == (("Event", "Foo"), ("Output", "raw text: more"), ("Empty", ""))
    assert frame.problems == ()


def test_values_keep_colons_spaces_and_empty_values() -> None:
    frame = parse_frame(
        b"Event: SuccessfulAuth\r\nEventTV: 2026-11-25T21:58:48.502+0000\r\n"
        b"AccountCode: \r\nMessage:  two spaces\r\n\r\n"
    )
    assert frame is not None
    assert frame["EventTV"] == "2026-11-25T21:58:48.502+0000"
    assert frame["AccountCode"] == ""
    assert frame["Message"] == " two spaces"


def test_lines_without_a_separator_are_recorded_as_problems_and_the_frame_is_kept() -> None:
    parser = AmiFrameParser()
    frames = parser.feed(b"Event: Odd\r\ngarbage line\r\n: no name\r\nChannel: x\r\n\r\n")
    (frame,) = frames
    assert frame.headers == (("Event", "Odd"), ("Channel", "x"))
    assert len(frame.problems) == 2
    assert "line 2: no ':' separator" in frame.problems[0]
    assert "line 3: empty header name" in frame.problems[1]
    assert parser.stats.malformed_frames == 1


def test_problem_text_is_escaped_and_bounded() -> None:
    frame = parse_frame(b"Event: X\r\n<script>\x1b[31m" + b"A" * 500 + b"\r\n\r\n")
    assert frame is not None
    (problem,) = frame.problems
    assert "\x1b" not in problem and "\\x1b" in problem
    assert len(problem) < 200


def test_problems_of_a_frame_full_of_junk_lines_stay_few() -> None:
    frame = parse_frame(b"Event: Junk\r\n" + b"x\r\n" * 100_000 + b"\r\n")
    assert frame is not None
    assert frame.name == "Junk"
    assert len(frame.problems) == 11
    assert frame.problems[-1] == "99990 more unreadable lines"


def test_non_utf8_bytes_are_replaced_and_the_frame_is_counted_as_malformed() -> None:
    parser = AmiFrameParser()
    (frame,) = parser.feed(b"Event: Newchannel\r\nCallerIDName: \xff\xfeabc\r\n\r\n")
    assert frame.name == "Newchannel"
    assert frame["CallerIDName"] == "\ufffd\ufffdabc"
    assert frame.problems == ("invalid UTF-8 replaced with U+FFFD",)
    assert (parser.stats.frames, parser.stats.malformed_frames) == (1, 1)


def test_legacy_response_follows_does_not_break_the_frames_after_it() -> None:
    frames = parse_all(
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: cmd-1\r\n"
        b"Name/username             Host\r\n1001/1001                 (Unspecified)\r\n"
        b"--END COMMAND--\r\n\r\n"
        b"Response: Success\r\nActionID: ping-1\r\nPing: Pong\r\n\r\n"
    )
    assert (frames[0].kind, frames[0].name, frames[0].action_id) == ("response", "Follows", "cmd-1")
    assert frames[1].action_id == "ping-1" and frames[1].problems == ()


def test_stray_blank_lines_between_messages_are_ignored() -> None:
    frames = parse_all(b"\r\n\r\nEvent: A\r\n\r\n\r\n\r\n\r\nEvent: B\r\n\r\n")
    assert [(f.name, f.problems) for f in frames] == [("A", ()), ("B", ())]


def test_one_megabyte_value_is_framed_within_the_default_limit() -> None:
    value = "x" * (1 << 20)
    message = f"Event: VarSet\r\nVariable: BIG\r\nValue: {value}\r\n\r\nEvent: Next\r\n\r\n"
    stream = message.encode()
    frames = feed_in_pieces(stream, repeat(65536))
    assert [f.name for f in frames] == ["VarSet", "Next"]
    assert frames[0]["Value"] == value
    assert frames[0].problems == ()


def test_oversized_frame_is_replaced_by_an_error_record_and_the_next_frames_survive() -> None:
    big = b"Event: Huge\r\nValue: " + b"y" * (DEFAULT_MAX_FRAME_SIZE + 10) + b"\r\n\r\n"
    stream = b"Event: Before\r\n\r\n" + big + b"Event: After\r\n\r\n"
    for frames in (parse_all(stream), feed_in_pieces(stream, repeat(65536))):
        assert [f.name for f in frames] == ["Before", "", "After"]
        record = frames[1]
        assert record.oversized and record.kind == "unknown" and record.headers == ()
        assert record.raw_size == len(big)
        assert "exceeds" in record.problems[0]


def test_discarding_an_oversized_frame_keeps_memory_bounded() -> None:
    parser = AmiFrameParser(max_frame_size=1024)
    parser.feed(b"Event: Flood\r\nValue: ")
    for _ in range(100):
        assert parser.feed(b"z" * 4096) == []
        assert parser.buffered_size <= 4096 + 2
    (record, after) = parser.feed(b"\r\n\r\nEvent: After\r\n\r\n")
    assert record.oversized and record.raw_size == 21 + 100 * 4096 + 4
    assert after.name == "After"
    assert parser.stats.oversized_frames == 1
    assert parser.stats.discarded_bytes == record.raw_size


def test_a_too_small_frame_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_frame_size"):
        AmiFrameParser(max_frame_size=MIN_MAX_FRAME_SIZE - 1)


# ---------------------------------------------------------------- the Frame object


def test_frame_kind_and_name_come_from_event_response_or_action() -> None:
    frames = parse_all(
        b"Event: Hangup\r\n\r\n"
        b"Response: Error\r\nMessage: No such channel\r\n\r\n"
        b"ActionID: a-1\r\naction: ping\r\n\r\n"  # Asterisk accepts both of these liberties
        b"Ping: Pong\r\n\r\n"
    )
    assert [(f.kind, f.name) for f in frames] == [
        ("event", "Hangup"),
        ("response", "Error"),
        ("action", "ping"),
        ("unknown", ""),
    ]


def test_repeated_keys_keep_their_order_and_lookup_gives_the_first() -> None:
    frame = parse_frame(
        b"Event: Status\r\nChanVariable: A=1\r\nChanVariable: B=2\r\nchanvariable: C=3\r\n\r\n"
    )
    assert frame is not None
    assert frame["ChanVariable"] == "A=1"
    assert frame.get_all("ChanVariable") == ("A=1", "B=2", "C=3")
    assert [k for k, _ in frame.headers] == [
        "Event",
        "ChanVariable",
        "ChanVariable",
        "chanvariable",
    ]


def test_header_lookup_ignores_letter_case_like_asterisk() -> None:
    frame = parse_frame(
        b"Action: Originate\r\nactionid: o-1\r\nCHANNEL: Local/6001@customers\r\n\r\n"
    )
    assert frame is not None
    assert frame.action_id == "o-1"
    assert frame["Channel"] == "Local/6001@customers"
    assert "channel" in frame and "Context" not in frame


def test_missing_header_gives_default_or_key_error() -> None:
    frame = parse_frame(b"Event: Hangup\r\n\r\n")
    assert frame is not None
    assert frame.get("Linkedid") is None
    assert frame.get("Linkedid", "none") == "none"
    assert frame.action_id is None
    with pytest.raises(KeyError):
        frame["Linkedid"]


def test_raw_size_counts_the_bytes_of_each_message() -> None:
    first = b"Event: A\r\nX: 1\r\n\r\n"
    second = b"Event: B\n\n"
    assert [f.raw_size for f in parse_all(first + second)] == [len(first), len(second)]


# ---------------------------------------------------------------- serialising


def test_serialise_writes_crlf_header_lines_and_the_closing_blank_line() -> None:
    wire = serialise([("Action", "Login"), ("Username", "cti"), ("Secret", "cti-secret")])
    assert wire == b"Action: Login\r\nUsername: cti\r\nSecret: cti-secret\r\n\r\n"


def test_serialise_keeps_repeated_keys_and_utf8() -> None:
    wire = serialise([("Action", "Originate"), ("Variable", "A=1"), ("Variable", "NAME=Zoë")])
    assert wire.decode().splitlines()[1:3] == ["Variable: A=1", "Variable: NAME=Zoë"]


@pytest.mark.parametrize("bad", ["\r", "\n", "\r\n", "\x00"], ids=["CR", "LF", "CRLF", "NUL"])
def test_serialise_refuses_line_breaks_and_nul_in_values(bad: str) -> None:
    injected = f"1001{bad}Action: Hangup"
    with pytest.raises(UnsafeHeaderValue) as refused:
        serialise([("Action", "Originate"), ("Exten", injected)])
    assert refused.value.key == "Exten"
    assert "Exten" in str(refused.value)


@pytest.mark.parametrize(
    "key", ["Exten\r\nAction", "Ex\nten", "Ex\x00ten", "Ex ten", "Ex:ten", "", "Éxten"]
)
def test_serialise_refuses_header_names_outside_the_safe_alphabet(key: str) -> None:
    with pytest.raises(UnsafeHeaderName):
        serialise([("Action", "Ping"), (key, "x")])


def test_refusal_names_the_key_but_never_echoes_the_value() -> None:
    with pytest.raises(UnsafeHeader) as refused:
        serialise([("Action", "Login"), ("Secret", "hunter2\r\nAction: Hangup")])
    assert "Secret" in str(refused.value)
    assert "hunter2" not in str(refused.value)
    assert isinstance(refused.value, ValueError)


def test_serialise_refuses_values_that_are_not_text_or_not_encodable() -> None:
    with pytest.raises(TypeError):
        serialise([("Async", True)])  # type: ignore[list-item]
    with pytest.raises(UnsafeHeaderValue):
        serialise([("CallerID", "bad \udcff surrogate")])


def test_serialise_refuses_an_empty_message() -> None:
    with pytest.raises(ValueError):
        serialise([])


# ---------------------------------------------------------------- properties

header_names = st.from_regex(r"[A-Za-z0-9_-]+", fullmatch=True)
safe_values = st.text(st.characters(exclude_characters="\r\n\x00", exclude_categories=("Cs",)))
header_lists = st.lists(st.tuples(header_names, safe_values), min_size=1, max_size=12)
ami_fragments = st.sampled_from(
    [
        b"Event: ",
        b"Response: ",
        b"Action: ",
        b"ActionID: ",
        b"Key",
        b": ",
        b":",
        b"value",
        b"\r\n",
        b"\n",
        b"\r",
        b"\r\n\r\n",
        b"\n\n",
        BANNER_PREFIX,
        b"11.0.0",
        "ë東".encode(),
        b"\xe6\x9d",  # a cut multibyte character
        b"\xff",
        b"\x00",
        b" ",
    ]
)
ami_like_streams = st.lists(ami_fragments, max_size=80).map(b"".join)
any_streams = st.one_of(st.binary(max_size=1500), ami_like_streams)


@LENIENT
@given(stream=any_streams, data=st.data())
def test_any_byte_stream_is_framed_without_raising_however_it_is_cut(
    stream: bytes, data: st.DataObject
) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    for limit in (MIN_MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE):  # small limit: oversize paths
        whole_parser = AmiFrameParser(max_frame_size=limit)
        whole = whole_parser.feed(stream)
        assert feed_cut_at(stream, cuts, max_frame_size=limit) == whole
        assert feed_in_pieces(stream, repeat(1), max_frame_size=limit) == whole
        assert whole_parser.stats.frames == len(whole)


@st.composite
def mutated_trace_messages(draw: st.DrawFn) -> bytes:
    """A real message with a few bytes flipped, inserted or deleted, or cut short."""
    message = bytearray(draw(st.sampled_from(TRACE_SAMPLES)))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(message)))
        operation = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        byte = draw(st.integers(0, 255))
        if operation == "insert":
            message.insert(position, byte)
        elif operation == "truncate":
            del message[position:]
        elif position < len(message) and operation == "flip":
            message[position] = byte
        elif position < len(message):
            del message[position]
    return bytes(message)


@LENIENT
@given(messages=st.lists(mutated_trace_messages(), min_size=1, max_size=4), data=st.data())
def test_mutated_trace_frames_never_raise_and_a_clean_frame_after_them_survives(
    messages: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(messages) + b"\r\n\r\nEvent: Sentinel\r\n\r\n"
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    frames = feed_cut_at(stream, cuts)
    assert frames == parse_all(stream)
    assert frames[-1].headers == (("Event", "Sentinel"),)


@LENIENT
@given(message=st.sampled_from(TRACE_SAMPLES), data=st.data())
def test_a_real_frame_split_at_any_byte_boundary_equals_the_frame_fed_whole(
    message: bytes, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(message)))
    assert feed_cut_at(message, [cut]) == parse_all(message)


@given(headers=header_lists)
def test_serialised_safe_headers_parse_back_unchanged(headers: list[tuple[str, str]]) -> None:
    wire = serialise(headers)
    frame = parse_frame(wire)
    assert frame is not None
    assert frame.headers == tuple(headers)
    assert frame.problems == ()
    assert frame.raw_size == len(wire)


@given(headers=header_lists, data=st.data())
def test_serialise_refuses_cr_lf_or_nul_anywhere_in_a_value(
    headers: list[tuple[str, str]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(headers) - 1))
    key, value = headers[index]
    position = data.draw(st.integers(0, len(value)))
    bad = data.draw(st.sampled_from(["\r", "\n", "\x00"]))
    headers[index] = (key, value[:position] + bad + value[position:])
    with pytest.raises(UnsafeHeaderValue) as refused:
        serialise(headers)
    assert refused.value.key == key


@given(headers=header_lists, data=st.data())
def test_serialise_refuses_any_unsafe_character_in_a_header_name(
    headers: list[tuple[str, str]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(headers) - 1))
    key, value = headers[index]
    position = data.draw(st.integers(0, len(key)))
    bad = data.draw(st.characters().filter(lambda c: not re.fullmatch(r"[A-Za-z0-9_-]", c)))
    headers[index] = (key[:position] + bad + key[position:], value)
    with pytest.raises(UnsafeHeaderName):
        serialise(headers)


# ---------------------------------------------------------------- filtering at the parser


def test_unwanted_events_are_dropped_before_decoding_and_counted() -> None:
    stream = b"".join(received_streams(TRACES_DIR / "03-inbound-answered-by-agent.ami").values())
    everything = AmiFrameParser().feed(stream)
    parser = AmiFrameParser(wanted_events=frozenset({"AgentCalled", "Hangup"}))
    kept = parser.feed(stream)
    expected = [
        f
        for f in everything
        if f.kind != "event" or f.name in ("AgentCalled", "Hangup") or f.action_id
    ]
    assert kept == expected
    assert parser.stats.skipped_events == len(everything) - len(expected)
    assert any(f.kind == "response" for f in kept)


@LENIENT
@given(st.integers(min_value=1, max_value=97))
def test_filtering_does_not_depend_on_how_the_stream_is_cut(size: int) -> None:
    stream = b"".join(
        received_streams(TRACES_DIR / "02-agent-ready-pause-unpause-remove.ami").values()
    )
    wanted = frozenset({"QueueMemberPause", "QueueMemberAdded"})
    whole = AmiFrameParser(wanted_events=wanted).feed(stream)
    parser = AmiFrameParser(wanted_events=wanted)
    pieces = [f for i in range(0, len(stream), size) for f in parser.feed(stream[i : i + size])]
    assert pieces == whole
