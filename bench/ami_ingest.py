"""AMI ingest: events per second through our link's protocol (framing, filtering at the
parser, matching, the call and agent state machines), against panoramisk's own protocol
parsing the same byte stream with no handlers (the baseline), in the same run, on one core.

    python -m bench.ami_ingest [--copies 300] [--rounds 5]

The stream is trace 03 (one inbound call answered by an agent, recorded from Asterisk 22 with
the dialplan event class on: about 180 events) repeated with fresh ids, so every copy is a
different call. Prints one JSON object."""

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

from bench.tracestream import call_stream, chunks
from cti.ami.framing import Frame, parse_all
from cti.ami.protocol import FramedProtocol
from cti.telephony import Telephony

CHUNK = 65536


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
    for pattern in ("Queue*", "Agent*", "Dial*", "Bridge*", "Hangup", "Newchannel",
                    "OriginateResponse", "DeviceStateChange", "NewCallerid", "Local*"):
        manager.register_event(pattern, lambda m, e: None)
    return panoramisk_bare(manager)


def ours(
    telephony_out: list[Telephony], *, filtered: bool = True
) -> Callable[[list[bytes]], None]:
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


async def main(copies: int, rounds: int) -> dict[str, object]:
    data = call_stream(copies=copies)
    parts = chunks(data, CHUNK)
    frames = parse_all(data)
    events = sum(1 for f in frames if f.kind == "event")
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
    rates = {name: events / statistics.median(t) for name, t in timings.items()}
    telephony = made[-1]
    return {
        "benchmark": "ami_ingest",
        "python": platform.python_version(),
        "stream": {"trace": "03-inbound-answered-by-agent", "calls": copies,
                   "events": events, "frames": len(frames), "bytes": len(data),
                   "chunk_bytes": CHUNK},
        "rounds": rounds,
        "events_per_second": {k: round(v) for k, v in rates.items()},
        "ratio_to_panoramisk_bare": round(
            rates["ours_parse_and_state_machines"] / rates["panoramisk_bare"], 2),
        "domain_events_per_run": telephony.domain_events,
        "goal": {"events_per_second": 40000, "ratio_to_panoramisk_bare": 1.5},
        "meets_goal": rates["ours_parse_and_state_machines"] >= 40000
        and rates["ours_parse_and_state_machines"] >= 1.5 * rates["panoramisk_bare"],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.copies, args.rounds)), indent=2))
