"""Outgoing legs: the channel a dialler (Originate, Dial, Queue) creates, and its far end.

Two channel drivers:

* ``Local/<exten>@<context>``: a pair of channels. ``;1`` is the outgoing leg the dialler holds;
  ``;2`` runs the dialplan at ``exten@context``, which plays the far end (an agent phone that
  rings and answers, a customer who is busy). ``LocalBridge`` ties the two halves. This is how the
  recorded lab traces look.
* ``PJSIP/<endpoint>`` (an agent's phone) or ``PJSIP/<number>@<trunk>`` (the public network): a
  single channel whose far end is a simulated device or person, without dialplan chatter.

Whatever the driver, the dialler sees the same ``DialLeg``: signals for ringing, answer, failure
(busy, congestion) and hangup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pbxsim.channels import Channel, ChannelState
from pbxsim.process import Signal

if TYPE_CHECKING:
    from pbxsim.pbx import Pbx

ORIGINATE, QUEUE, DIAL = "originate", "queue", "dial"
# An attended transfer's consultation: bridge_basic.c requests ``Local/<exten>@<context>``
# itself (no dial application), with the transferer as requestor.
TRANSFER = "transfer"
_REQUESTER_APP = {ORIGINATE: "AppDial2", QUEUE: "AppQueue", DIAL: "AppDial"}
OUTGOING_LINE = "(Outgoing Line)"


@dataclass(frozen=True, slots=True)
class CallerId:
    number: str = ""
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> CallerId:
        """``"Name" <number>``, ``Name <number>``, ``<number>`` or a bare number."""
        text = text.strip()
        if "<" in text and text.endswith(">"):
            name, _, number = text[:-1].rpartition("<")
            return cls(number.strip(), name.strip().strip('"').strip())
        return cls(text, "")


@dataclass
class DialLeg:
    """An outgoing channel as its dialler sees it."""

    pbx: Pbx
    channel: Channel
    requester: str
    caller: Channel | None = None
    far: Channel | None = None  # the ;2 half of a Local pair
    dial_string: str = ""
    on_ringing: Callable[[DialLeg], None] | None = None
    rang_at: float | None = None  # when the far end started ringing
    # Signals, made when first waited for or fired (a leg rarely needs all of them).
    _signals: dict[str, Signal] = field(default_factory=dict)

    def _signal(self, name: str) -> Signal:
        signal = self._signals.get(name)
        if signal is None:
            signal = self._signals[name] = Signal()
        return signal

    @property
    def answered(self) -> Signal:
        return self._signal("answered")

    @property
    def failed(self) -> Signal:
        """Fired with "BUSY" or "CONGESTION"."""
        return self._signal("failed")

    @property
    def hungup(self) -> Signal:
        """Fired with the cause when the far end hangs the channel up."""
        return self._signal("hungup")

    # Called by the far end ------------------------------------------------------------------

    def remote_ringing(self) -> None:
        if self.rang_at is not None or self.channel.hung_up:
            return
        pbx = self.pbx
        pbx.set_state(self.channel, ChannelState.RINGING)
        if self.requester == QUEUE and self.caller is not None and self.far is not None:
            # app_queue re-publishes its outgoing Local half when the ring indication arrives.
            pbx.newexten(self.channel, "AppQueue", OUTGOING_LINE)
            pbx.set_connected_line(self.channel, self.caller.caller_num, self.caller.caller_name)
        self.rang_at = pbx.clock.now()
        if self.on_ringing is not None:
            self.on_ringing(self)

    def remote_answered(self) -> None:
        if self.answered.fired or self.channel.hung_up:
            return
        self.pbx.set_state(self.channel, ChannelState.UP)
        self.answered.fire(self)

    def remote_failed(self, status: str) -> None:
        if not self.failed.fired and not self.channel.hung_up:
            self.failed.fire(status)

    # LegWatcher -------------------------------------------------------------------------------

    def hangup_requested(self, channel: Channel, cause: int) -> None:
        self.hungup.fire(cause)

    # Called by the dialler --------------------------------------------------------------------

    def cancel(self, cause: int) -> None:
        """The dialler hangs its leg up (timeout, caller gone, call over) unless a Redirect
        took the channel away from it."""
        if self.channel.watcher is self:
            self.pbx.destroy(self.channel, cause)


def local_leg(
    pbx: Pbx,
    *,
    exten: str,
    context: str,
    requester: str,
    caller: Channel | None = None,
    caller_id: CallerId | None = None,
    variables: tuple[tuple[str, str], ...] = (),
    linkedid: str | None = None,
    uniqueids: tuple[str | None, str | None] = (None, None),
) -> DialLeg:
    """Create a Local pair with the events a real ``Local/<exten>@<context>`` request gives.

    The ``;2`` half is returned in ``leg.far``; the caller of this function starts its dialplan.
    """
    suffix = pbx.next_channel_suffix()
    base = f"Local/{exten}@{context}-{suffix}"
    device = f"Local/{exten}@{context}"
    one = pbx.new_channel(
        f"{base};1",
        tech="Local",
        device=device,
        state=ChannelState.DOWN,
        context=context,
        exten=exten,
        linkedid=linkedid,
        uniqueid=uniqueids[0],
    )
    two = pbx.new_channel(
        f"{base};2",
        tech="Local",
        device=device,
        state=ChannelState.RING,
        context=context,
        exten=exten,
        linkedid=one.linkedid,
        uniqueid=uniqueids[1],
    )
    one.peer, two.peer = two, one
    leg = DialLeg(pbx, one, requester, caller=caller, far=two, dial_string=f"{exten}@{context}")
    one.watcher = leg
    pbx.announce(one)
    pbx.announce(two)
    peer_number = f"{exten}@{context}"
    if requester == DIAL:
        pbx.set_var(one, "DIALEDPEERNUMBER", peer_number)
    if requester != TRANSFER:  # nothing runs an application on a transfer's ;1 half
        pbx.newexten(one, _REQUESTER_APP[requester], OUTGOING_LINE)
    if requester != ORIGINATE:
        pbx.skip_cdr(one)  # a dialled leg is on its caller's CDR
    if requester == ORIGINATE:
        _originate_identity(pbx, one, two, caller_id, variables)
    elif requester == TRANSFER and caller is not None:
        _transfer_identity(pbx, one, two, caller)
    elif caller is not None:
        _dialled_identity(pbx, one, two, caller, requester, peer_number)
    pbx.emit(
        "LocalBridge",
        (
            one.snap("LocalOne"),
            two.snap("LocalTwo"),
            ("Context", context),
            ("Exten", exten),
            ("LocalOptimization", "Yes"),
        ),
    )
    return leg


def _originate_identity(
    pbx: Pbx,
    one: Channel,
    two: Channel,
    caller_id: CallerId | None,
    variables: tuple[tuple[str, str], ...],
) -> None:
    plain = [(name, value) for name, value in variables if "(" not in name]
    for name, value in variables:
        if name.upper() == "CDR(ACCOUNTCODE)":
            pbx.set_account_code(one, value)
        elif "(" not in name:
            pbx.set_var(one, name, value)
    if caller_id is not None:
        pbx.set_caller_id(one, caller_id.number, caller_id.name)
        pbx.set_connected_line(one, caller_id.number, caller_id.name)
    for name, value in plain:
        pbx.set_var(two, name, value)
    if caller_id is not None:
        two.connected_num, two.connected_name = caller_id.number, caller_id.name
        pbx.set_caller_id(two, caller_id.number, caller_id.name)
        pbx.set_connected_line(two, caller_id.number, caller_id.name)


def _transfer_identity(pbx: Pbx, one: Channel, two: Channel, transferer: Channel) -> None:
    """bridge_basic.c ``dial_transfer``: who transfers is named on the ;1 half, whose connected
    line is the transferer's caller ID; calling the Local channel passes that to ;2 as caller."""
    pbx.set_var(one, "TRANSFERERNAME", transferer.name)
    pbx.set_var(one, "ATTENDEDTRANSFER", transferer.name)
    one.connected_num, one.connected_name = transferer.caller_num, transferer.caller_name
    two.caller_pres = transferer.caller_pres
    two.caller_num, two.caller_name = transferer.caller_num, transferer.caller_name


