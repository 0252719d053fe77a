"""The ingest benchmark's stream is what Asterisk sends a session logged in with the service's
Events mask (derived from the all-classes traces), and the benchmark runs end to end on a tiny
one (its shape, not its timings: those belong to the real run)."""

from __future__ import annotations

import json

import pytest

from bench.ami_ingest import run
from bench.tracestream import (
    CLASSES,
    SERVICE_EVENTS,
    TRACES,
    call_stream,
    masked_messages,
    parse_mask,
    received_messages,
)
from cti.ami.framing import AmiFrameParser, Frame
from cti.ami.traces import received_streams

TRACES_AND_CONNECTIONS = [
    (path.name, connection)
    for path in sorted(TRACES.glob("*.ami"))
    for connection in received_streams(path)
]


def broadcast_classes(frame: Frame) -> frozenset[str] | None:
    privilege = frame.get("Privilege")
    if frame.kind != "event" or privilege is None:
        return None
    labels = {label.strip().lower() for label in privilege.split(",")}
    return frozenset(labels - {"all"}) if "all" in labels else None


def frames_of(messages: list[bytes]) -> tuple[AmiFrameParser, list[Frame]]:
    parser = AmiFrameParser()
    return parser, parser.feed(b"".join(messages))


def test_the_service_mask_is_its_default_ami_events() -> None:
    assert SERVICE_EVENTS == "call,agent,system,user"
    assert parse_mask(SERVICE_EVENTS) == {"call", "agent", "system", "user"}
    assert parse_mask("on") == parse_mask("all") == parse_mask(None) == CLASSES
    assert parse_mask("off") == frozenset()
    assert parse_mask(" Call , AGENT ") == {"call", "agent"}


@pytest.mark.parametrize(("trace", "connection"), TRACES_AND_CONNECTIONS)
def test_masked_stream_keeps_call_and_agent_events_and_drops_the_other_classes(
    trace: str,
    connection: int,
) -> None:
    mask = parse_mask(SERVICE_EVENTS)
    recorded = received_messages(TRACES / trace, connection)
    masked = masked_messages(trace, SERVICE_EVENTS, connection)
    parser, frames = frames_of(masked.messages)
    # Still one well-formed AMI stream: banner, then one frame per kept message.
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert len(frames) == len(masked.messages) - 1
    assert not [f for f in frames if f.problems]
    assert parser.buffered_size == 0
    # Nothing Asterisk would not send for the mask.
    for frame in frames:
        classes = broadcast_classes(frame)
        assert classes is None or classes <= mask, (frame.name, classes)

    # Every call / agent event, response and action answer is kept, in order.
    def call_agent_or_answer(frame: Frame) -> bool:
        classes = broadcast_classes(frame)
        return classes is None or bool(classes & {"call", "agent"})

    _, all_frames = frames_of(recorded)
    kept = [f for f in frames if call_agent_or_answer(f)]
    assert kept == [f for f in all_frames if call_agent_or_answer(f)]
    assert any(broadcast_classes(f) for f in kept) or trace.startswith("01-")
    # The counts say what went where.
    assert sum(masked.kept.values()) == len(masked.messages)
    assert sum(masked.kept.values()) + sum(masked.dropped.values()) == len(recorded)
    assert not set(masked.dropped) & mask


def test_trace_03_loses_its_dialplan_cdr_and_security_events_only() -> None:
    masked = masked_messages("03-inbound-answered-by-agent.ami", SERVICE_EVENTS)
    assert masked.dropped == {"dialplan": 105, "cdr": 3, "security": 1}
    assert masked.kept["call"] == 58 and masked.kept["agent"] == 10
    on = masked_messages("03-inbound-answered-by-agent.ami", "on")
    assert not on.dropped
    path = TRACES / "03-inbound-answered-by-agent.ami"
    assert b"".join(on.messages) == received_streams(path)[1]
    # Copies differ by their ids only; each is the masked trace.
    _, two_calls = frames_of([call_stream(copies=2)])
    assert [f.name for f in two_calls] == 2 * [f.name for f in frames_of(masked.messages)[1]]


def test_benchmark_measures_the_masked_stream_and_says_how_it_was_derived() -> None:
    result = run(["--copies", "2", "--rounds", "1"])
    json.dumps(result)  # machine-readable as printed
    assert result["benchmark"] == "ami_ingest"
    stream = result["stream"]
    assert stream["events_mask"] == SERVICE_EVENTS
    derived = stream["derived"]
    assert derived["per_trace_copy"]["dropped_by_class"] == {
        "cdr": 3,
        "dialplan": 105,
        "security": 1,
    }
    assert derived["messages_dropped"] == 2 * 109
    assert stream["events"] == 2 * 72 and stream["frames"] == derived["messages_kept"] - 1
    rates = result["events_per_second"]
    assert set(rates) == {
        "panoramisk_bare",
        "panoramisk_ten_patterns",
        "ours_parse_and_state_machines",
        "ours_decoding_every_event",
    }
    assert all(rate > 0 for rate in rates.values())
    assert set(result["goal_met"]) == {"events_per_second", "ratio_to_panoramisk_bare"}
    assert result["meets_goal"] == all(result["goal_met"].values())
    # The state machines lose nothing to the mask: the same domain events as on every class.
    everything = run(["--copies", "2", "--rounds", "1", "--events", "on"])
    assert everything["stream"]["events"] == 2 * 181
    assert everything["stream"]["derived"]["messages_dropped"] == 0
    assert everything["domain_events_per_run"] == result["domain_events_per_run"] > 0
