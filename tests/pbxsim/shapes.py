"""Compare two AMI streams by their shape: which events, with which header keys, in what order.

Ids, timestamps, values and channel numbering are ignored. Order is compared per *stream*: the
events of one channel, of one device, of one queue member, of one bridge, and the responses and
list items; not across them. A real Asterisk publishes the events of different channels from
different threads, so their interleaving changes from run to run (two recordings of the same
call flow show it), while the order within each channel does not. The differences tolerated, all
of which two real recordings of one call flow also show, are:

* ``OriginateResponse``, ``Cdr`` and security events are counted per channel, not placed: the
  originate thread, the CDR engine and the security framework publish them on their own;
* for ``Local/...`` devices only the last ``DeviceStateChange`` state is compared: Asterisk
  coalesces and repeats their updates depending on timing;
* other devices (``Custom:``, ``Queue:``, ``PJSIP/``) compare their sequence of distinct states;
* on the queue caller's channel, ``AgentComplete`` (app_queue's thread) and the bridge clearing
  ``BRIDGEPEER`` (the bridge's thread) may come in either order: trace 03 has AgentComplete first,
  the second call of trace 09 the VarSet first. They are put in one order before comparing.

Channels are identified by name without the ``-XXXXXXXX`` counter and by the rank of their
Uniqueid among channels of that name, so ``Local/hold60@callers-00000019;1`` of one run is the
same channel as ``Local/hold60@callers-00000003;1`` of another when both were the first such.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cti.ami.framing import Frame

FLOATING = frozenset(
    {
        "OriginateResponse",
        "Cdr",
        "SuccessfulAuth",
        "InvalidPassword",
        "InvalidAccountID",
        "RequestBadFormat",
        "RequestNotAllowed",
        "ChallengeSent",
    }
)
_COUNTER = re.compile(r"-[0-9a-f]{8}(?=;\d$|$)")
_CHANNEL_KEYS = ("Channel", "DestChannel", "LocalOneChannel", "LocalTwoChannel")
_UNIQUEID_KEYS = {
    "Channel": "Uniqueid",
    "DestChannel": "DestUniqueid",
    "LocalOneChannel": "LocalOneUniqueid",
    "LocalTwoChannel": "LocalTwoUniqueid",
}

Item = tuple[str, frozenset[str], str | None]


@dataclass
class Shape:
    channels: dict[str, list[Item]] = field(default_factory=dict)
    floating: dict[str, Counter[Item]] = field(default_factory=dict)
    devices: dict[str, list[str]] = field(default_factory=dict)
    local_devices: dict[str, str] = field(default_factory=dict)
    members: dict[str, list[Item]] = field(default_factory=dict)
    bridges: dict[str, list[Item]] = field(default_factory=dict)
    misc: list[Item] = field(default_factory=list)

    def event_count(self) -> int:
        return (
            sum(map(len, self.channels.values()))
            + sum(map(len, self.members.values()))
            + sum(sum(c.values()) for c in self.floating.values())
        )


def _uid_key(uid: str) -> tuple[int, ...] | tuple[float]:
    parts = uid.split(".")
    if all(p.isdigit() for p in parts):
        return tuple(int(p) for p in parts)
    return (float("inf"),)


def channel_roles(frames: Iterable[Frame]) -> dict[str, str]:
    """Channel name -> ``<name without counter>#<rank of its Uniqueid>``."""
    seen: dict[str, tuple[str, str]] = {}
    order: dict[str, int] = {}
    for frame in frames:
        for key in _CHANNEL_KEYS:
            name = frame.get(key)
            if not name or name in seen:
                continue
            if frame.name == "OriginateResponse" and frame.get("Response") != "Success":
                continue
            uid = frame.get(_UNIQUEID_KEYS[key]) or ""
            seen[name] = (_COUNTER.sub("", name), uid)
            order[name] = len(order)
    roles: dict[str, str] = {}
    by_base: dict[str, list[str]] = {}
    for name, (base, _uid) in seen.items():
        by_base.setdefault(base, []).append(name)
    for base, names in by_base.items():
        names.sort(key=lambda n: (_uid_key(seen[n][1]), order[n]))
        for rank, name in enumerate(names, start=1):
            roles[name] = f"{base}#{rank}"
    return roles


def _detail(frame: Frame) -> str | None:
    if frame.name == "VarSet":
        return frame.get("Variable")
    if frame.name == "Newexten":
        return frame.get("Application")
    return None


