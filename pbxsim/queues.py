"""Call queues: configuration, members, waiting callers, strategies, and their AMI events.

This module is the state and the bookkeeping (what ``app_queue`` keeps); the caller's side of
``Queue()``, which rings members and bridges the call, is in ``queue_app``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pbxsim.events import Header
from pbxsim.pbx import DEVICE_STATE_CODES, Pbx
from pbxsim.process import Signal

if TYPE_CHECKING:
    from pbxsim.channels import Channel

STRATEGIES = (
    "ringall",
    "leastrecent",
    "fewestcalls",
    "random",
    "rrmemory",
    "rrordered",
    "linear",
    "wrandom",
)
# Member device states in which a member may be offered a call (ringinuse = no).
_FREE_STATES = frozenset({"NOT_INUSE", "UNKNOWN"})


def _available(member: Member) -> int:
    return int(not member.paused and member.status in (0, 1))


class QueueError(Exception):
    """An AMI queue action that Asterisk refuses; the message is Asterisk's."""


@dataclass
class QueueSettings:
    """What ``queues.conf`` says about one queue."""

    strategy: str = "rrmemory"
    timeout: float = 15.0  # seconds a member's phone rings per attempt
    retry: float = 2.0  # pause before ringing again after nobody answered
    wrapuptime: float = 0.0
    maxlen: int = 0
    weight: int = 0
    servicelevel: int = 0
    ringinuse: bool = False
    joinempty: bool = True
    leavewhenempty: bool = False
    autofill: bool = True

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}")
        if self.timeout <= 0 or self.retry < 0 or self.wrapuptime < 0 or self.maxlen < 0:
            raise ValueError("timeout must be positive; retry, wrapuptime, maxlen not negative")


@dataclass(eq=False)
class Member:
    interface: str
    name: str
    state_interface: str
    penalty: int = 0
    paused: bool = False
    paused_reason: str = ""
    membership: str = "dynamic"
    calls_taken: int = 0
    last_call: int = 0  # Unix time of the end of the last call
    last_pause: int = 0
    login_time: int = 0
    in_call: bool = False
    offered: bool = False  # being rung for some caller right now
    wrapup_until: float = 0.0
    status: int = 0


@dataclass(eq=False)
class QueueEntry:
    """A caller waiting in a queue."""

    channel: Channel
    joined_at: float
    original_position: int
    offer: Signal = field(default_factory=Signal)  # fired with the members to ring
    ringing: bool = False  # ringing members, or pausing before a retry


class Queue:
    """One queue: its settings, members and waiting callers."""

    def __init__(self, name: str, settings: QueueSettings) -> None:
        self.name = name
        self.settings = settings
        self.members: dict[str, Member] = {}
        self.entries: list[QueueEntry] = []
        self.completed = 0
        self.abandoned = 0
        self.holdtime = 0.0  # running average, as app_queue keeps it
        self.talktime = 0.0
        self.rr_next = 0
        self.available = 0  # members neither paused nor busy (what Queue:<name>_avail shows)
        self._order: list[Member] | None = None
        self._uniform: bool = True

    def ordered_members(self) -> list[Member]:
        """Members in the order they joined (cached until the membership changes)."""
        if self._order is None or len(self._order) != len(self.members):
            self._order = list(self.members.values())
            self._uniform = len({m.penalty for m in self._order}) <= 1
        return self._order

    def uniform_penalty(self) -> bool:
        self.ordered_members()
        return self._uniform

    def membership_changed(self) -> None:
        self._order = None

    def position(self, entry: QueueEntry) -> int:
        return self.entries.index(entry) + 1

    def record_hold(self, seconds: float) -> None:
        self.holdtime = (self.holdtime * 3 + seconds) / 4

    def record_talk(self, seconds: float) -> None:
        self.talktime = (self.talktime * 3 + seconds) / 4

    def stat_variables(self) -> list[tuple[str, str]]:
        """The QUEUE* channel variables ``Queue()`` sets when it starts and ends a call."""
        return [
            ("QUEUENAME", self.name),
            ("QUEUEMAX", str(self.settings.maxlen)),
            ("QUEUESTRATEGY", self.settings.strategy),
            ("QUEUECALLS", str(len(self.entries))),
            ("QUEUEHOLDTIME", str(int(self.holdtime))),
            ("QUEUETALKTIME", str(int(self.talktime))),
            ("QUEUECOMPLETED", str(self.completed)),
            ("QUEUEABANDONED", str(self.abandoned)),
            ("QUEUESRVLEVEL", str(self.settings.servicelevel)),
            ("QUEUESRVLEVELPERF", "0.0"),
        ]


