"""The caller's side of ``Queue()``: wait, ring members, connect, or give up.

Event order follows the recorded traces: the ``Queue`` step and its reset variables, the join,
each ring attempt (``AgentCalled``, ``DialBegin``, ``DialState``), then one of

* answered: ``DialEnd ANSWER``, the MEMBER*/QE*/QUEUE* variables on both sides, the leave,
  ``AgentConnect``, the bridge, and when it ends ``AgentComplete`` and the closing variables;
* not answered in the member timeout: ``AgentRingNoAnswer``, ``DialEnd`` and, after ``retry``
  seconds, another attempt;
* the caller hangs up: ``QueueCallerAbandon`` and the leave;
* the queue timeout: ``QueueCallerAbandon`` too (Asterisk 22 does), then ``QUEUESTATUS=TIMEOUT``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbxsim.behaviour import seconds_text
from pbxsim.bridges import Bridge
from pbxsim.channels import Channel
from pbxsim.dial_app import cancel_unless_moved
from pbxsim.legs import QUEUE, DialLeg
from pbxsim.pbx import HungUp, Redirected
from pbxsim.process import Signal, Steps, Wait
from pbxsim.queues import Member, Queue, QueueEntry

if TYPE_CHECKING:
    from pbxsim.dialplan import Apps

_RESET_VARIABLES = (
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "QUEUEWAIT",
    "QUEUEWAIT_MS",
)


class _Attempt:
    """One round of ringing members for one caller."""

    def __init__(self) -> None:
        self.legs: list[tuple[DialLeg, Member]] = []
        self.answered = Signal()  # fired with (leg, member)
        self.all_failed = Signal()
        self._failed = 0

    def watch(self, leg: DialLeg, member: Member) -> None:
        self.legs.append((leg, member))
        leg.answered.subscribe(lambda _s, _v: self.answered.fire((leg, member)))
        leg.failed.subscribe(self._one_failed)
        leg.hungup.subscribe(self._one_failed)

    def _one_failed(self, _signal: Signal, _value: object) -> None:
        self._failed += 1
        if self._failed >= len(self.legs):
            self.all_failed.fire(None)


def run_queue(a: Apps, queue_name: str, *, options: str, timeout: float) -> Steps:
    runtime, pbx, channel = a.runtime, a.pbx, a.channel
    pbx.newexten(channel, "Queue", f"{queue_name},{options},,,{seconds_text(timeout)}")
    for name in _RESET_VARIABLES:
        pbx.set_var(channel, name, "")
    queues = runtime.queues
    queue = queues.get(queue_name)
    if queue is None:
        pbx.set_var(channel, "QUEUESTATUS", "JOINUNAVAIL")
        a._next()
        return "JOINUNAVAIL"
    if queue.settings.maxlen and len(queue.entries) >= queue.settings.maxlen:
        pbx.set_var(channel, "QUEUESTATUS", "FULL")
        a._next()
        return "FULL"
    entry = queues.join(queue, channel)
    deadline = entry.joined_at + timeout
    queues.dispatch(queue)
    attempt: _Attempt | None = None
    try:
        while True:
            remaining = deadline - pbx.clock.now()
            if remaining <= 0:
                break
            signal, members = yield Wait((entry.offer,), remaining)
            if signal is None:
                break
            entry.offer = Signal()
            entry.ringing = True
            attempt = _ring(a, queue, entry, members)
            ring_for = min(queue.settings.timeout, deadline - pbx.clock.now())
            fired, value = yield Wait((attempt.answered, attempt.all_failed), ring_for)
            if fired is attempt.answered:
                leg, member = value
                answered, attempt = attempt, None
                queues.release(queue, [m for _, m in answered.legs])
                yield from _connect(a, queue, entry, answered, leg, member)
            timed_out = deadline - pbx.clock.now() <= 0
            if fired is None and not timed_out:
                _no_answer(a, queue, attempt)
            else:
                _cancel_all(a, attempt)
            queues.release(queue, [member for _, member in attempt.legs])
            attempt = None
            if timed_out:
                break
            pause = min(queue.settings.retry, deadline - pbx.clock.now())
            if pause > 0:
                yield pause
            entry.ringing = False
            queues.dispatch(queue)
    except HungUp:
        if attempt is not None:
            _cancel_all(a, attempt)
            queues.release(queue, [member for _, member in attempt.legs])
        elif entry.offer.fired:
            queues.release(queue, entry.offer.value)
        if entry in queue.entries:
            _abandon(a, queue, entry)
        raise
    if entry.offer.fired:
        queues.release(queue, entry.offer.value)
    _time_out(a, queue, entry)
    a._next()
    return "TIMEOUT"


def _ring(a: Apps, queue: Queue, entry: QueueEntry, members: list[Member]) -> _Attempt:
    runtime, pbx, caller = a.runtime, a.pbx, a.channel
    attempt = _Attempt()
    for member in members:
        leg = runtime.request_leg(
            member.interface, requester=QUEUE, caller=caller, linkedid=caller.linkedid
        )
        if leg is None:
            continue
        dest = leg.channel
        dest.exten = caller.exten  # app_queue gives the member leg the caller's extension
        pbx.set_application(dest, "AppQueue", "(Outgoing Line)")
        pbx.emit(
            "AgentCalled",
            (
                caller.snap(),
                dest.snap("Dest"),
                ("Queue", queue.name),
                ("Interface", member.interface),
                ("MemberName", member.name),
            ),
        )
        pbx.emit(
            "DialBegin",
            (caller.snap(), dest.snap("Dest"), ("DialString", member.interface)),
        )
        pbx.cdr_dial_begin(caller, dest)
        leg.on_ringing = _dial_state_reporter(a, caller)
        attempt.watch(leg, member)
        runtime.start_far_end(leg)
    if not attempt.legs:
        attempt.all_failed.fire(None)
    return attempt


def _dial_state_reporter(a: Apps, caller: Channel):
    def report(leg: DialLeg) -> None:
        if not leg.channel.hung_up:
            a.pbx.emit(
                "DialState",
                (caller.snap(), leg.channel.snap("Dest"), ("DialStatus", "RINGING")),
            )

    return report


def _dial_end(a: Apps, leg: DialLeg, status: str) -> None:
    a.pbx.emit(
        "DialEnd",
        (a.channel.snap(), leg.channel.snap("Dest"), ("DialStatus", status)),
    )


def _no_answer(a: Apps, queue: Queue, attempt: _Attempt) -> None:
    pbx, caller = a.pbx, a.channel
    for leg, member in attempt.legs:
        if leg.channel.hung_up:
            continue
        ring_ms = int((pbx.clock.now() - (leg.rang_at or pbx.clock.now())) * 1000)
        pbx.emit(
            "AgentRingNoAnswer",
            (
                caller.snap(),
                leg.channel.snap("Dest"),
                ("Queue", queue.name),
                ("Interface", member.interface),
                ("MemberName", member.name),
                ("RingTime", str(max(ring_ms, int(queue.settings.timeout * 1000)))),
            ),
        )
        _dial_end(a, leg, "NOANSWER")
        _dial_end(a, leg, "CANCEL")
        pbx.cdr_dial_end(caller, "NOANSWER", None)
        leg.cancel(0)


def _cancel_all(a: Apps, attempt: _Attempt, keep: DialLeg | None = None) -> None:
    for leg, _member in attempt.legs:
        if leg is keep or leg.channel.hung_up:
            continue
        status = leg.failed.value if leg.failed.fired else "CANCEL"
        _dial_end(a, leg, status)
        _dial_end(a, leg, "CANCEL")
        a.pbx.cdr_dial_end(a.channel, status, None)
        leg.cancel(0)


def _set_all(a: Apps, channel: Channel, variables: list[tuple[str, str]]) -> None:
    for name, value in variables:
        a.pbx.set_var(channel, name, value)


def _waited(a: Apps, entry: QueueEntry) -> tuple[int, int]:
    waited = a.pbx.clock.now() - entry.joined_at
    return int(waited), int(waited * 1000)


def _connect(
    a: Apps, queue: Queue, entry: QueueEntry, attempt: _Attempt, leg: DialLeg, member: Member
) -> Steps:
    """The member answered: bridge the call, and when it ends hang up (Queue returns -1)."""
    runtime, pbx, caller = a.runtime, a.pbx, a.channel
    agent = leg.channel
    now = pbx.clock.now()
    hold = now - entry.joined_at
    ring_time = now - (leg.rang_at or entry.joined_at)
    _dial_end(a, leg, "ANSWER")
    pbx.cdr_dial_end(caller, "ANSWER", now)
    _cancel_all(a, attempt, keep=leg)
    member_vars = [
        ("MEMBERINTERFACE", member.interface),
        ("MEMBERNAME", member.name),
        ("MEMBERCALLS", str(member.calls_taken)),
        ("MEMBERLASTCALL", str(member.last_call)),
        ("MEMBERPENALTY", str(member.penalty)),
        ("MEMBERDYNAMIC", "1" if member.membership == "dynamic" else "0"),
        ("MEMBERREALTIME", "0"),
    ]
    _set_all(a, caller, member_vars)
    _set_all(a, agent, member_vars)
    entry_vars = [("QEHOLDTIME", str(int(hold))), ("QEORIGINALPOS", str(entry.original_position))]
    queue.record_hold(hold)
    _set_all(a, caller, entry_vars)
    _set_all(a, agent, entry_vars)
    _set_all(a, caller, queue.stat_variables())
    _set_all(a, agent, queue.stat_variables())
    position = runtime.queues.leave(queue, entry)
    waited, waited_ms = _waited(a, entry)
    _set_all(
        a,
        caller,
        [
            ("QUEUEPOSITION", str(position)),
            ("QUEUEWAIT", str(waited)),
            ("QUEUEWAIT_MS", str(waited_ms)),
        ],
    )
    pbx.emit(
        "AgentConnect",
        (
            caller.snap(),
            agent.snap("Dest"),
            ("Queue", queue.name),
            ("Interface", member.interface),
            ("MemberName", member.name),
            ("HoldTime", str(int(hold))),
            ("RingTime", str(int(ring_time))),
        ),
    )
    member.in_call = True
    bridge = pbx.bridge_create()
    bridge.owner = caller
    pbx.bridge_enter(bridge, agent)
    pbx.bridge_enter(bridge, caller)
    pbx.set_var(agent, "BRIDGEPEER", caller.name)
    pbx.set_var(caller, "BRIDGEPEER", agent.name)
    talk_start = pbx.clock.now()
    reason = "agent"
    peer = leg  # the party the caller talks to: the agent, or whoever an attended transfer put
    try:
        while True:
            fired, value = yield Wait((peer.hungup, bridge.handover))
            if fired is peer.hungup:
                break
            # The agent completed an attended transfer: app_queue reports the agent's part of
            # the call as over (AgentComplete, Reason transfer) and the caller stays bridged.
            bridge.rearm_handover()
            if peer is leg:
                now = pbx.clock.now()
                _agent_complete(a, queue, member, leg, hold, talk_start, "transfer", now)
                runtime.queues.dispatch(queue)
            peer = value
    except HungUp as exc:
        reason = "transfer" if isinstance(exc, Redirected) else "caller"
        raise
    finally:
        if peer is leg:
            _complete(a, queue, member, leg, bridge, hold, talk_start, reason, entry)
        else:
            _transferred_call_over(a, queue, peer, bridge, talk_start, reason, entry)
    raise HungUp(16)  # the agent hung up: the bridge dissolves and the caller is hung up


def _agent_complete(
    a: Apps,
    queue: Queue,
    member: Member,
    leg: DialLeg,
    hold: float,
    talk_start: float,
    reason: str,
    now: float,
) -> None:
    """The member's part of the call is over: its statistics, then ``AgentComplete``."""
    runtime, pbx, caller, agent = a.runtime, a.pbx, a.channel, leg.channel
    talk = now - talk_start
    member.calls_taken += 1
    member.last_call = int(pbx.clock.wall())
    member.in_call = False
    wrapup = queue.settings.wrapuptime
    if wrapup > 0:
        member.wrapup_until = now + wrapup
        pbx.clock.call_later(wrapup, runtime.queues.wrapup_done, queue)
    queue.completed += 1
    queue.record_talk(talk)
    pbx.emit(
        "AgentComplete",
        (
            caller.snap(),
            agent.snap("Dest"),
            ("Queue", queue.name),
            ("Interface", member.interface),
            ("MemberName", member.name),
            ("HoldTime", str(int(hold))),
            ("TalkTime", str(int(talk + 0.999))),
            ("Reason", reason),
        ),
    )


