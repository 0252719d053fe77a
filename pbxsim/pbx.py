"""The core of the simulated PBX: channels, device states, bridges and the events they cause.

Everything that changes the state of a channel goes through a method here that also emits the
AMI event describing the change, in the order Asterisk emits them. Higher layers (dialplan
applications, queues, originate) are written in terms of these operations.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

from pbxsim.bridges import Bridge
from pbxsim.cdr import CdrBook, cdr_headers
from pbxsim.channels import CAUSE_TEXT, PRES_TEXT, Channel, ChannelState
from pbxsim.clock import Scheduler
from pbxsim.events import Event, Part, Snapshot
from pbxsim.process import Process, Steps

log = logging.getLogger(__name__)

EventListener = Callable[[Event], None]
DeviceWatcher = Callable[[str, str], None]

# Device states, in Asterisk's numbering (the QueueMember "Status" header).
DEVICE_STATES: tuple[str, ...] = (
    "UNKNOWN",
    "NOT_INUSE",
    "INUSE",
    "BUSY",
    "INVALID",
    "UNAVAILABLE",
    "RINGING",
    "RINGINUSE",
    "ONHOLD",
)
DEVICE_STATE_CODES: dict[str, int] = {name: code for code, name in enumerate(DEVICE_STATES)}


_RINGING, _UP, _TOTAL = 0, 1, 2


class HungUp(Exception):
    """Thrown into a channel's dialplan when the channel is hung up under it."""

    def __init__(self, cause: int) -> None:
        super().__init__(cause)
        self.cause = cause


class Redirected(HungUp):
    """Thrown into a channel's dialplan by AMI Redirect: leave what it does, go elsewhere."""

    def __init__(self, context: str, exten: str, priority: int) -> None:
        super().__init__(16)
        self.target = (context, exten, priority)


class LegWatcher(Protocol):
    """Whoever dialled a channel that runs no dialplan of its own (originate, Dial, Queue)."""

    def hangup_requested(self, channel: Channel, cause: int) -> None: ...


