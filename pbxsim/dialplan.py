"""Dialplan: contexts of extension programs, and the applications they call.

A program is a generator function taking ``Apps`` (the applications bound to one channel). Each
application emits ``Newexten`` at the channel's current priority, does its work, then moves the
channel to the next priority, as Asterisk's PBX loop does, so the dialplan chatter (class
``dialplan``) looks like a real Asterisk running the same extensions.conf.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from pbxsim.behaviour import seconds_text
from pbxsim.channels import PRES_ALLOWED, PRES_PROHIBITED, Channel, ChannelState
from pbxsim.pbx import HungUp
from pbxsim.process import Steps, Wait

if TYPE_CHECKING:
    from pbxsim.legs import DialLeg
    from pbxsim.runtime import Runtime

Program = Callable[["Apps"], Generator[Any, Any, Any]]


class Dialplan:
    """Contexts mapping extension patterns (Asterisk syntax: ``_1XXX``, ``_+X.``) to programs."""

    def __init__(self) -> None:
        self._contexts: dict[str, list[tuple[str, re.Pattern[str] | None, Program]]] = {}

    def add(self, context: str, pattern: str, program: Program) -> None:
        regex = _pattern_regex(pattern) if pattern.startswith("_") else None
        self._contexts.setdefault(context, []).append((pattern, regex, program))
        # Most specific first, as Asterisk orders its matches.
        self._contexts[context].sort(key=lambda entry: _specificity(entry[0]))

    def clear(self, context: str) -> None:
        self._contexts.pop(context, None)

    def has_context(self, context: str) -> bool:
        return context in self._contexts

    def find(self, context: str, exten: str) -> Program | None:
        for pattern, regex, program in self._contexts.get(context, ()):
            if regex is None:
                if pattern == exten:
                    return program
            elif regex.fullmatch(exten):
                return program
        return None

    def exists(self, context: str, exten: str) -> bool:
        return self.find(context, exten) is not None


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    body = pattern[1:]
    index = 0
    while index < len(body):
        char = body[index]
        if char == "X":
            parts.append("[0-9]")
        elif char == "Z":
            parts.append("[1-9]")
        elif char == "N":
            parts.append("[2-9]")
        elif char == ".":
            parts.append(".+")
        elif char == "!":
            parts.append(".*")
        elif char == "[":
            end = body.index("]", index)
            parts.append(f"[{body[index + 1 : end]}]")
            index = end
        else:
            parts.append(re.escape(char))
        index += 1
    return re.compile("".join(parts))


def _specificity(pattern: str) -> tuple[int, int, int]:
    if not pattern.startswith("_"):
        return (0, 0, 0)
    body = pattern[1:]
    literals = sum(1 for char in body if char not in "XZN.![]")
    return (1, -literals, body.count(".") + body.count("!"))


class Apps:
    """The dialplan applications, acting on one channel."""

    def __init__(self, runtime: Runtime, channel: Channel) -> None:
        self.runtime = runtime
        self.pbx = runtime.pbx
        self.channel = channel

    # -- plumbing -----------------------------------------------------------------------------

    def _begin(self, application: str, data: str) -> None:
        self.pbx.newexten(self.channel, application, data)

    def _next(self) -> None:
        self.channel.priority += 1

    def var(self, name: str) -> str:
        return self.channel.variables.get(name, "")

    @property
    def leg(self) -> DialLeg | None:
        """For the ``;2`` half of a Local pair: the dialler's view of the ``;1`` half."""
        peer = self.channel.peer
        if peer is None or self.channel.local_half != 2:
            return None
        watcher = peer.watcher
        return watcher if watcher is not None and hasattr(watcher, "remote_ringing") else None

    # -- applications -------------------------------------------------------------------------

    def noop(self, text: str) -> None:
        self._begin("NoOp", text)
        self._next()

    def set(self, name: str, value: str) -> None:
        self._begin("Set", f"{name}={value}")
        self.assign(name, value)
        self._next()

    def exec_if(self, condition: bool, name: str, value: str) -> None:
        """``ExecIf(<cond>?Set(<name>=<value>))``."""
        self._begin("ExecIf", f"{int(condition)}?Set({name}={value})")
        if condition:
            self.assign(name, value)
        self._next()

    def assign(self, name: str, value: str) -> None:
        """``Set`` semantics: variables, and the few dialplan functions the simulator knows."""
        upper = name.upper()
        channel = self.channel
        if upper.startswith("DEVICE_STATE(") and name.endswith(")"):
            self.runtime.set_custom_device_state(name[len("DEVICE_STATE(") : -1], value)
        elif upper == "CALLERID(NUM)":
            self.pbx.set_caller_id(channel, value, channel.caller_name)
        elif upper == "CALLERID(NAME)":
            self.pbx.set_caller_id(channel, channel.caller_num, value)
        elif upper == "CALLERID(PRES)":
            # Asterisk publishes no NewCallerid for a presentation change alone.
            channel.caller_pres = PRES_PROHIBITED if value.startswith("prohib") else PRES_ALLOWED
        elif upper == "CDR(ACCOUNTCODE)":
            self.pbx.set_account_code(channel, value)
        else:
            self.pbx.set_var(channel, name, value)

    def ringing(self) -> None:
        self._begin("Ringing", "")
        leg = self.leg
        if leg is not None:
            leg.remote_ringing()
        elif self.channel.state != ChannelState.UP:
            self.pbx.set_state(self.channel, ChannelState.RINGING)
        self._next()

    def answer(self, settle: float | None = None) -> Steps:
        self._begin("Answer", "")
        self.pbx.set_state(self.channel, ChannelState.UP)
        leg = self.leg
        if leg is not None:
            leg.remote_answered()
        # Answer() waits for media before returning (up to 500 ms on a silent line).
        yield self.runtime.behaviour.answer_settle if settle is None else settle
        self._next()

    def wait(self, seconds: float) -> Steps:
        self._begin("Wait", seconds_text(seconds))
        yield seconds
        self._next()

    def playback(self, sound: str, seconds: float = 2.0) -> Steps:
        """``Playback(<sound>)``: the simulator plays nothing, it only takes the time."""
        self._begin("Playback", sound)
        yield seconds
        self._next()

    def wait_for_connect(self, patience: float) -> Steps:
        """``Wait(<patience>)`` that a simulated caller stops waiting on once connected: returns
        True if the call was connected (the caller then stays until the other side hangs up)."""
        self._begin("Wait", seconds_text(patience))
        caller_leg = self.channel.peer or self.channel  # the half that is queued and bridged
        signal, _ = yield Wait((caller_leg.connected,), patience)
        self._next()
        if signal is None:
            return False
        while True:  # connected: listen until someone hangs up (HungUp ends this)
            yield 3600.0

    def hangup(self, cause: int = 16) -> None:
        self._begin("Hangup", "")
        raise HungUp(cause)

    def busy(self) -> Steps:
        yield from self._refuse("Busy", 17, "BUSY", ChannelState.BUSY)

    def congestion(self) -> Steps:
        yield from self._refuse("Congestion", 34, "CONGESTION", ChannelState.BUSY)

    def _refuse(self, application: str, cause: int, status: str, state: ChannelState) -> Steps:
        self._begin(application, "10")
        self.pbx.set_state(self.channel, state)
        self.channel.hangup_cause = cause
        leg = self.leg
        if leg is not None:
            leg.remote_failed(status)
        yield 10.0
        self._next()

    def goto(self, context: str, exten: str, priority: int = 1) -> Steps:
        self._begin("Goto", f"{context},{exten},{priority}")
        channel = self.channel
        channel.context, channel.exten, channel.priority = context, exten, priority
        program = self.runtime.dialplan.find(context, exten)
        if program is None:
            raise HungUp(16)
        yield from program(self)

    def amd(self, analysis_time: float = 2.5) -> Steps:
        """``AMD()``: listens to the answered party, then sets AMDSTATUS and AMDCAUSE."""
        self._begin("AMD", "")
        yield analysis_time
        if self.channel.name in self.runtime.machines:
            self.pbx.set_var(self.channel, "AMDSTATUS", "MACHINE")
            self.pbx.set_var(self.channel, "AMDCAUSE", "LONGGREETING-2500-2500")
        else:
            self.pbx.set_var(self.channel, "AMDSTATUS", "HUMAN")
            self.pbx.set_var(self.channel, "AMDCAUSE", "HUMAN-500-500")
        self._next()

    def queue(self, queue: str, timeout: float, options: str = "r") -> Steps:
        """``Queue(<queue>,<options>,,,<timeout>)``; returns QUEUESTATUS."""
        from pbxsim.queue_app import run_queue

        return (yield from run_queue(self, queue, options=options, timeout=timeout))

    def dial(self, target: str, timeout: float) -> Steps:
        """``Dial(<target>,<timeout>)``; returns DIALSTATUS."""
        from pbxsim.dial_app import run_dial

        return (yield from run_dial(self, target, timeout))
