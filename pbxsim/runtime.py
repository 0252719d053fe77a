"""The running PBX: the core, its dialplan, queues, trunks and the people around it, wired.

It answers the questions the dialplan applications ask: start the dialplan on a channel, create
an outgoing leg for a dial string (``Local/1001@agents``, ``PJSIP/1001``,
``PJSIP/+15551234567@trunk-main``), set a custom device state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pbxsim.behaviour import Behaviour
from pbxsim.channels import Channel
from pbxsim.dialplan import Apps, Dialplan
from pbxsim.farends import agent_phone, trunk_customer
from pbxsim.legs import CallerId, DialLeg, local_leg, sip_leg
from pbxsim.pbx import DEVICE_STATE_CODES, HungUp, Pbx, Redirected
from pbxsim.process import Process, Steps
from pbxsim.queues import Queues
from pbxsim.trunks import Trunks

if TYPE_CHECKING:
    from pbxsim.transfers import AttendedTransfer

Mode = Literal["local", "pjsip"]
# Lab contexts whose Local channels stand for the public network (and so use a trunk).
EXTERNAL_CONTEXTS = frozenset({"customers", "callers"})


class Runtime:
    def __init__(
        self,
        pbx: Pbx,
        *,
        dialplan: Dialplan,
        behaviour: Behaviour,
        queues: Queues,
        trunks: Trunks,
        mode: Mode = "local",
    ) -> None:
        self.pbx = pbx
        self.dialplan = dialplan
        self.behaviour = behaviour
        self.queues = queues
        self.trunks = trunks
        self.mode = mode
        self.machines: set[str] = set()  # channels answered by an answering machine
        self.congested: set[str] = set()  # far ends refused because their trunk was full
        self.did_routes: dict[str, str] = {}  # DID -> queue, for DIDs the lab dialplan lacks
        # Attended transfers in progress, by the transferer's channel name (for CancelAtxfer).
        self.transfers: dict[str, AttendedTransfer] = {}
        pbx.hangup_hooks.append(self._channel_gone)

    # -- dialplan -----------------------------------------------------------------------------

    def start_pbx(self, channel: Channel, context: str, exten: str, priority: int = 1) -> Process:
        channel.context, channel.exten, channel.priority = context, exten, priority
        self.pbx.processed_calls += 1
        channel.pbx = self.pbx.spawn(self._run_pbx(channel), name=f"pbx {channel.name}")
        return channel.pbx

    def _run_pbx(self, channel: Channel) -> Steps:
        apps = Apps(self, channel)
        while True:
            program = self.dialplan.find(channel.context, channel.exten)
            try:
                if program is not None:
                    yield from program(apps)
                break
            except Redirected as moved:
                channel.context, channel.exten, channel.priority = moved.target
                channel.hangup_requested, channel.hangup_cause = False, None
            except HungUp:
                break
        self.pbx.soft_hangup_event(channel, 16)
        handler = self.dialplan.find(channel.context, "h")
        if handler is not None:
            channel.exten, channel.priority = "h", 1
            for _ in handler(apps):  # the h extension runs to its end without waiting
                pass
        self.pbx.destroy(channel)

    def start_application(self, channel: Channel, application: str, data: str) -> Process:
        """Run one application on an answered channel (Originate with Application=)."""
        channel.pbx = self.pbx.spawn(
            self._run_application(channel, application, data), name=f"app {channel.name}"
        )
        return channel.pbx

    def _run_application(self, channel: Channel, application: str, data: str) -> Steps:
        apps = Apps(self, channel)
        name = application.lower()
        args = [part.strip() for part in data.split(",")]
        try:
            if name == "queue":
                yield from apps.queue(args[0], float(args[4]) if len(args) > 4 and args[4] else 300)
            elif name == "dial":
                yield from apps.dial(args[0], float(args[1]) if len(args) > 1 and args[1] else 60)
            elif name == "wait":
                yield from apps.wait(float(args[0] or 1))
            elif name == "playback":
                yield from apps.wait(5.0)
            elif name != "hangup":  # Echo, MusicOnHold, ...: stay until hung up
                while True:
                    yield 3600.0
        except HungUp:
            pass
        self.pbx.soft_hangup_event(channel, 16)
        self.pbx.destroy(channel)

    def redirect(self, channel: Channel, context: str, exten: str, priority: int = 1) -> None:
        """AMI Redirect: the channel leaves what it is doing and runs dialplan elsewhere."""
        if channel.pbx is not None and channel.pbx.alive:
            channel.pbx.interrupt(Redirected(context, exten, priority))
            return
        # A dialled leg without dialplan of its own: its dialler lets go of it.
        leg = channel.watcher
        channel.watcher = None
        if channel.bridge is not None:
            self.pbx.bridge_leave(channel.bridge, channel)
        if isinstance(leg, DialLeg):
            leg.hungup.fire(16)
        self.start_pbx(channel, context, exten, priority)

    def set_custom_device_state(self, device: str, state: str) -> None:
        state = state.upper()
        if state not in DEVICE_STATE_CODES:
            raise ValueError(f"unknown device state {state!r}")
        self.pbx.set_device_state(device, state)

    # -- legs ---------------------------------------------------------------------------------

    def request_leg(
        self,
        dial_string: str,
        *,
        requester: str,
        caller: Channel | None = None,
        caller_id: CallerId | None = None,
        variables: tuple[tuple[str, str], ...] = (),
        linkedid: str | None = None,
        uniqueids: tuple[str | None, str | None] = (None, None),
    ) -> DialLeg | None:
        """An outgoing leg for ``dial_string``, or None if no channel driver can place it."""
        tech, _, rest = dial_string.partition("/")
        if tech == "Local":
            exten, _, context = rest.split("/", 1)[0].partition("@")
            if not exten or not self.dialplan.has_context(context or "default"):
                return None
            leg = local_leg(
                self.pbx,
                exten=exten,
                context=context or "default",
                requester=requester,
                caller=caller,
                caller_id=caller_id,
                variables=variables,
                linkedid=linkedid,
                uniqueids=uniqueids,
            )
            if context in EXTERNAL_CONTEXTS and leg.far is not None:
                self._take_trunk(leg.far, self.trunks.default)
            return leg
        if tech == "PJSIP" and rest:
            endpoint, at, host = rest.partition("@")
            if at and host in self.trunks.trunks:
                leg = sip_leg(
                    self.pbx,
                    endpoint=host,
                    device=f"PJSIP/{host}",
                    dialled=endpoint,
                    requester=requester,
                    context="from-trunk",
                    caller=caller,
                    caller_id=caller_id,
                    variables=variables,
                    linkedid=linkedid,
                    uniqueid=uniqueids[0],
                )
                self._take_trunk(leg.channel, host)
                return leg
            if at or endpoint in self.trunks.trunks:
                return None
            return sip_leg(
                self.pbx,
                endpoint=endpoint,
                device=f"PJSIP/{endpoint}",
                dialled=endpoint,
                requester=requester,
                context="agents",
                caller=caller,
                caller_id=caller_id,
                variables=variables,
                linkedid=linkedid,
                uniqueid=uniqueids[0],
            )
        return None

    def start_far_end(self, leg: DialLeg) -> None:
        """Let whoever is at the other end of the leg act: dialplan on ``;2``, or a person."""
        if leg.far is not None:
            self.start_pbx(leg.far, leg.far.context, leg.far.exten)
        elif leg.channel.device.removeprefix("PJSIP/") in self.trunks.trunks:
            self.pbx.spawn(trunk_customer(self, leg), name=f"far end {leg.channel.name}")
        else:
            self.pbx.spawn(agent_phone(self, leg), name=f"phone {leg.channel.name}")

    def _take_trunk(self, channel: Channel, trunk: str | None) -> None:
        if trunk is None:
            return
        if self.trunks.acquire(trunk):
            channel.trunk = trunk
        else:
            self.congested.add(channel.name)

    def _channel_gone(self, channel: Channel) -> None:
        if channel.trunk is not None:
            self.trunks.release(channel.trunk)
            channel.trunk = None
        self.machines.discard(channel.name)
        self.congested.discard(channel.name)
