"""``Dial(<target>,<timeout>)``: ring one channel, bridge it on answer, report DIALSTATUS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbxsim.behaviour import seconds_text
from pbxsim.channels import ChannelState
from pbxsim.legs import DIAL, OUTGOING_LINE, DialLeg
from pbxsim.pbx import HungUp
from pbxsim.process import Steps, Wait

if TYPE_CHECKING:
    from pbxsim.bridges import Bridge
    from pbxsim.dialplan import Apps

_RESET_VARIABLES = (
    "DIALSTATUS",
    "DIALEDPEERNUMBER",
    "DIALEDPEERNAME",
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
    "PROGRESSTIME",
    "PROGRESSTIME_MS",
)


def run_dial(a: Apps, target: str, timeout: float) -> Steps:
    runtime, pbx, caller = a.runtime, a.pbx, a.channel
    pbx.newexten(caller, "Dial", f"{target},{seconds_text(timeout)}")
    for name in _RESET_VARIABLES:
        pbx.set_var(caller, name, "")
    started = pbx.clock.now()
    leg = runtime.request_leg(target, requester=DIAL, caller=caller, linkedid=caller.linkedid)
    if leg is None:
        pbx.set_var(caller, "DIALSTATUS", "CHANUNAVAIL")
        a._next()
        return "CHANUNAVAIL"
    callee = leg.channel
    dial_string = target.split("/", 1)[-1]
    pbx.emit("DialBegin", (caller.snap(), callee.snap("Dest"), ("DialString", dial_string)))
    pbx.cdr_dial_begin(caller, callee)

    def ringing(_leg: DialLeg) -> None:
        ring = pbx.clock.now() - started
        pbx.set_var(caller, "RINGTIME", str(int(ring)))
        pbx.set_var(caller, "RINGTIME_MS", str(int(ring * 1000)))
        pbx.emit(
            "DialState",
            (caller.snap(), callee.snap("Dest"), ("DialStatus", "RINGING")),
        )
        own_leg = a.leg
        if own_leg is not None:  # Dial indicates ringing to its caller: a Local ;2 passes it on
            own_leg.remote_ringing()

    leg.on_ringing = ringing
    runtime.start_far_end(leg)
    try:
        fired, value = yield Wait((leg.answered, leg.failed, leg.hungup), timeout)
    except HungUp:
        _end(a, leg, "CANCEL")
        pbx.set_var(caller, "DIALSTATUS", "CANCEL")
        raise
    if fired is leg.answered:
        yield from _bridged(a, leg, dial_string, started)
    if fired is leg.failed:
        status = str(value)
    elif fired is leg.hungup:
        status = "CHANUNAVAIL"
    else:
        status = "NOANSWER"
    _end(a, leg, status)
    pbx.set_var(caller, "DIALSTATUS", status)
    a._next()
    return status


def _end(a: Apps, leg: DialLeg, status: str) -> None:
    pbx = a.pbx
    pbx.emit(
        "DialEnd",
        (a.channel.snap(), leg.channel.snap("Dest"), ("DialStatus", status)),
    )
    pbx.cdr_dial_end(a.channel, status, None)
    leg.cancel(0)


def _bridged(a: Apps, leg: DialLeg, dial_string: str, started: float) -> Steps:
    """Answered: bridge both parties until one hangs up; then Dial ends the caller's call too.

    An attended transfer by the called party hands the bridge over (``Bridge.handover``): the
    caller then talks to the transfer target, and the call ends when that one hangs up. A
    transfer by the caller itself takes the bridge away from this Dial (``Bridge.owner``)."""
    pbx, caller, callee = a.pbx, a.channel, leg.channel
    pbx.set_var(caller, "DIALSTATUS", "ANSWER")
    pbx.set_var(caller, "DIALEDPEERNAME", callee.name)
    pbx.set_var(caller, "DIALEDPEERNUMBER", dial_string)
    pbx.emit(
        "DialEnd",
        (caller.snap(), callee.snap("Dest"), ("DialStatus", "ANSWER")),
    )
    answered_at = pbx.clock.now()
    pbx.cdr_dial_end(caller, "ANSWER", answered_at)
    _answer_caller(a)
    bridge = pbx.bridge_create()
    bridge.owner = caller
    pbx.newexten(callee, "AppDial", OUTGOING_LINE)
    pbx.bridge_enter(bridge, callee)
    pbx.bridge_enter(bridge, caller)
    pbx.set_var(callee, "BRIDGEPEER", caller.name)
    pbx.set_var(caller, "BRIDGEPEER", callee.name)
    peer = leg
    try:
        while True:
            fired, value = yield Wait((peer.hungup, bridge.handover))
            if fired is peer.hungup:
                break
            bridge.rearm_handover()
            peer = value
    finally:
        if bridge.owner is caller:
            pbx.set_var(caller, "BRIDGEPEER", "")
            pbx.set_var(peer.channel, "BRIDGEPEER", "")
            pbx.bridge_leave(bridge, caller)
            pbx.bridge_leave(bridge, peer.channel)
            cancel_unless_moved(peer, bridge)
            pbx.bridge_destroy(bridge)
        now = pbx.clock.now()
        pbx.set_var(caller, "ANSWEREDTIME", str(int(now - answered_at)))
        pbx.set_var(caller, "ANSWEREDTIME_MS", str(int((now - answered_at) * 1000)))
        pbx.set_var(caller, "DIALEDTIME", str(int(now - started)))
        pbx.set_var(caller, "DIALEDTIME_MS", str(int((now - started) * 1000)))
        pbx.set_var(caller, "DIALSTATUS", "ANSWER")
    raise HungUp(16)


def _answer_caller(a: Apps) -> None:
    """The bridge answers a caller that is not up yet (features.c pre_bridge_setup); for the
    ;2 half of a Local pair the answer reaches its ;1 half and whoever dialled that."""
    if a.channel.state == ChannelState.UP:
        return
    a.pbx.set_state(a.channel, ChannelState.UP)
    own_leg = a.leg
    if own_leg is not None:
        own_leg.remote_answered()


def cancel_unless_moved(leg: DialLeg, bridge: Bridge) -> None:
    """Hang up the dialled leg at the end of its bridge, unless an attended transfer has moved
    it into another bridge (the transferer talks to the transfer target there)."""
    channel = leg.channel
    if channel.bridge is None or channel.bridge is bridge:
        leg.cancel(16)