class Pbx:
    """Channels, devices, bridges; emits the AMI events their changes cause."""

    def __init__(self, clock: Scheduler, *, id_seed: int = 0) -> None:
        self.clock = clock
        self.listeners: list[EventListener] = []
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.device_states: dict[str, str] = {}
        self.device_watchers: dict[str, list[DeviceWatcher]] = {}
        self.errors: list[BaseException] = []
        self.hangup_hooks: list[Callable[[Channel], None]] = []
        self.processed_calls = 0
        self.dialplan_events = True  # Newexten/VarSet chatter (class dialplan)
        # manager.conf channelvars: these variables ride on every channel block of an event
        # as ChanVariable: NAME=value (how a client sees IVR results without class dialplan).
        self.channel_vars: tuple[str, ...] = ()
        self._ids = random.Random(f"ids:{id_seed}")  # for bridge ids: never shared with behaviour
        self._uniqueid_counter = 0
        self._name_counter = 0
        self._device_counts: dict[str, list[int]] = {}  # device -> [ringing, up, total]
        self._cdrs: dict[str, CdrBook] = {}

    # -- events -------------------------------------------------------------------------------

    def emit(
        self, name: str, parts: Sequence[Part] | Snapshot, category: str | None = None
    ) -> None:
        """Emit an event made of header pairs and channel snapshots (``channel.snap()``)."""
        event = Event(name, parts, category=category)
        for listener in self.listeners:
            listener(event)

    def spawn(self, steps: Steps, name: str) -> Process:
        return Process(self.clock, steps, name=name, on_error=self._process_failed).start()

    def _process_failed(self, process: Process, exc: BaseException) -> None:
        self.errors.append(exc)
        log.error("simulator process %s failed", process.name, exc_info=exc)

    def soon(self, callback: Callable[..., object], *args: object) -> None:
        self.clock.call_soon(callback, *args)

    # -- identities ---------------------------------------------------------------------------

    def new_uniqueid(self) -> str:
        uid = f"{int(self.clock.wall())}.{self._uniqueid_counter}"
        self._uniqueid_counter += 1
        return uid

    def next_channel_suffix(self) -> str:
        suffix = f"{self._name_counter:08x}"
        self._name_counter += 1
        return suffix

    def new_bridge_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    # -- channels -----------------------------------------------------------------------------

    def new_channel(
        self,
        name: str,
        *,
        tech: str,
        device: str,
        state: ChannelState,
        context: str,
        exten: str,
        linkedid: str | None = None,
        uniqueid: str | None = None,
    ) -> Channel:
        """Register a channel (no event: ``announce`` emits its Newchannel)."""
        uid = uniqueid or self.new_uniqueid()
        channel = Channel(
            name=name,
            uniqueid=uid,
            linkedid=linkedid or uid,
            tech=tech,
            device=device,
            state=state,
            context=context,
            exten=exten,
            created_at=self.clock.now(),
        )
        channel.chan_vars = self.channel_vars
        self.channels[name] = channel
        return channel

    def announce(self, channel: Channel) -> None:
        self.emit("Newchannel", channel.snap())
        self._cdrs[channel.name] = CdrBook(channel, self.clock.now())
        self._device_channel_added(channel)

    def find_channel(self, name: str) -> Channel | None:
        return self.channels.get(name)

    def set_state(self, channel: Channel, state: ChannelState) -> None:
        if channel.state == state:
            return
        old, channel.state = channel.state, state
        if state == ChannelState.UP and channel.answered_at is None:
            channel.answered_at = self.clock.now()
            book = self._cdrs.get(channel.name)
            if book is not None:
                book.answered(channel.answered_at)
        self.emit("Newstate", channel.snap())
        self._device_channel_changed(channel, old)

    def set_caller_id(self, channel: Channel, number: str, name: str) -> None:
        channel.caller_num, channel.caller_name = number, name
        self.emit(
            "NewCallerid",
            (channel.snap(), ("CID-CallingPres", self.presentation(channel))),
        )

    @staticmethod
    def presentation(channel: Channel) -> str:
        pres = channel.caller_pres
        return f"{pres} ({PRES_TEXT.get(pres, 'Presentation Allowed, Not Screened')})"

    def set_connected_line(self, channel: Channel, number: str, name: str) -> None:
        channel.connected_num, channel.connected_name = number, name
        self.emit("NewConnectedLine", channel.snap())

    def set_account_code(self, channel: Channel, code: str) -> None:
        old, channel.account_code = channel.account_code, code
        self.emit("NewAccountCode", (channel.snap(), ("OldAccountCode", old)))

    def set_var(self, channel: Channel, name: str, value: str) -> None:
        channel.variables[name] = value
        if self.dialplan_events:
            self.emit("VarSet", (channel.snap(), ("Variable", name), ("Value", value)))

    def newexten(self, channel: Channel, application: str, data: str) -> None:
        """A dialplan step starts at the channel's current context/exten/priority."""
        channel.application, channel.app_data = application, data
        book = self._cdrs.get(channel.name)
        if book is not None:
            book.app(channel, application, data)
        if self.dialplan_events:
            self.emit(
                "Newexten",
                (
                    channel.snap(),
                    ("Extension", channel.exten),
                    ("Application", application),
                    ("AppData", data),
                ),
            )

    def set_application(self, channel: Channel, application: str, data: str) -> None:
        """What a channel without dialplan is doing (``AppQueue``, ``AppDial``)."""
        channel.application, channel.app_data = application, data

    # -- dialling bookkeeping (CDRs) -----------------------------------------------------------

    def cdr_dial_begin(self, caller: Channel, destination: Channel) -> None:
        book = self._cdrs.get(caller.name)
        if book is not None:
            book.dial_begin(destination)

    def cdr_dial_end(self, caller: Channel, status: str, answered_at: float | None) -> None:
        book = self._cdrs.get(caller.name)
        if book is not None:
            book.dial_end(status, answered_at)

    def cdr_failed(self, channel: Channel, disposition: str) -> None:
        book = self._cdrs.get(channel.name)
        if book is not None:
            book.failed(disposition)

    # -- hangup -------------------------------------------------------------------------------

    def request_hangup(self, channel: Channel, cause: int) -> None:
        """Another party hangs this channel up (``HangupRequest``); it reacts a moment later."""
        if channel.hung_up or channel.hangup_requested:
            return
        channel.hangup_requested = True
        if channel.hangup_cause is None:
            channel.hangup_cause = cause
        self.emit("HangupRequest", (channel.snap(), ("Cause", str(cause))))
        self.soon(self._deliver_hangup, channel, cause)

    def _deliver_hangup(self, channel: Channel, cause: int) -> None:
        if channel.hung_up:
            return
        hook = channel.hangup_hook
        if hook is not None:
            channel.hangup_hook = None  # the hook goes on with deliver_hangup when it is done
            hook(channel, cause)
            return
        self.deliver_hangup(channel, cause)

    def deliver_hangup(self, channel: Channel, cause: int) -> None:
        """The hangup reaches whoever runs the channel: its dialplan, its dialler, or nobody."""
        if channel.hung_up:
            return
        if channel.pbx is not None and channel.pbx.alive:
            channel.pbx.interrupt(HungUp(cause))
        elif channel.watcher is not None:
            channel.watcher.hangup_requested(channel, cause)
        else:
            self.destroy(channel, cause)

    def soft_hangup(self, channel: Channel, cause: int) -> None:
        """A hangup ordered from outside (AMI Hangup): ``SoftHangupRequest``, then the same."""
        if channel.hung_up or channel.hangup_requested:
            return
        channel.hangup_requested = True
        if channel.hangup_cause is None:
            channel.hangup_cause = cause
        self.soft_hangup_event(channel, cause)
        self.soon(self._deliver_hangup, channel, cause)

    def soft_hangup_event(self, channel: Channel, cause: int = 16) -> None:
        self.emit("SoftHangupRequest", (channel.snap(), ("Cause", str(cause))))

    def destroy(self, channel: Channel, cause: int | None = None) -> None:
        """The channel is gone: ``Hangup`` (and its CDRs); a Local half takes its peer along."""
        if channel.hung_up:
            return
        channel.hung_up = True
        if channel.hangup_cause is None:
            channel.hangup_cause = 16 if cause is None else cause
        final_cause = channel.hangup_cause
        peer = channel.peer
        if peer is not None and not peer.hung_up:
            self.request_hangup(peer, final_cause)
        self.emit(
            "Hangup",
            (
                channel.snap(),
                ("Cause", str(final_cause)),
                ("Cause-txt", CAUSE_TEXT.get(final_cause, "Unknown")),
            ),
        )
        self._emit_cdrs(channel)
        self.channels.pop(channel.name, None)
        self._device_channel_removed(channel)
        for hook in self.hangup_hooks:
            hook(channel)
        channel.fire_ended()

    def _emit_cdrs(self, channel: Channel) -> None:
        book = self._cdrs.pop(channel.name, None)
        if book is None:
            return
        now = self.clock.now()
        for record in book.records:
            self.emit(
                "Cdr", cdr_headers(channel, book, record, epoch=self.clock.epoch, ended_at=now)
            )

    def skip_cdr(self, channel: Channel) -> None:
        """Dialled legs are recorded on their caller's CDR, not on one of their own."""
        self._cdrs.pop(channel.name, None)

    # -- bridges ------------------------------------------------------------------------------

    def bridge_create(self) -> Bridge:
        bridge = Bridge(self.new_bridge_id(), self.clock.now())
        self.bridges[bridge.uniqueid] = bridge
        self.emit("BridgeCreate", bridge.headers())
        return bridge

    def bridge_enter(self, bridge: Bridge, channel: Channel) -> None:
        bridge.channels.append(channel)
        channel.bridge = bridge
        self.emit("BridgeEnter", (*bridge.headers(), channel.snap()))
        if len(bridge.channels) > 1:
            for member in bridge.channels:
                member.fire_connected(bridge)

    def bridge_leave(self, bridge: Bridge, channel: Channel) -> None:
        if channel not in bridge.channels:
            return
        bridge.channels.remove(channel)
        channel.bridge = None
        self.emit("BridgeLeave", (*bridge.headers(), channel.snap()))

    def bridge_destroy(self, bridge: Bridge) -> None:
        if self.bridges.pop(bridge.uniqueid, None) is None:
            return
        self.emit("BridgeDestroy", bridge.headers())

    # -- device states ------------------------------------------------------------------------

    def device_state(self, device: str) -> str:
        return self.device_states.get(device, "UNKNOWN")

    def set_device_state(self, device: str, state: str) -> None:
        if self.device_states.get(device) == state:
            return
        self.device_states[device] = state
        self.emit("DeviceStateChange", (("Device", device), ("State", state)))
        for watcher in tuple(self.device_watchers.get(device, ())):
            watcher(device, state)

    def watch_device(self, device: str, watcher: DeviceWatcher) -> None:
        self.device_watchers.setdefault(device, []).append(watcher)

    def unwatch_device(self, device: str, watcher: DeviceWatcher) -> None:
        watchers = self.device_watchers.get(device, [])
        if watcher in watchers:
            watchers.remove(watcher)

    def _device_channel_added(self, channel: Channel) -> None:
        counts = self._device_counts.setdefault(channel.device, [0, 0, 0])
        counts[_TOTAL] += 1
        self._count_state(counts, channel.state, +1)
        if channel.tech == "Local":
            self.set_device_state(channel.device, "INUSE")
        else:
            self._publish_device(channel.device, counts)

    def _device_channel_changed(self, channel: Channel, old: ChannelState) -> None:
        counts = self._device_counts.get(channel.device)
        if counts is None:
            return
        self._count_state(counts, old, -1)
        self._count_state(counts, channel.state, +1)
        if channel.tech != "Local":
            self._publish_device(channel.device, counts)

    def _device_channel_removed(self, channel: Channel) -> None:
        counts = self._device_counts.get(channel.device)
        if counts is None:
            return
        counts[_TOTAL] -= 1
        self._count_state(counts, channel.state, -1)
        if counts[_TOTAL] <= 0:
            del self._device_counts[channel.device]
        if channel.tech == "Local":
            if counts[_TOTAL] <= 0:
                self.set_device_state(channel.device, "NOT_INUSE")
        else:
            self._publish_device(channel.device, counts)

    @staticmethod
    def _count_state(counts: list[int], state: ChannelState, delta: int) -> None:
        if state == ChannelState.UP:
            counts[_UP] += delta
        elif state in (ChannelState.RING, ChannelState.RINGING):
            counts[_RINGING] += delta

    def _publish_device(self, device: str, counts: list[int]) -> None:
        """A SIP device is ringing, in use, or free according to its channels."""
        ringing, in_use = counts[_RINGING] > 0, counts[_UP] > 0
        if ringing and in_use:
            state = "RINGINUSE"
        elif ringing:
            state = "RINGING"
        elif in_use:
            state = "INUSE"
        else:
            state = "NOT_INUSE"
        self.set_device_state(device, state)

    def device_channel_count(self, device: str) -> int:
        counts = self._device_counts.get(device)
        return counts[_TOTAL] if counts else 0