def _dialled_identity(
    pbx: Pbx, one: Channel, two: Channel, caller: Channel, requester: str, peer_number: str
) -> None:
    one.caller_pres = caller.caller_pres
    pbx.set_caller_id(one, caller.caller_num, caller.caller_name)
    if requester == QUEUE:
        pbx.set_var(one, "DIALEDPEERNUMBER", peer_number)
        pbx.set_var(two, "DIALEDPEERNUMBER", peer_number)
    else:
        if caller.account_code:
            pbx.set_account_code(one, caller.account_code)
        pbx.set_connected_line(one, caller.caller_num, caller.caller_name)
        pbx.set_var(two, "DIALEDPEERNUMBER", peer_number)
    two.caller_pres = caller.caller_pres
    two.connected_num, two.connected_name = caller.caller_num, caller.caller_name
    pbx.set_caller_id(two, caller.caller_num, caller.caller_name)
    if requester == DIAL and caller.account_code:
        pbx.set_account_code(two, caller.account_code)
    pbx.set_connected_line(two, caller.caller_num, caller.caller_name)


def sip_leg(
    pbx: Pbx,
    *,
    endpoint: str,
    device: str,
    dialled: str,
    requester: str,
    context: str,
    caller: Channel | None = None,
    caller_id: CallerId | None = None,
    variables: tuple[tuple[str, str], ...] = (),
    linkedid: str | None = None,
    uniqueid: str | None = None,
) -> DialLeg:
    """Create one outgoing ``PJSIP/<endpoint>-XXXXXXXX`` channel (an agent phone or a trunk)."""
    name = f"PJSIP/{endpoint}-{pbx.next_channel_suffix()}"
    channel = pbx.new_channel(
        name,
        tech="PJSIP",
        device=device,
        state=ChannelState.DOWN,
        context=context,
        exten="s",
        linkedid=linkedid,
        uniqueid=uniqueid,
    )
    leg = DialLeg(pbx, channel, requester, caller=caller, dial_string=dialled)
    channel.watcher = leg
    pbx.announce(channel)
    if requester != ORIGINATE:
        pbx.skip_cdr(channel)
        pbx.set_var(channel, "DIALEDPEERNUMBER", dialled)
    for name_, value in variables:
        if name_.upper() == "CDR(ACCOUNTCODE)":
            pbx.set_account_code(channel, value)
        elif "(" not in name_:
            pbx.set_var(channel, name_, value)
    if caller is not None:
        channel.caller_pres = caller.caller_pres
        pbx.set_caller_id(channel, caller.caller_num, caller.caller_name)
        pbx.set_connected_line(channel, caller.caller_num, caller.caller_name)
    elif caller_id is not None:
        pbx.set_caller_id(channel, caller_id.number, caller_id.name)
        pbx.set_connected_line(channel, caller_id.number, caller_id.name)
    return leg