def _complete(
    a: Apps,
    queue: Queue,
    member: Member,
    leg: DialLeg,
    bridge: Bridge,
    hold: float,
    talk_start: float,
    reason: str,
    entry: QueueEntry,
) -> None:
    runtime, pbx, caller = a.runtime, a.pbx, a.channel
    agent = leg.channel
    now = pbx.clock.now()
    _agent_complete(a, queue, member, leg, hold, talk_start, reason, now)
    pbx.set_var(agent, "BRIDGEPEER", "")
    pbx.set_var(caller, "BRIDGEPEER", "")
    if reason == "agent":
        pbx.bridge_leave(bridge, agent)
        cancel_unless_moved(leg, bridge)
        pbx.bridge_leave(bridge, caller)
    else:
        pbx.bridge_leave(bridge, caller)
        pbx.bridge_leave(bridge, agent)
        cancel_unless_moved(leg, bridge)
    pbx.bridge_destroy(bridge)
    runtime.queues.dispatch(queue)
    _closing_variables(a, queue, talk_start, entry, now)


def _transferred_call_over(
    a: Apps,
    queue: Queue,
    peer: DialLeg,
    bridge: Bridge,
    talk_start: float,
    reason: str,
    entry: QueueEntry,
) -> None:
    """The end of a call an attended transfer left bridged: no second AgentComplete (the
    agent's was reported at the transfer), the bridge dissolves as any other."""
    pbx, caller = a.pbx, a.channel
    now = pbx.clock.now()
    if bridge.owner is caller:
        pbx.set_var(peer.channel, "BRIDGEPEER", "")
        pbx.set_var(caller, "BRIDGEPEER", "")
        if reason == "agent":
            pbx.bridge_leave(bridge, peer.channel)
            cancel_unless_moved(peer, bridge)
            pbx.bridge_leave(bridge, caller)
        else:
            pbx.bridge_leave(bridge, caller)
            pbx.bridge_leave(bridge, peer.channel)
            cancel_unless_moved(peer, bridge)
        pbx.bridge_destroy(bridge)
    _closing_variables(a, queue, talk_start, entry, now)


