"""Drive a simulator exactly as the recorder drove Asterisk for a trace, over real TCP.

Each ``SEND`` of the trace is sent again, byte for byte, at the same simulated time (the clock
is a ``ManualClock`` moved to each record's ``t``), on the connection of the same number; the
replay waits for each action's response (and list) before going on. A channel name in an action
(``Status Channel: Local/hold60@callers-0000001a;2``) is translated to the simulator's channel
with the same role (see ``shapes.channel_roles``).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from cti.ami.framing import Frame, parse_all, serialise
from cti.ami.traces import TraceRecord, read_trace
from pbxsim.clock import ManualClock
from pbxsim.simulator import Simulator

from .amiclient import AmiClient
from .shapes import channel_roles

_CHANNEL_NAME = re.compile(r"-[0-9a-f]{8};\d$")


def recorded_frames(path: Path) -> dict[int, list[Frame]]:
    """What Asterisk sent on each connection of the trace, banner excluded."""
    streams: dict[int, bytearray] = {}
    for record in read_trace(path):
        if record.direction == "RECV":
            streams.setdefault(record.connection, bytearray()).extend(record.payload)
    return {conn: parse_all(bytes(data)) for conn, data in streams.items()}


async def replay(path: Path, simulator: Simulator) -> dict[int, list[Frame]]:
    clock = simulator.clock
    assert isinstance(clock, ManualClock), "replays step a ManualClock"
    records = list(read_trace(path))
    recorded_roles = channel_roles([f for frames in recorded_frames(path).values() for f in frames])
    clients: dict[int, AmiClient] = {}
    last_action: dict[int, str] = {}
    try:
        for record in records:
            if record.t > clock.now():
                clock.advance(record.t - clock.now())
            if record.direction == "NOTE":
                await _note(record, simulator, clients, last_action)
            elif record.direction == "SEND":
                client = clients[record.connection]
                for action in parse_all(record.payload):
                    last_action[record.connection] = action.name.lower()
                    await _send(client, action, recorded_roles, clients)
        clock.advance(1.0)
        for client in clients.values():
            if not client.closed.is_set():
                await caught_up(simulator, client)
                await client.close()
    finally:
        for client in clients.values():
            await client.close()
    return {conn: client.frames for conn, client in clients.items()}


async def _note(
    record: TraceRecord,
    simulator: Simulator,
    clients: dict[int, AmiClient],
    last_action: dict[int, str],
) -> None:
    if record.note.startswith("tcp connected"):
        clients[record.connection] = await AmiClient.connect(simulator.port)
    elif record.note.startswith("connection closed"):
        client = clients[record.connection]
        if last_action.get(record.connection) == "logoff" or _login_failed(client):
            await asyncio.wait_for(client.closed.wait(), 5)  # the server hangs up
        else:
            await caught_up(simulator, client)
            await client.close()  # the recorder hung up


async def caught_up(simulator: Simulator, client: AmiClient, timeout: float = 5.0) -> None:
    """Wait until the client has read everything the simulator has written to it so far."""
    port = client.writer.get_extra_info("sockname")[1]
    session = next(
        (s for s in simulator.server.sessions if s.remote_address.endswith(f"/{port}")), None
    )
    if session is None:
        return
    await asyncio.sleep(0)  # let the session's writer take what is queued
    await client.wait_until(lambda: len(client.raw) >= session.sent_bytes, timeout)


def _login_failed(client: AmiClient) -> bool:
    return any(
        f.kind == "response" and f.get("Message") == "Authentication failed" for f in client.frames
    )


async def _send(
    client: AmiClient,
    action: Frame,
    recorded_roles: dict[str, str],
    clients: dict[int, AmiClient],
) -> None:
    headers = list(action.headers)
    for index, (key, value) in enumerate(headers):
        if key == "Channel" and _CHANNEL_NAME.search(value) and value in recorded_roles:
            headers[index] = (key, _simulated_channel(recorded_roles[value], clients) or value)
    start = len(client.frames)
    client.send_raw(serialise(headers))
    action_id = action.action_id
    reply = await client.wait_for(
        lambda f: f.kind == "response" and f.action_id == action_id, 10, start
    )
    if reply.get("EventList") == "start":
        await client.wait_for(
            lambda f: f.action_id == action_id and f.get("EventList") == "Complete", 10, start
        )


def _simulated_channel(role: str, clients: dict[int, AmiClient]) -> str | None:
    roles = channel_roles([f for client in clients.values() for f in client.frames])
    for name, simulated_role in roles.items():
        if simulated_role == role:
            return name
    return None