def shape_of(frames: Sequence[Frame]) -> Shape:
    roles = channel_roles(frames)
    shape = Shape()
    local_devices: dict[str, list[str]] = {}
    for frame in frames:
        keys = frozenset(key for key, _ in frame.headers)
        if frame.kind == "response":
            shape.misc.append(("Response: " + frame.name, keys, None))
            continue
        if frame.kind != "event":
            continue
        item: Item = (frame.name, keys, _detail(frame))
        if frame.name == "DeviceStateChange":
            device, state = frame["Device"], frame["State"]
            target = local_devices if device.startswith("Local/") else shape.devices
            states = target.setdefault(device, [])
            if not states or states[-1] != state:
                states.append(state)
            continue
        if "ActionID" in frame and frame.name != "OriginateResponse":
            shape.misc.append(item)
            continue
        primary = frame.get("Channel") or frame.get("DestChannel") or frame.get("LocalOneChannel")
        role = roles.get(primary or "", "-")
        if frame.name in FLOATING:
            shape.floating.setdefault(role, Counter())[item] += 1
        elif frame.name.startswith("QueueMember"):
            shape.members.setdefault(frame["Interface"], []).append(item)
        elif primary:
            shape.channels.setdefault(role, []).append(item)
        elif frame.name.startswith("Bridge"):
            shape.bridges.setdefault(frame["BridgeUniqueid"], []).append(item)
        else:
            shape.misc.append(item)
    shape.local_devices = {device: states[-1] for device, states in local_devices.items()}
    for items in shape.channels.values():
        _settle_races(items)
    # Bridges are told apart by the order they were created in, not by their ids.
    shape.bridges = {str(i): items for i, items in enumerate(shape.bridges.values())}
    return shape


# Adjacent events of one channel that two threads publish in either order; kept in this order.
_RACES = (("AgentComplete", "VarSet"),)


def _settle_races(items: list[Item]) -> None:
    for index in range(len(items) - 1):
        first, second = items[index], items[index + 1]
        for before, after in _RACES:
            if first[0] == after and second[0] == before and first[2] == "BRIDGEPEER":
                items[index], items[index + 1] = second, first


def _name(item: Item) -> str:
    return item[0] + (f":{item[2]}" if item[2] else "")


def _compare_sequences(label: str, expected: list[Item], got: list[Item], out: list[str]) -> None:
    if expected == got:
        return
    names_expected, names_got = list(map(_name, expected)), list(map(_name, got))
    if names_expected == names_got:
        for want, have in zip(expected, got, strict=True):
            if want != have:
                out.append(f"{label}: {_name(want)} headers differ: {sorted(want[1] ^ have[1])}")
                return
    diff = difflib.unified_diff(
        names_expected, names_got, "recorded", "simulated", lineterm="", n=2
    )
    out.append(f"{label}:\n    " + "\n    ".join(list(diff)[2:40]))


def differences(expected: Shape, got: Shape) -> list[str]:
    """Human-readable differences; empty when the shapes agree."""
    out: list[str] = []
    for role in sorted(set(expected.channels) | set(got.channels)):
        _compare_sequences(
            f"channel {role}", expected.channels.get(role, []), got.channels.get(role, []), out
        )
    for role in sorted(set(expected.floating) | set(got.floating)):
        want, have = expected.floating.get(role, Counter()), got.floating.get(role, Counter())
        if want != have:
            out.append(
                f"floating events of {role}: recorded {sorted(map(_name, want.elements()))}, "
                f"simulated {sorted(map(_name, have.elements()))}"
            )
    for device in sorted(set(expected.devices) | set(got.devices)):
        want_states, have_states = expected.devices.get(device), got.devices.get(device)
        if want_states != have_states:
            out.append(f"device {device}: recorded {want_states}, simulated {have_states}")
    if expected.local_devices != got.local_devices:
        out.append(
            f"Local devices: recorded {expected.local_devices}, simulated {got.local_devices}"
        )
    for member in sorted(set(expected.members) | set(got.members)):
        _compare_sequences(
            f"member {member}", expected.members.get(member, []), got.members.get(member, []), out
        )
    for bridge in sorted(set(expected.bridges) | set(got.bridges)):
        _compare_sequences(
            f"bridge {bridge}", expected.bridges.get(bridge, []), got.bridges.get(bridge, []), out
        )
    _compare_sequences("responses and lists", expected.misc, got.misc, out)
    return out
