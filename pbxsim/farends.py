"""People and phones at the far end of SIP channels (production-like mode).

In the lab mode these roles are played by dialplan on the ``;2`` half of Local channels (see
``lab_dialplan``); on ``PJSIP/...`` channels they are these processes, which act through the
``DialLeg`` (ringing, answer, refusal) or hang the channel up as a SIP BYE would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbxsim.behaviour import BUSY, CONGESTION, MACHINE, NO_ANSWER, sample
from pbxsim.channels import Cause, Channel
from pbxsim.process import Steps, Wait

if TYPE_CHECKING:
    from pbxsim.legs import DialLeg
    from pbxsim.runtime import Runtime

# A 180 Ringing comes back this long after the INVITE.
PROVISIONAL_DELAY = 0.05
# Busy, congestion and similar final answers take about this long.
REFUSAL_DELAY = 0.3


def agent_phone(runtime: Runtime, leg: DialLeg) -> Steps:
    """An agent's SIP phone: rings, and the agent picks up (or not), talks, hangs up."""
    channel = leg.channel
    extension = leg.dial_string
    profile = runtime.behaviour.agent(extension)
    rng = runtime.behaviour.rng("agent", extension, channel.uniqueid)
    answers = rng.random() < profile.answers
    yield PROVISIONAL_DELAY
    if channel.hung_up:
        return
    leg.remote_ringing()
    if not answers:
        return  # rings until the caller gives up
    yield sample(profile.ring_delay, rng)
    if channel.hung_up:
        return
    leg.remote_answered()
    yield sample(profile.talk_time, rng)
    if not channel.hung_up:
        runtime.pbx.request_hangup(channel, Cause.NORMAL_CLEARING)


def trunk_customer(runtime: Runtime, leg: DialLeg) -> Steps:
    """A number dialled through a trunk: answers, is busy, does not answer, or is a machine."""
    channel = leg.channel
    if channel.name in runtime.congested:
        yield REFUSAL_DELAY
        channel.hangup_cause = Cause.CONGESTION
        leg.remote_failed("CONGESTION")
        return
    plan = runtime.behaviour.customer(leg.dial_string)
    if plan.outcome in (BUSY, CONGESTION):
        yield REFUSAL_DELAY
        busy = plan.outcome == BUSY
        channel.hangup_cause = Cause.USER_BUSY if busy else Cause.CONGESTION
        leg.remote_failed("BUSY" if busy else "CONGESTION")
        return
    yield PROVISIONAL_DELAY
    if channel.hung_up:
        return
    leg.remote_ringing()
    if plan.outcome == NO_ANSWER:
        return
    yield plan.ring
    if channel.hung_up:
        return
    if plan.outcome == MACHINE:
        runtime.machines.add(channel.name)
    leg.remote_answered()
    yield plan.talk  # the conversation, or the machine's greeting
    if not channel.hung_up:
        runtime.pbx.request_hangup(channel, Cause.NORMAL_CLEARING)


def trunk_caller(runtime: Runtime, channel: Channel, patience: float) -> Steps:
    """Someone calling in: waits up to ``patience`` seconds to be connected, else hangs up."""
    signal, _ = yield Wait((channel.connected, channel.ended), patience)
    if signal is None and not channel.hung_up:
        runtime.pbx.request_hangup(channel, Cause.NORMAL_CLEARING)
