"""AMI ingest: events per second through our link's protocol (framing, filtering at the
parser, matching, the call and agent state machines), against panoramisk's own protocol
parsing the same byte stream with no handlers (the baseline), in the same run, on one core.

    python -m bench.ami_ingest [--events call,agent,system,user] [--copies 300] [--rounds 5]

The stream is trace 03 (one inbound call answered by an agent, recorded from Asterisk 22 with
every event class on: about 180 events) as Asterisk would have sent it to a session logged in
with ``Events: <--events>`` (default: the service's AMI_EVENTS, ``call,agent,system,user``,
about 70 events: the dialplan, cdr and security classes are never sent), repeated with fresh
ids, so every copy is a different call. ``--events on`` measures the trace as recorded, every
class. Every contender parses the same bytes. Prints one JSON object, with how the stream was
derived (classes kept and dropped) and whether each goal is met."""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from collections.abc import Callable

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from bench.tracestream import DEFAULT_TRACE, SERVICE_EVENTS, chunks, masked_messages, replicate
from cti.ami.framing import Frame, parse_all
from cti.ami.protocol import FramedProtocol
from cti.telephony import Telephony

CHUNK = 65536
GOAL_EVENTS_PER_SECOND = 40_000
GOAL_RATIO_TO_PANORAMISK_BARE = 1.5


class NullTransport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def get_extra_info(self, *_: object, **__: object) -> None:
        return None


class TelephonySink:
    """What the link does with each frame, without the socket: the state machines."""

    def __init__(self, telephony: Telephony) -> None:
        self.telephony = telephony

    def on_event(self, frame: Frame, at: float) -> None:
        self.telephony.on_event(frame, at)

    def on_bad_frame(self, frame: Frame) -> None:
        pass

    def on_unmatched_response(self, frame: Frame) -> None:
        pass

    def on_connection_lost(self, exc: BaseException | None) -> None:
        pass


def panoramisk_bare(manager: Manager) -> Callable[[list[bytes]], None]:
    def run(parts: list[bytes]) -> None:
        protocol = AMIProtocol()
        protocol.connection_made(NullTransport())
        protocol.factory = manager
        protocol.encoding = "utf8"
        for part in parts:
            protocol.data_received(part)

    return run


def panoramisk_patterns(manager: Manager) -> Callable[[list[bytes]], None]:
    for pattern in (
        "Queue*",
        "Agent*",
        "Dial*",
        "Bridge*",
        "Hangup",
        "Newchannel",
        "OriginateResponse",
        "DeviceStateChange",
        "NewCallerid",
        "Local*",
    ):
        manager.register_event(pattern, lambda m, e: None)
    return panoramisk_bare(manager)


def ours(telephony_out: list[Telephony], *, filtered: bool = True) -> Callable[[list[bytes]], None]:
    def run(parts: list[bytes]) -> None:
        telephony = Telephony()
        telephony.subscribe()  # one consumer queue, as the app has
        protocol = FramedProtocol(telephony.wanted_events if filtered else None)
        protocol.connection_made(NullTransport())
        protocol.sink = TelephonySink(telephony)
        for part in parts:
            protocol.data_received(part)
        telephony_out.append(telephony)

    return run


def measure(run: Callable[[list[bytes]], None], parts: list[bytes], rounds: int) -> list[float]:
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        run(parts)
        seconds.append(time.perf_counter() - started)
    return seconds


async def main(
    copies: int,
    rounds: int,
    events: str = SERVICE_EVENTS,
    trace: str = DEFAULT_TRACE,
) -> dict[str, object]:
    masked = masked_messages(trace, events)
    data = replicate(masked.messages, copies)
    parts = chunks(data, CHUNK)
    frames = parse_all(data)
    events_in_stream = sum(1 for f in frames if f.kind == "event")
    bare_manager = Manager(loop=asyncio.get_running_loop())
    patterned_manager = Manager(loop=asyncio.get_running_loop())
    runs: dict[str, Callable[[list[bytes]], None]] = {}
    made: list[Telephony] = []
    runs["panoramisk_bare"] = panoramisk_bare(bare_manager)
    runs["panoramisk_ten_patterns"] = panoramisk_patterns(patterned_manager)
    runs["ours_parse_and_state_machines"] = ours(made)
    # The same, decoding every event (no filtering at the parser): what the filter buys.
    runs["ours_decoding_every_event"] = ours([], filtered=False)
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):  # interleaved, so drift on the machine hits every contender
        for name, run in runs.items():
            timings[name] += measure(run, parts, 1)
    rates = {name: events_in_stream / statistics.median(t) for name, t in timings.items()}
    telephony = made[-1]
    ours_rate = rates["ours_parse_and_state_machines"]
    ratio = ours_rate / rates["panoramisk_bare"]
    goal_met = {
        "events_per_second": ours_rate >= GOAL_EVENTS_PER_SECOND,
        "ratio_to_panoramisk_bare": ratio >= GOAL_RATIO_TO_PANORAMISK_BARE,
    }
    return {
        "benchmark": "ami_ingest",
        "python": platform.python_version(),
        "stream": {
            "trace": trace.removesuffix(".ami"),
            "events_mask": masked.events,
            "calls": copies,
            "events": events_in_stream,
            "frames": len(frames),
            "bytes": len(data),
            "chunk_bytes": CHUNK,
            "derived": masked.describe(copies),
        },
        "rounds": rounds,
        "events_per_second": {k: round(v) for k, v in rates.items()},
        "ratio_to_panoramisk_bare": round(ratio, 2),
        "domain_events_per_run": telephony.domain_events,
        "goal": {
            "events_per_second": GOAL_EVENTS_PER_SECOND,
            "ratio_to_panoramisk_bare": GOAL_RATIO_TO_PANORAMISK_BARE,
        },
        "goal_met": goal_met,
        "meets_goal": all(goal_met.values()),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events",
        default=SERVICE_EVENTS,
        help="the Events: mask the stream is derived for (default: the "
        "service's AMI_EVENTS, %(default)s); 'on' or 'all': every class, "
        "the trace as recorded",
    )
    parser.add_argument("--copies", type=int, default=300, help="calls in the stream")
    parser.add_argument(
        "--rounds", type=int, default=5, help="timed runs per contender (the median counts)"
    )
    parser.add_argument(
        "--trace", default=DEFAULT_TRACE, help="trace file (connection 1) in the traces folder"
    )
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    return asyncio.run(main(args.copies, args.rounds, args.events, args.trace))


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
