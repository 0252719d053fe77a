"""Channels as the simulator keeps them, and the AMI headers that describe them.

A channel is one leg of a call: ``Local/1001@agents-00000001;1``, ``PJSIP/1001-0000000a``,
``PJSIP/trunk-main-0000000b``. Its snapshot (``Channel``, ``ChannelState``, ... ``Linkedid``) is
the block of headers Asterisk repeats in every channel event, optionally with a prefix
(``DestChannel``, ``LocalOneChannel``).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from cti.ami.framing import serialise
from pbxsim.events import Header, Snapshot
from pbxsim.process import Signal

if TYPE_CHECKING:
    from pbxsim.bridges import Bridge
    from pbxsim.process import Process

UNKNOWN = "<unknown>"


class ChannelState(IntEnum):
    DOWN = 0
    RESERVED = 1
    OFFHOOK = 2
    DIALING = 3
    RING = 4
    RINGING = 5
    UP = 6
    BUSY = 7


STATE_DESC: dict[int, str] = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
}


class Cause(IntEnum):
    """Q.850 hangup causes the simulator uses."""

    NOT_DEFINED = 0
    UNALLOCATED = 1
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONSE = 18
    NO_ANSWER = 19
    CALL_REJECTED = 21
    CONGESTION = 34


CAUSE_TEXT: dict[int, str] = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    34: "Circuit/channel congestion",
}

PRES_ALLOWED = 0
PRES_PROHIBITED = 35  # CALLERID(pres)=prohib: prohibited, network number
PRES_TEXT: dict[int, str] = {
    0: "Presentation Allowed, Not Screened",
    35: "Presentation Prohibited, Network Number",
}


class Channel:
    """One channel and everything the simulator needs to know about it."""

    __slots__ = (
        "_connected",
        "_ended",
        "_snaps",
        "account_code",
        "answered_at",
        "app_data",
        "application",
        "bridge",
        "caller_name",
        "caller_num",
        "caller_pres",
        "chan_vars",
        "connected_name",
        "connected_num",
        "context",
        "created_at",
        "device",
        "dtmf",
        "exten",
        "hangup_cause",
        "hangup_hook",
        "hangup_requested",
        "hung_up",
        "language",
        "linkedid",
        "name",
        "pbx",
        "peer",
        "priority",
        "state",
        "tech",
        "trunk",
        "uniqueid",
        "variables",
        "watcher",
    )

    def __init__(
        self,
        *,
        name: str,
        uniqueid: str,
        linkedid: str,
        tech: str,
        device: str,
        state: ChannelState,
        context: str,
        exten: str,
        created_at: float,
    ) -> None:
        self.name = name
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.tech = tech
        self.device = device  # the device whose state this channel counts towards
        self.state = state
        self.caller_num = ""
        self.caller_name = ""
        self.caller_pres = PRES_ALLOWED
        self.connected_num = ""
        self.connected_name = ""
        self.language = "en"
        self.account_code = ""
        self.dtmf = ""  # what the caller will key in when the dialplan reads digits
        self.chan_vars: tuple[str, ...] = ()  # manager.conf channelvars (Pbx.channel_vars)
        self.context = context
        self.exten = exten
        self.priority = 1
        self.variables: dict[str, str] = {}
        self.application = ""
        self.app_data = ""
        self.bridge: Bridge | None = None
        self.created_at = created_at
        self.answered_at: float | None = None
        self.peer: Channel | None = None  # the other half of a Local pair
        self.pbx: Process | None = None  # the dialplan this channel runs, if any
        self.watcher: Any = None  # whoever dialled this channel (originate, Dial, Queue)
        self.hangup_cause: int | None = None
        # Called instead of the usual hangup delivery while a bridge feature (an attended
        # transfer) must see the hangup first: Asterisk's bridge hangup hooks.
        self.hangup_hook: Callable[[Channel, int], None] | None = None
        self.hangup_requested = False
        self.hung_up = False
        # Made when someone waits for them: most channels never need them.
        self._connected: Signal | None = None
        self._ended: Signal | None = None
        self.trunk: str | None = None
        self._snaps: dict[str, tuple[tuple[object, ...], Snapshot]] = {}

    @property
    def connected(self) -> Signal:
        """Fired when the channel enters a bridge with another party."""
        if self._connected is None:
            self._connected = Signal()
        return self._connected

    @property
    def ended(self) -> Signal:
        """Fired when the channel is gone (its Hangup)."""
        if self._ended is None:
            self._ended = Signal()
        return self._ended

    def fire_connected(self, value: object) -> None:
        if self._connected is not None:
            self._connected.fire(value)

    def fire_ended(self) -> None:
        self._snaps.clear()
        if self._ended is not None:
            self._ended.fire(self)

    @property
    def local_half(self) -> int | None:
        if self.tech != "Local":
            return None
        return 1 if self.name.endswith(";1") else 2

    def caller_all(self) -> str:
        """``"Name" <number>`` as ``${CALLERID(all)}`` shows it."""
        num = self.caller_num or UNKNOWN
        return f'"{self.caller_name}" <{num}>' if self.caller_name else f"<{num}>"

    def snapshot(self, prefix: str = "") -> list[Header]:
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(int(self.state))),
            (f"{prefix}ChannelStateDesc", STATE_DESC.get(int(self.state), "Unknown")),
            (f"{prefix}CallerIDNum", self.caller_num or UNKNOWN),
            (f"{prefix}CallerIDName", self.caller_name or UNKNOWN),
            (f"{prefix}ConnectedLineNum", self.connected_num or UNKNOWN),
            (f"{prefix}ConnectedLineName", self.connected_name or UNKNOWN),
            (f"{prefix}Language", self.language),
            (f"{prefix}AccountCode", self.account_code),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
            *(
                (f"{prefix}ChanVariable", f"{name}={self.variables.get(name, '')}")
                for name in self.chan_vars
            ),
        ]

    def snap(self, prefix: str = "") -> Snapshot:
        """The snapshot headers with their wire bytes, reused while the channel is unchanged
        (most events of a channel repeat the same snapshot: serialising it once saves time)."""
        key = (
            int(self.state),
            self.caller_num,
            self.caller_name,
            self.connected_num,
            self.connected_name,
            self.account_code,
            self.context,
            self.exten,
            self.priority,
            self.linkedid,
            self.name,
            self.uniqueid,
            self.language,
            self._chan_var_values(),
        )
        cached = self._snaps.get(prefix)
        if cached is not None and cached[0] == key:
            return cached[1]
        headers = self.snapshot(prefix)
        snapshot = Snapshot(headers, serialise(headers)[:-2])
        if prefix in ("", "Dest"):  # the blocks events repeat; LocalOne/LocalTwo come once
            self._snaps[prefix] = (key, snapshot)
        return snapshot

    def _chan_var_values(self) -> tuple[str, ...]:
        if not self.chan_vars:  # the usual case: nothing to build on every event
            return ()
        return tuple(self.variables.get(name, "") for name in self.chan_vars)

    def __repr__(self) -> str:
        return f"Channel({self.name!r})"