class Queues:
    """Every queue, with the operations of the AMI Queue* actions and member device tracking."""

    def __init__(self, pbx: Pbx, *, rng: random.Random | None = None) -> None:
        self.pbx = pbx
        self.queues: dict[str, Queue] = {}
        self.rng = rng or random.Random(0)
        self._watched: dict[str, Callable[[str, str], None]] = {}
        # Indexes, so that a device change or a busy check does not scan every member.
        self._by_interface: dict[str, list[tuple[Queue, Member]]] = {}
        self._by_state: dict[str, list[tuple[Queue, Member]]] = {}

    # -- configuration ------------------------------------------------------------------------

    def configure(self, name: str, settings: QueueSettings) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues[name] = Queue(name, settings)
        else:
            queue.settings = settings
        return queue

    def remove_queue(self, name: str) -> None:
        queue = self.queues.pop(name, None)
        if queue is not None:
            for member in list(queue.members.values()):
                self._forget(queue, member)

    def listing_order(self) -> list[Queue]:
        """Asterisk lists queues from its hash container; in practice last defined first."""
        return list(reversed(self.queues.values()))

    def get(self, name: str) -> Queue | None:
        return self.queues.get(name)

    # -- members ------------------------------------------------------------------------------

    def add_member(
        self,
        queue_name: str,
        interface: str,
        *,
        name: str = "",
        state_interface: str = "",
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
    ) -> Member:
        queue = self.queues.get(queue_name)
        if queue is None:
            raise QueueError("Unable to add interface to queue: No such queue")
        if interface in queue.members:
            raise QueueError("Unable to add interface: Already there")
        now = int(self.pbx.clock.wall())
        state_interface = state_interface or interface
        if state_interface.startswith("PJSIP/"):
            # A registered SIP phone already has a device state, published long before.
            self.pbx.device_states.setdefault(state_interface, "NOT_INUSE")
        member = Member(
            interface=interface,
            name=name or interface,
            state_interface=state_interface,
            penalty=penalty,
            paused=paused,
            paused_reason=reason if paused else "",
            login_time=now,
            last_pause=now if paused else 0,
        )
        member.status = self._device_code(member.state_interface)
        queue.members[interface] = member
        queue.available += _available(member)
        queue.membership_changed()
        self._by_interface.setdefault(interface, []).append((queue, member))
        self._by_state.setdefault(member.state_interface, []).append((queue, member))
        self._watch(member)
        self.pbx.set_device_state(self._pause_device(queue, member), self._pause_state(member))
        self.pbx.emit("QueueMemberAdded", self.member_headers(queue, member))
        self.update_availability(queue)
        self.dispatch(queue)
        return member

    def remove_member(self, queue_name: str, interface: str) -> None:
        queue = self.queues.get(queue_name)
        if queue is None:
            raise QueueError("Unable to remove interface: No such queue")
        member = queue.members.get(interface)
        if member is None:
            raise QueueError("Unable to remove interface: Not there")
        del queue.members[interface]
        queue.available -= _available(member)
        queue.membership_changed()
        self._forget(queue, member)
        self.pbx.emit("QueueMemberRemoved", self.member_headers(queue, member))
        self.update_availability(queue)

    def pause_member(
        self, queue_name: str | None, interface: str, paused: bool, reason: str = ""
    ) -> None:
        targets = [
            queue
            for queue in self.queues.values()
            if (queue_name is None or queue.name == queue_name) and interface in queue.members
        ]
        if not targets:
            raise QueueError("Interface not found")
        now = int(self.pbx.clock.wall())
        for queue in targets:
            member = queue.members[interface]
            queue.available -= _available(member)
            member.paused = paused
            queue.available += _available(member)
            member.paused_reason = reason if paused else ""
            if paused:
                member.last_pause = now
            self.pbx.set_device_state(self._pause_device(queue, member), self._pause_state(member))
            self.update_availability(queue)
            self.pbx.emit("QueueMemberPause", self.member_headers(queue, member))
            self.dispatch(queue)

    def members_of(self, interface: str) -> list[tuple[Queue, Member]]:
        return list(self._by_interface.get(interface, ()))

    @staticmethod
    def _pause_device(queue: Queue, member: Member) -> str:
        return f"Queue:{queue.name}_pause_{member.interface}"

    @staticmethod
    def _pause_state(member: Member) -> str:
        return "INUSE" if member.paused else "NOT_INUSE"

    def _device_code(self, device: str) -> int:
        return DEVICE_STATE_CODES.get(self.pbx.device_state(device), 0)

    def _watch(self, member: Member) -> None:
        device = member.state_interface
        if device not in self._watched:
            self._watched[device] = self._device_changed
            self.pbx.watch_device(device, self._device_changed)

    def _forget(self, queue: Queue, member: Member) -> None:
        for index, key in (
            (self._by_interface, member.interface),
            (self._by_state, member.state_interface),
        ):
            entries = [e for e in index.get(key, ()) if e != (queue, member)]
            if entries:
                index[key] = entries
            else:
                index.pop(key, None)
        device = member.state_interface
        if device not in self._by_state and device in self._watched:
            self.pbx.unwatch_device(device, self._watched.pop(device))

    def _device_changed(self, device: str, state: str) -> None:
        code = DEVICE_STATE_CODES.get(state, 0)
        changed: list[Queue] = []
        for queue, member in list(self._by_state.get(device, ())):
            if member.status != code:
                queue.available -= _available(member)
                member.status = code
                queue.available += _available(member)
                self.pbx.emit("QueueMemberStatus", self.member_headers(queue, member))
                if queue not in changed:
                    changed.append(queue)
        for queue in changed:
            self.update_availability(queue)
            self.dispatch(queue)

    # -- availability and offers --------------------------------------------------------------

    def is_free(self, queue: Queue, member: Member) -> bool:
        if member.paused or member.offered:
            return False
        if member.wrapup_until > self.pbx.clock.now():
            return False
        if queue.settings.ringinuse:
            return True
        if member.in_call or self._busy_elsewhere(member):
            return False
        return self.pbx.device_state(member.state_interface) in _FREE_STATES

    def _busy_elsewhere(self, member: Member) -> bool:
        return any(
            other is not member and (other.in_call or other.offered)
            for _queue, other in self._by_interface.get(member.interface, ())
        )

    def update_availability(self, queue: Queue) -> None:
        """``Queue:<name>_avail``: NOT_INUSE while some member could take a call."""
        state = "NOT_INUSE" if queue.available > 0 else "INUSE"
        self.pbx.set_device_state(f"Queue:{queue.name}_avail", state)

    def dispatch(self, queue: Queue) -> None:
        """Offer free members to waiting callers in order, as the strategy picks them."""
        for entry in queue.entries:
            if entry.ringing or entry.offer.fired:
                continue
            chosen = self.choose(queue)
            if not chosen:
                return
            for member in chosen:
                member.offered = True
            entry.offer.fire(chosen)
            if not queue.settings.autofill:
                return

    def choose(self, queue: Queue) -> list[Member]:
        """The member(s) the queue's strategy offers the next call to; [] if none is free."""
        strategy = queue.settings.strategy
        order = queue.ordered_members()
        if strategy in ("rrmemory", "rrordered", "linear") and queue.uniform_penalty():
            # Scan from where the last call went; a free member is usually found at once.
            start = 0 if strategy == "linear" else queue.rr_next
            count = len(order)
            for step in range(count):
                index = (start + step) % count
                if self.is_free(queue, order[index]):
                    queue.rr_next = (index + 1) % count
                    return [order[index]]
            return []
        free = [m for m in order if self.is_free(queue, m)]
        if not free:
            return []
        best = min(m.penalty for m in free)
        free = [m for m in free if m.penalty == best]
        if strategy == "ringall":
            return free
        if strategy == "leastrecent":
            return [min(free, key=lambda m: m.last_call)]
        if strategy == "fewestcalls":
            return [min(free, key=lambda m: m.calls_taken)]
        if strategy in ("random", "wrandom"):
            return [self.rng.choice(free)]
        if strategy in ("rrmemory", "rrordered"):
            eligible = {id(m) for m in free}
            count = len(order)
            for step in range(count):
                index = (queue.rr_next + step) % count
                if id(order[index]) in eligible:
                    queue.rr_next = (index + 1) % count
                    return [order[index]]
        return [free[0]]  # linear

    # -- waiting callers ----------------------------------------------------------------------

    def join(self, queue: Queue, channel: Channel) -> QueueEntry:
        entry = QueueEntry(channel, self.pbx.clock.now(), len(queue.entries) + 1)
        queue.entries.append(entry)
        self.pbx.set_device_state(f"Queue:{queue.name}", "RINGING")
        self.pbx.emit(
            "QueueCallerJoin",
            (
                channel.snap(),
                ("Queue", queue.name),
                ("Position", str(len(queue.entries))),
                ("Count", str(len(queue.entries))),
            ),
        )
        return entry

    def leave(self, queue: Queue, entry: QueueEntry) -> int:
        """Take the caller out of the queue; its position when it left."""
        position = queue.position(entry)
        queue.entries.remove(entry)
        if not queue.entries:
            self.pbx.set_device_state(f"Queue:{queue.name}", "NOT_INUSE")
        self.pbx.emit(
            "QueueCallerLeave",
            (
                entry.channel.snap(),
                ("Queue", queue.name),
                ("Position", str(position)),
                ("Count", str(len(queue.entries))),
            ),
        )
        self.pbx.soon(self.dispatch, queue)
        return position

    def release(self, queue: Queue, members: list[Member]) -> None:
        """Members offered to a caller are free to be offered again."""
        for member in members:
            member.offered = False
        self.pbx.soon(self.dispatch, queue)

    def wrapup_done(self, queue: Queue) -> None:
        self.update_availability(queue)
        self.dispatch(queue)

    # -- AMI views ----------------------------------------------------------------------------

    def member_headers(self, queue: Queue, member: Member) -> list[Header]:
        return [
            ("Queue", queue.name),
            ("MemberName", member.name),
            ("Interface", member.interface),
            ("StateInterface", member.state_interface),
            ("Membership", member.membership),
            ("Penalty", str(member.penalty)),
            ("CallsTaken", str(member.calls_taken)),
            ("LastCall", str(member.last_call)),
            ("LastPause", str(member.last_pause)),
            ("LoginTime", str(member.login_time)),
            ("InCall", str(int(member.in_call))),
            ("Status", str(member.status)),
            ("Paused", str(int(member.paused))),
            ("PausedReason", member.paused_reason),
            ("Ringinuse", str(int(queue.settings.ringinuse))),
            ("Wrapuptime", str(int(queue.settings.wrapuptime))),
        ]

    def params_item(self, queue: Queue) -> list[Header]:
        return [
            ("Queue", queue.name),
            ("Max", str(queue.settings.maxlen)),
            ("Strategy", queue.settings.strategy),
            ("Calls", str(len(queue.entries))),
            ("Holdtime", str(int(queue.holdtime))),
            ("TalkTime", str(int(queue.talktime))),
            ("Completed", str(queue.completed)),
            ("Abandoned", str(queue.abandoned)),
            ("ServiceLevel", str(queue.settings.servicelevel)),
            ("ServicelevelPerf", "0.0"),
            ("ServicelevelPerf2", "0.0"),
            ("Weight", str(queue.settings.weight)),
        ]

    def member_item(self, queue: Queue, member: Member) -> list[Header]:
        return [
            ("Queue", queue.name),
            ("Name", member.name),
            ("Location", member.interface),
            ("StateInterface", member.state_interface),
            ("Membership", member.membership),
            ("Penalty", str(member.penalty)),
            ("CallsTaken", str(member.calls_taken)),
            ("LastCall", str(member.last_call)),
            ("LastPause", str(member.last_pause)),
            ("LoginTime", str(member.login_time)),
            ("InCall", str(int(member.in_call))),
            ("Status", str(member.status)),
            ("Paused", str(int(member.paused))),
            ("PausedReason", member.paused_reason),
            ("Wrapuptime", str(int(queue.settings.wrapuptime))),
        ]

    def entry_item(self, queue: Queue, entry: QueueEntry) -> list[Header]:
        channel = entry.channel
        return [
            ("Queue", queue.name),
            ("Position", str(queue.position(entry))),
            ("Channel", channel.name),
            ("Uniqueid", channel.uniqueid),
            ("CallerIDNum", channel.caller_num or "<unknown>"),
            ("CallerIDName", channel.caller_name or "<unknown>"),
            ("ConnectedLineNum", channel.connected_num or "<unknown>"),
            ("ConnectedLineName", channel.connected_name or "<unknown>"),
            ("Wait", str(int(self.pbx.clock.now() - entry.joined_at))),
            ("Priority", "0"),
        ]

    def summary_item(self, queue: Queue) -> list[Header]:
        members = list(queue.members.values())
        now = self.pbx.clock.now()
        longest = max((now - entry.joined_at for entry in queue.entries), default=0.0)
        return [
            ("Queue", queue.name),
            ("LoggedIn", str(len(members))),
            ("Available", str(sum(1 for m in members if self.is_free(queue, m)))),
            ("Callers", str(len(queue.entries))),
            ("HoldTime", str(int(queue.holdtime))),
            ("TalkTime", str(int(queue.talktime))),
            ("LongestHoldTime", str(int(longest))),
        ]