def _closing_variables(
    a: Apps, queue: Queue, talk_start: float, entry: QueueEntry, now: float
) -> None:
    caller = a.channel
    stats = queue.stat_variables()
    _set_all(a, caller, stats)
    answered_for = now - talk_start
    dialed_for = now - entry.joined_at
    _set_all(
        a,
        caller,
        [
            ("ANSWEREDTIME", str(int(answered_for))),
            ("ANSWEREDTIME_MS", str(int(answered_for * 1000))),
            ("DIALEDTIME", str(int(dialed_for))),
            ("DIALEDTIME_MS", str(int(dialed_for * 1000))),
        ],
    )
    _set_all(a, caller, stats)


def _abandon(a: Apps, queue: Queue, entry: QueueEntry) -> None:
    pbx, caller = a.pbx, a.channel
    waited, waited_ms = _waited(a, entry)
    _set_all(
        a,
        caller,
        [
            ("QUEUEWAIT", str(waited)),
            ("QUEUEWAIT_MS", str(waited_ms)),
            ("DIALEDTIME", str(waited)),
            ("DIALEDTIME_MS", str(waited_ms)),
            ("ANSWEREDTIME", "0"),
            ("ANSWEREDTIME_MS", "0"),
            ("ABANDONED", "TRUE"),
        ],
    )
    _set_all(a, caller, queue.stat_variables())
    _caller_abandon(a, queue, entry)
    _set_all(a, caller, queue.stat_variables())
    position = a.runtime.queues.leave(queue, entry)
    pbx.set_var(caller, "QUEUEPOSITION", str(position))


