"""``python -m pbxsim --port 5038 --scenario inbound-burst --seed 1 --speed 10``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
from collections.abc import Sequence

from pbxsim import serve
from pbxsim.scenarios import SCENARIOS
from pbxsim.users import AmiUser

DESCRIPTION = "A PBX simulator speaking AMI over TCP."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options, shared with ``callcentre simulator``."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5038)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument(
        "--mode",
        choices=("local", "pjsip"),
        default="local",
        help="local: Local channels as in the lab traces; pjsip: production-like",
    )
    parser.add_argument(
        "--epoch",
        type=float,
        default=None,
        help="Unix time of simulated time 0 (fix it for byte-identical runs)",
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:SECRET[:READ[:WRITE]]",
        help="an AMI user; classes as in manager.conf (default cti:cti-secret:all)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many real seconds (default: run until interrupted)",
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pbxsim", description=DESCRIPTION)
    add_arguments(parser)
    return parser.parse_args(argv)


def parse_user(text: str) -> AmiUser:
    parts = text.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise SystemExit(f"--user {text!r}: expected NAME:SECRET[:READ[:WRITE]]")
    read = parts[2] if len(parts) > 2 and parts[2] else "all"
    write = parts[3] if len(parts) > 3 and parts[3] else "all"
    return AmiUser.create(parts[0], parts[1], read=read, write=write)


async def run(args: argparse.Namespace) -> None:
    users = [parse_user(text) for text in args.user] or None
    simulator = await serve(
        args.host,
        args.port,
        scenario=args.scenario,
        seed=args.seed,
        speed=args.speed,
        users=users,
        mode=args.mode,
        epoch=args.epoch,
    )
    # Full garbage collections pause everything for a time proportional to the live objects;
    # the start-up heap never becomes garbage, so keep it out of them.
    gc.collect()
    gc.freeze()
    print(
        json.dumps(
            {
                "listening": f"{args.host}:{simulator.port}",
                "mode": args.mode,
                "scenario": args.scenario,
                "seed": args.seed,
                "speed": args.speed,
            }
        ),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        if args.duration is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
    finally:
        print(json.dumps(simulator.stats()), flush=True)
        await simulator.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
