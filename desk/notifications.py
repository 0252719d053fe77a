"""Every message that crosses the bus, typed, and the one place that names the bus channels.

Two kinds:
- bus notifications (``Notification`` subclasses): one channel each, published through a
  ``Notifier``. The publishing instance's own handlers get the notification at once (a pop
  does not wait on a round trip through Redis); the other instances get it over the bus,
  decoded and validated (the bus is a boundary) before any handler sees it;
- browser messages (``BrowserMessage`` subclasses): what an agent's or a supervisor's tab
  receives over its websocket, carried inside ``ToAgent`` / ``ToSupervisors``. Their ``type``
  is the name the page's script dispatches on (web/static/*.js).

Nothing publishes a bare dict: publishers build these, the notifier encodes them."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

import structlog
from pydantic import TypeAdapter, ValidationError

from cti.bus import Bus
from desk.workers import background

log = structlog.get_logger("desk.notifications")

# ---------------------------------------------------------------- channel names

TO_AGENT = "agent.events"
TO_SUPERVISORS = "supervisor.events"
AGENT_TAB_OPENED = "agent.tab_opened"
SUPERVISOR_TAB_OPENED = "supervisor.tab_opened"
WRAPUP_DONE = "wrapup.done"
DIRECTORY_CHANGED = "directory.changed"
SESSIONS_ENDED = "sessions.ended"
PERMISSIONS_CHANGED = "permissions.changed"
COMMANDS = "desk.commands"
COMMAND_REPLIES = "desk.command_replies"
CUSTOMER_LINKED = "desk.customer_linked"
ORIGIN = "_origin"  # on the bus: the publishing notifier, which has delivered it already

# ---------------------------------------------------------------- browser messages


class BrowserMessage:
    """A message for a browser tab; ``type`` is what the page dispatches on."""

    type: ClassVar[str]

    def as_json(self) -> dict[str, Any]:
        # Shallow: a pop's card is already JSON-shaped; asdict() would copy it deeply.
        return {"type": self.type, **{f.name: getattr(self, f.name) for f in fields(self)}}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class Offered(BrowserMessage):
    """The screen pop: the agent's phone rings with this call."""

    type: ClassVar[str] = "call.offered"
    call_id: str
    device_channel: str
    queue: str
    dnis: str
    direction: str
    caller: dict[str, Any]  # number, name, withheld
    lookup: dict[str, Any]  # crm_core.cards.Lookup.as_dict()
    offered_at: float
    again: bool = False  # sent again to a tab that connected while it rang
    campaign: dict[str, Any] | None = None  # a campaign's call: crm_core.dialling.entry_for_pop


@dataclass(frozen=True, slots=True, kw_only=True)
class CurrentCall(BrowserMessage):
    """To a tab that connects mid-call (a reload, a second tab): the call the agent is on,
    with its pop when there was one, so that its card and controls come back."""

    type: ClassVar[str] = "call.current"
    call_id: str
    device_channel: str
    queue: str
    state: str  # dialling, ringing, talking
    since: float
    pop: dict[str, Any] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdrawn(BrowserMessage):
    type: ClassVar[str] = "call.withdrawn"
    call_id: str
    device_channel: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Answered(BrowserMessage):
    type: ClassVar[str] = "call.answered"
    call_id: str
    device_channel: str
    queue: str
    direction: str
    wait_seconds: float
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Transferred(BrowserMessage):
    type: ClassVar[str] = "call.transferred"
    call_id: str
    kind: str
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Ended(BrowserMessage):
    type: ClassVar[str] = "call.ended"
    call_id: str
    outcome: str
    talk_seconds: float
    answered: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapUpStarted(BrowserMessage):
    type: ClassVar[str] = "wrapup.started"
    call_id: str
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRow(BrowserMessage):
    """One agent's whole live row (desk.agents.AgentView.row())."""

    type: ClassVar[str] = "agent.state"
    agent: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCustomer(BrowserMessage):
    """The caller was saved as a customer during the call: the call's card shows them now."""

    type: ClassVar[str] = "call.customer"
    call_id: str
    card: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuesRestored(BrowserMessage):
    """The PBX restarted and forgot its members: the desk put the agent back as they were."""

    type: ClassVar[str] = "agent.queues_restored"
    queues: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentGone(BrowserMessage):
    type: ClassVar[str] = "agent.gone"
    interface: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseExceeded(BrowserMessage):
    type: ClassVar[str] = "agent.pause_exceeded"
    interface: str
    reason: str
    paused_seconds: int
    limit_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignState(BrowserMessage):
    """A running campaign, once a second: calls, counts, abandon windows, the pacing's last
    decision and why (dialer.engine.CampaignEngine.state())."""

    type: ClassVar[str] = "campaign.state"
    campaign: dict[str, Any]