def _caller_abandon(a: Apps, queue: Queue, entry: QueueEntry) -> None:
    queue.abandoned += 1
    a.pbx.emit(
        "QueueCallerAbandon",
        (
            a.channel.snap(),
            ("Queue", queue.name),
            ("Position", str(queue.position(entry))),
            ("OriginalPosition", str(entry.original_position)),
            ("HoldTime", str(int(a.pbx.clock.now() - entry.joined_at))),
        ),
    )


def _time_out(a: Apps, queue: Queue, entry: QueueEntry) -> None:
    pbx, caller = a.pbx, a.channel
    pbx.set_var(caller, "ABANDONED", "TRUE")
    _set_all(a, caller, queue.stat_variables())
    _caller_abandon(a, queue, entry)
    waited, waited_ms = _waited(a, entry)
    _set_all(
        a,
        caller,
        [
            ("QUEUEWAIT", str(waited)),
            ("QUEUEWAIT_MS", str(waited_ms)),
            ("DIALEDTIME", str(waited)),
            ("DIALEDTIME_MS", str(waited_ms)),
            ("ANSWEREDTIME", "0"),
            ("ANSWEREDTIME_MS", "0"),
        ],
    )
    _set_all(a, caller, queue.stat_variables())
    position = a.runtime.queues.leave(queue, entry)
    pbx.set_var(caller, "QUEUEPOSITION", str(position))
    pbx.set_var(caller, "QUEUESTATUS", "TIMEOUT")
