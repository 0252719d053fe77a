"""Call transfers as Asterisk 22 performs them for AMI BlindTransfer, Atxfer and CancelAtxfer.

Followed (Asterisk source read for its behaviour; nothing copied):

* ``main/manager.c`` (action_blind_transfer, action_atxfer, action_cancel_atxfer): the header
  checks and their messages. BlindTransfer answers with the transfer's result; Atxfer and
  CancelAtxfer only queue the feature's DTMF on the channel and answer at once, what follows
  happens in the bridge (or nowhere, if the channel is in none).
* ``main/bridge.c`` ast_bridge_transfer_blind: the transferer must share a bridge with exactly
  one other party (else Result Invalid). BLINDTRANSFER is set on both; the transferee leaves
  the bridge for exten@context (an async goto; a Success does not mean anybody answers there);
  the transferer is removed and, with no dialplan to go back to, hung up. The ``BlindTransfer``
  event (``main/stasis_bridges.c`` blind_transfer_to_ami: Result, Transferer*, Transferee*,
  Bridge*, IsExternal, Context, Extension) is published whatever the result; IsExternal is Yes
  for AMI. app_queue answers it with ``AgentComplete`` Reason transfer.
* ``main/bridge_basic.c`` (the attended transfer feature and its state machine): the transferer
  puts the transferee on hold (``Hold``; the transferee hears music), the extension is checked,
  ``Local/<exten>@<context>`` is requested with the transferer as requestor, so the consultation
  channels carry the transferer's Linkedid, i.e. the customer's (``channel_internal_api.c``
  copies the requestor's linkedid), and is put in a new bridge with the transferer. Then:

  - target answers: consulting;
  - transferer hangs up: complete (or "blond" if the target still rings). The transferee and
    the target are found first, then the target bridge is merged into the transferee's, the
    transferer kicked out; ``AttendedTransfer`` Result Success (OrigTransferer*, OrigBridge*,
    SecondTransferer*, SecondBridge*, Transferee*, TransferTarget*, IsExternal No, DestType
    Bridge, DestBridgeUniqueid = the transferee's bridge); app_queue reports AgentComplete
    Reason transfer;
  - abort DTMF (CancelAtxfer), target hangs up, or no answer within atxfernoanswertimeout:
    rebridge: the transferer goes back (``Unhold``), the target bridge is destroyed and the
    consultation hung up; no event;
  - transferee hangs up: while the target still rings, ``AttendedTransfer`` Result Fail and
    everything ends; once it answered, transferer and target go on talking.

The features.conf settings are those of config/asterisk/features.conf (atxfer and abort codes
configured, atxferdropcall = yes, atxfernoanswertimeout = 15); the permission the Queue()/Dial()
options t/T give is assumed.

Not modelled: Local channel optimisation after the merge (the consultation's Local pair stays
until the call ends instead of optimising away), the atxferdropcall=no recall of the transferer
when a "blond" transfer target does not answer, three-way and swap DTMF, DTMF events, transfers
in bridges of more than two parties or out of a consultation bridge (answered "Transfer not
permitted"), and a customer hanging up during a click-to-call consultation (there the agent's
Dial() ends with the customer instead of leaving agent and target talking).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbxsim.channels import Channel
from pbxsim.events import Part
from pbxsim.legs import TRANSFER, DialLeg
from pbxsim.process import Signal, Steps, Wait

if TYPE_CHECKING:
    from pbxsim.bridges import Bridge
    from pbxsim.pbx import Pbx
    from pbxsim.runtime import Runtime

SUCCESS, INVALID, NOT_PERMITTED, FAIL = "Success", "Invalid", "Not Permitted", "Fail"

# features.conf: how long the transfer target may ring before the transferer is put back with
# the transferee; what an unknown extension costs (retry prompts, two more digit timeouts).
ATXFER_NO_ANSWER_TIMEOUT = 15.0
INVALID_EXTENSION_DELAY = 6.0


# -- blind ------------------------------------------------------------------------------------


def blind_transfer(runtime: Runtime, transferer: Channel, context: str, exten: str) -> str:
    """Transfer the party bridged with ``transferer`` to exten@context; the Result."""
    pbx = runtime.pbx
    bridge = transferer.bridge
    if bridge is None or len(bridge.channels) < 2:
        result = INVALID
    elif bridge.transfer is not None:
        result = NOT_PERMITTED  # a consultation bridge: not modelled, refused rather than mangled
    elif len(bridge.channels) > 2:
        result = FAIL  # multi-party bridges are not modelled
    else:
        result = SUCCESS
    transferee = None
    if result == SUCCESS and bridge is not None:
        transferee = bridge.other(transferer)
        peer = transferer.variables.get("BRIDGEPEER", "")
        for member in list(bridge.channels):
            pbx.set_var(member, "BLINDTRANSFER", peer if member is transferer else transferer.name)
    parts: list[Part] = [("Result", result), transferer.snap("Transferer")]
    if transferee is not None:
        parts.append(transferee.snap("Transferee"))
    if bridge is not None:
        parts += bridge.headers()
    parts += [("IsExternal", "Yes"), ("Context", context), ("Extension", exten)]
    pbx.emit("BlindTransfer", parts)
    if transferee is not None:
        # The transferee's async goto happens in its own thread, after the event.
        pbx.soon(_goto, runtime, transferee, context, exten)
    return result


def _goto(runtime: Runtime, channel: Channel, context: str, exten: str) -> None:
    if not channel.hung_up:
        runtime.redirect(channel, context, exten, 1)


# -- attended ---------------------------------------------------------------------------------


class AttendedTransfer:
    """One attended transfer, from the feature DTMF to its end (bridge_basic.c's properties
    and monitor thread)."""

    def __init__(self, runtime: Runtime, transferer: Channel, context: str, exten: str) -> None:
        self.runtime = runtime
        self.pbx = runtime.pbx
        self.transferer = transferer
        self.context = context
        self.exten = exten
        self.abort = Signal()  # CancelAtxfer: the abort DTMF
        self._transferer_gone = Signal()  # fired with the hangup cause by the hangup hook
        self._moh = False
        self.transferee_bridge: Bridge | None = None
        self.target_bridge: Bridge | None = None
        self.consult: DialLeg | None = None

    def start(self) -> None:
        """The feature DTMF reached the channel: act if it is in a two-party bridge."""
        x = self.transferer
        bridge = x.bridge
        if (
            x.hung_up
            or bridge is None
            or len(bridge.channels) != 2
            or bridge.transfer is not None
            or x.name in self.runtime.transfers
        ):
            return  # nothing in Asterisk acts on the DTMF either
        self.transferee_bridge = bridge
        bridge.transfer = self
        self.runtime.transfers[x.name] = self
        x.hangup_hook = self._on_transferer_hangup
        self.pbx.spawn(self._run(), name=f"atxfer {x.name}")

    def _on_transferer_hangup(self, channel: Channel, cause: int) -> None:
        self._transferer_gone.fire(cause)

    def _run(self) -> Steps:
        pbx, runtime, x = self.pbx, self.runtime, self.transferer
        b1 = self.transferee_bridge
        assert b1 is not None
        transferee = b1.other(x)
        assert transferee is not None
        try:
            self._hold(transferee)
            if not runtime.dialplan.exists(self.context, self.exten):
                yield from self._invalid_extension(transferee)
                return
            consult = runtime.request_leg(
                f"Local/{self.exten}@{self.context}",
                requester=TRANSFER,
                caller=x,
                linkedid=x.linkedid,
            )
            if consult is None:
                self._unhold(transferee)
                return
            self.consult = consult
            b2 = self.target_bridge = pbx.bridge_create()
            b2.transfer = self
            pbx.bridge_enter(b2, consult.channel)
            pbx.bridge_leave(b1, x)
            pbx.bridge_enter(b2, x)
            runtime.start_far_end(consult)
            answered = False
            while True:
                signals = [
                    consult.hungup,
                    self.abort,
                    self._transferer_gone,
                    x.ended,
                    transferee.ended,
                ]
                if not answered:
                    signals.append(consult.answered)
                timeout = None if answered else ATXFER_NO_ANSWER_TIMEOUT
                fired, value = yield Wait(tuple(signals), timeout)
                if fired is consult.answered:
                    answered = True
                    continue
                break
            if fired is self._transferer_gone or fired is x.ended:
                self._complete(transferee, int(value) if fired is self._transferer_gone else 16)
            elif fired is transferee.ended:
                self._transferee_gone(answered)
            else:  # aborted, target gone, or no answer in time
                self._rebridge(transferee)
        finally:
            self._forget()

    def _invalid_extension(self, transferee: Channel) -> Steps:
        """Retry prompts and digit timeouts, then the transferer is back with the transferee."""
        x = self.transferer
        fired, value = yield Wait(
            (self._transferer_gone, x.ended, transferee.ended), INVALID_EXTENSION_DELAY
        )
        x.hangup_hook = None
        if fired is self._transferer_gone:
            self.pbx.deliver_hangup(x, int(value))  # still bridged: an ordinary hangup
        elif fired is None:
            self._unhold(transferee)

    def _complete(self, transferee: Channel, cause: int) -> None:
        """The transferer hung up: merge the target bridge into the transferee's."""
        pbx, x, consult = self.pbx, self.transferer, self.consult
        b1, b2 = self.transferee_bridge, self.target_bridge
        assert b1 is not None and b2 is not None and consult is not None
        # The parties are found before the merge (bridge_basic.c get_transfer_parties).
        target = b2.other(x)
        lone = b1.channels[0] if len(b1.channels) == 1 else None
        self._music_stops(transferee)
        pbx.bridge_leave(b2, x)
        for member in list(b2.channels):
            pbx.bridge_leave(b2, member)
            pbx.bridge_enter(b1, member)
        self._attended_event(SUCCESS, lone, target, merged=True)
        b1.transfer = b2.transfer = None
        pbx.bridge_destroy(b2)
        self._hand_over(b1, transferee, consult)
        # The transferer's hangup, held back by the hook, goes on: no longer the dialler's
        # business (it talks to the target now), or the end of its own dialplan.
        x.hangup_hook = None
        if isinstance(x.watcher, DialLeg) and x.pbx is None:
            x.watcher = None
        pbx.deliver_hangup(x, cause)

    def _hand_over(self, bridge: Bridge, transferee: Channel, consult: DialLeg) -> None:
        process = transferee.pbx
        if bridge.owner is transferee and process is not None and process.alive:
            bridge.handover.fire(consult)  # the transferee's Queue/Dial follows the target now
            return
        # The transferer's own application held the bridge (click-to-call): supervise it.
        bridge.owner = None
        legs = [consult]
        if isinstance(transferee.watcher, DialLeg):
            legs.append(transferee.watcher)
        self.pbx.spawn(supervise(self.pbx, bridge, legs), name=f"bridge {bridge.uniqueid}")

    def _rebridge(self, transferee: Channel) -> None:
        """Cancelled: the transferer talks to the transferee again, the consultation ends."""
        pbx, x, consult = self.pbx, self.transferer, self.consult
        b1, b2 = self.transferee_bridge, self.target_bridge
        assert b1 is not None and b2 is not None and consult is not None
        pbx.bridge_leave(b2, x)
        pbx.bridge_enter(b1, x)
        self._unhold(transferee)
        x.hangup_hook = None
        b1.transfer = None
        for member in list(b2.channels):
            pbx.bridge_leave(b2, member)
        consult.cancel(16)
        pbx.bridge_destroy(b2)

    def _transferee_gone(self, answered: bool) -> None:
        pbx, x, consult = self.pbx, self.transferer, self.consult
        b2 = self.target_bridge
        assert b2 is not None and consult is not None
        x.hangup_hook = None
        b2.transfer = None
        x_leg = x.watcher if isinstance(x.watcher, DialLeg) else None
        if answered:
            # Transferer and target go on talking; nobody's application holds their bridge.
            legs = [consult] + ([x_leg] if x_leg is not None else [])
            pbx.spawn(supervise(pbx, b2, legs), name=f"bridge {b2.uniqueid}")
            return
        self._attended_event(FAIL, None, b2.other(x), merged=False)
        for member in list(b2.channels):
            pbx.bridge_leave(b2, member)
        consult.cancel(16)
        if x_leg is not None:
            x_leg.cancel(16)
        else:
            pbx.request_hangup(x, 16)
        pbx.bridge_destroy(b2)

    def _forget(self) -> None:
        x = self.transferer
        if x.hangup_hook == self._on_transferer_hangup:
            x.hangup_hook = None
        if self.runtime.transfers.get(x.name) is self:
            del self.runtime.transfers[x.name]
        for bridge in (self.transferee_bridge, self.target_bridge):
            if bridge is not None and bridge.transfer is self:
                bridge.transfer = None

    # -- events -------------------------------------------------------------------------------

    def _hold(self, transferee: Channel) -> None:
        self.pbx.emit("Hold", self.transferer.snap())
        if not transferee.hung_up:
            self.pbx.emit("MusicOnHoldStart", (transferee.snap(), ("Class", "default")))
            self._moh = True

    def _unhold(self, transferee: Channel) -> None:
        if not self.transferer.hung_up:
            self.pbx.emit("Unhold", self.transferer.snap())
        self._music_stops(transferee)

    def _music_stops(self, transferee: Channel) -> None:
        if self._moh and not transferee.hung_up:
            self.pbx.emit("MusicOnHoldStop", transferee.snap())
        self._moh = False

    def _attended_event(
        self, result: str, transferee: Channel | None, target: Channel | None, *, merged: bool
    ) -> None:
        x, b1, b2 = self.transferer, self.transferee_bridge, self.target_bridge
        assert b1 is not None and b2 is not None
        parts: list[Part] = [
            ("Result", result),
            x.snap("OrigTransferer"),
            *b1.headers("Orig"),
            x.snap("SecondTransferer"),
            *b2.headers("Second"),
        ]
        if transferee is not None:
            parts.append(transferee.snap("Transferee"))
        if target is not None:
            parts.append(target.snap("TransferTarget"))
        parts.append(("IsExternal", "No"))
        if merged:
            parts += [("DestType", "Bridge"), ("DestBridgeUniqueid", b1.uniqueid)]
        else:
            parts.append(("DestType", "Fail"))
        self.pbx.emit("AttendedTransfer", parts)


def cancel_attended_transfer(runtime: Runtime, channel: Channel) -> None:
    """The abort DTMF: ends the consultation ``channel`` is making, if it is making one."""
    transfer = runtime.transfers.get(channel.name)
    if transfer is not None:
        transfer.abort.fire()


def supervise(pbx: Pbx, bridge: Bridge, legs: list[DialLeg]) -> Steps:
    """A basic bridge nobody's application holds: when one party leaves, it dissolves and the
    others are hung up (AST_BRIDGE_FLAG_DISSOLVE_HANGUP)."""
    fired, _ = yield Wait(tuple(leg.hungup for leg in legs))
    legs.sort(key=lambda leg: leg.hungup is not fired)  # the one who left first
    for leg in legs:
        pbx.bridge_leave(bridge, leg.channel)
        leg.cancel(16)
    pbx.bridge_destroy(bridge)