# ---------------------------------------------------------------- bus notifications


class Notification:
    """A message on one bus channel."""

    channel: ClassVar[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToAgent(Notification):
    """For every tab of one agent, on whichever instance it is connected."""

    channel: ClassVar[str] = TO_AGENT
    user_id: int
    message: dict[str, Any]

    @classmethod
    def of(cls, user_id: int, message: BrowserMessage) -> ToAgent:
        return cls(user_id=user_id, message=message.as_json())


@dataclass(frozen=True, slots=True, kw_only=True)
class ToSupervisors(Notification):
    """For every tab of users who monitor agents."""

    channel: ClassVar[str] = TO_SUPERVISORS
    message: dict[str, Any]

    @classmethod
    def of(cls, message: BrowserMessage) -> ToSupervisors:
        return cls(message=message.as_json())


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentTabOpened(Notification):
    """An agent's tab connected: what rings for them, and their own row, is sent again."""

    channel: ClassVar[str] = AGENT_TAB_OPENED
    user_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorTabOpened(Notification):
    """A supervisor's tab connected: every agent's row is sent again."""

    channel: ClassVar[str] = SUPERVISOR_TAB_OPENED


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapUpDone(Notification):
    """The agent sent the disposition of this call."""

    channel: ClassVar[str] = WRAPUP_DONE
    user_id: int
    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryChanged(Notification):
    """A user's extension or status changed: every instance reloads its agent directory."""

    channel: ClassVar[str] = DIRECTORY_CHANGED


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionsEnded(Notification):
    """These sessions ended: their sockets are told and closed on every instance."""

    channel: ClassVar[str] = SESSIONS_ENDED
    session_ids: list[str] = field(default_factory=list)
    reason: str = "ended"


@dataclass(frozen=True, slots=True, kw_only=True)
class PermissionsChanged(Notification):
    """These users' roles, or their roles' permissions, changed: every instance re-reads what
    they may do and applies it to their open sockets."""

    channel: ClassVar[str] = PERMISSIONS_CHANGED
    user_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerLinked(Notification):
    """A caller was saved as a customer during their call: the pops kept for that call (sent
    again to tabs that connect) show the customer from now on."""

    channel: ClassVar[str] = CUSTOMER_LINKED
    call_id: str
    card: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRequest(Notification):
    """A desk command forwarded to the instance that drives the PBX link."""

    channel: ClassVar[str] = COMMANDS
    request_id: str
    command: str
    arguments: dict[str, Any]
    deadline: float  # wall-clock time after which the sender no longer waits


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandReply(Notification):
    channel: ClassVar[str] = COMMAND_REPLIES
    request_id: str
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # the domain error's class name, when not ok
    message: str = ""


N = TypeVar("N", bound=Notification)
_adapters: dict[type, TypeAdapter[Any]] = {}


def encode(notification: Notification) -> dict[str, Any]:
    return {f.name: getattr(notification, f.name) for f in fields(notification)}  # type: ignore[arg-type]


def decode(kind: type[N], data: dict[str, Any]) -> N:
    """Validated: a message with missing or ill-typed fields raises ValueError."""
    adapter = _adapters.get(kind)
    if adapter is None:
        adapter = _adapters[kind] = TypeAdapter(kind)
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise ValueError(f"{kind.__name__}: {exc.error_count()} bad fields") from exc


class Notifier:
    """The one publisher: services call ``publish(notification)``, never the bus."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.origin = uuid.uuid4().hex
        self._handlers: defaultdict[type, list[Callable[[Any], None]]] = defaultdict(list)

    async def publish(self, notification: Notification) -> None:
        """To this instance's handlers now, then to the other instances over the bus (which
        may raise: the bus is down)."""
        for handler in self._handlers.get(type(notification), ()):
            try:
                handler(notification)
            except Exception:
                log.exception("notification.handler_failed", channel=notification.channel)
        data = encode(notification)
        data[ORIGIN] = self.origin
        await self.bus.publish(notification.channel, data)

    def publish_soon(self, notification: Notification) -> None:
        """From synchronous code (bus handlers must not wait)."""
        background(self.publish(notification), what=f"publish {notification.channel}")

    async def subscribe(self, kind: type[N], handler: Callable[[N], None]) -> None:
        """``handler`` gets each valid message of that kind; it must not block."""

        def on_message(channel: str, data: dict[str, Any]) -> None:
            if data.pop(ORIGIN, None) == self.origin:
                return  # ours: delivered when it was published
            try:
                message = decode(kind, data)
            except ValueError as exc:
                log.warning("bus.bad_notification", channel=channel, error=str(exc))
                return
            handler(message)

        self._handlers[kind].append(handler)
        await self.bus.subscribe(kind.channel, on_message)
