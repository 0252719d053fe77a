"""Originate: place a call to a channel and, once answered, run dialplan or an application on it.

Failures report the ``Reason`` codes Asterisk gives in ``OriginateResponse`` (trace 06):
0 no such channel technology or destination, 1 hung up, 3 no answer (timeout), 5 busy,
8 congestion; success is 4 (answered).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pbxsim.channels import Cause
from pbxsim.legs import ORIGINATE, CallerId, DialLeg
from pbxsim.process import Signal, Steps, Wait
from pbxsim.runtime import Runtime

REASON_FAILED = 0
REASON_HANGUP = 1
REASON_NO_ANSWER = 3
REASON_ANSWERED = 4
REASON_BUSY = 5
REASON_CONGESTION = 8


@dataclass(frozen=True)
class OriginateRequest:
    channel: str
    context: str = ""
    exten: str = ""
    priority: int = 1
    application: str = ""
    data: str = ""
    timeout: float = 30.0
    caller_id: CallerId | None = None
    variables: tuple[tuple[str, str], ...] = ()
    action_id: str | None = None
    channel_id: str | None = None
    other_channel_id: str | None = None
    report: bool = True  # emit OriginateResponse (not for calls the simulator places itself)


@dataclass
class OriginateResult:
    """Fired on ``done`` once the call is answered or has failed."""

    reason: int = REASON_FAILED
    channel: str = ""
    uniqueid: str = "<unknown>"
    done: Signal = field(default_factory=Signal)

    @property
    def success(self) -> bool:
        return self.reason == REASON_ANSWERED


def originate(runtime: Runtime, request: OriginateRequest) -> OriginateResult:
    result = OriginateResult(channel=request.channel)
    runtime.pbx.spawn(_originate(runtime, request, result), name=f"originate {request.channel}")
    return result


def _originate(runtime: Runtime, request: OriginateRequest, result: OriginateResult) -> Steps:
    pbx = runtime.pbx
    leg = runtime.request_leg(
        request.channel,
        requester=ORIGINATE,
        caller_id=request.caller_id,
        variables=request.variables,
        uniqueids=(request.channel_id, request.other_channel_id),
    )
    if leg is None:
        _respond(runtime, request, result, REASON_FAILED, None)
        return
    pbx.emit("DialBegin", (leg.channel.snap("Dest"), ("DialString", _dial_string(request))))
    leg.on_ringing = _report_ringing
    runtime.start_far_end(leg)
    fired, value = yield Wait((leg.answered, leg.failed, leg.hungup), request.timeout)
    channel = leg.channel
    if fired is leg.answered:
        pbx.emit("DialEnd", (channel.snap("Dest"), ("DialStatus", "ANSWER")))
        _respond(runtime, request, result, REASON_ANSWERED, leg)
        _run_after_answer(runtime, request, leg)
        return
    if fired is leg.failed:
        busy = value == "BUSY"
        reason = REASON_BUSY if busy else REASON_CONGESTION
        pbx.cdr_failed(channel, "BUSY" if busy else "CONGESTION")
        if busy:
            _respond(runtime, request, result, reason, None)
        pbx.emit("DialEnd", (channel.snap("Dest"), ("DialStatus", str(value))))
        leg.cancel(Cause.NOT_DEFINED)
        if not busy:
            _respond(runtime, request, result, reason, None)
        return
    if fired is leg.hungup:
        pbx.cdr_failed(channel, "FAILED")
        leg.cancel(Cause.NOT_DEFINED)
        _respond(runtime, request, result, REASON_HANGUP, None)
        return
    pbx.cdr_failed(channel, "NO ANSWER")
    leg.cancel(Cause.NO_ANSWER)
    _respond(runtime, request, result, REASON_NO_ANSWER, None)


def _report_ringing(leg: DialLeg) -> None:
    leg.pbx.emit("DialState", (leg.channel.snap("Dest"), ("DialStatus", "RINGING")))


def _dial_string(request: OriginateRequest) -> str:
    tech, _, rest = request.channel.partition("/")
    return rest if tech == "Local" else rest or request.channel


def _run_after_answer(runtime: Runtime, request: OriginateRequest, leg: DialLeg) -> None:
    channel = leg.channel
    if request.application:
        runtime.start_application(channel, request.application, request.data)
    else:
        runtime.start_pbx(channel, request.context, request.exten, request.priority)


def _respond(
    runtime: Runtime,
    request: OriginateRequest,
    result: OriginateResult,
    reason: int,
    leg: DialLeg | None,
) -> None:
    result.reason = reason
    if leg is not None:
        result.channel, result.uniqueid = leg.channel.name, leg.channel.uniqueid
    if request.report:
        headers: list[tuple[str, str]] = []
        if request.action_id is not None:
            headers.append(("ActionID", request.action_id))
        caller = request.caller_id or CallerId()
        if leg is not None:
            number, name = leg.channel.caller_num, leg.channel.caller_name
        else:
            number, name = caller.number, ""
        headers += [
            ("Response", "Success" if reason == REASON_ANSWERED else "Failure"),
            ("Channel", result.channel),
            ("Context", request.context),
            ("Exten", request.exten),
            ("Reason", str(reason)),
            ("Uniqueid", result.uniqueid),
            ("CallerIDNum", number or "<unknown>"),
            ("CallerIDName", name or "<unknown>"),
        ]
        runtime.pbx.emit("OriginateResponse", headers)
    result.done.fire(result)
