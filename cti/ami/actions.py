"""Building AMI actions: every value validated before it can reach the wire.

panoramisk writes header values as given, so a CR/LF in a caller name or a variable would inject
headers or whole actions. Actions are built here, checked with the framing's rules, and the link
writes them with the framing's serialiser (which refuses the same again)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from cti.ami.framing import UnsafeHeader, serialise

# Channel variable names Asterisk accepts (plus function calls such as DEVICE_STATE(...)).
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\([^()\r\n\x00]*\))?$")


class UnsafeValue(ValueError):
    """A value that must not go into an action; `key` names where it was meant to go."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    headers: tuple[tuple[str, str], ...] = ()
    action_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def pairs(self) -> list[tuple[str, str]]:
        return [("Action", self.name), ("ActionID", self.action_id), *self.headers]

    def to_bytes(self) -> bytes:
        try:
            return serialise(self.pairs())
        except UnsafeHeader as exc:
            raise UnsafeValue(exc.key, str(exc)) from exc


def action(name: str, **headers: str | int | bool | None) -> Action:
    """An action from keyword headers; None values are left out, booleans become true/false."""
    pairs: list[tuple[str, str]] = []
    for key, value in headers.items():
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        pairs.append((key, text))
    built = Action(name, tuple(pairs))
    built.to_bytes()  # refuses unsafe values now, where the caller can see which
    return built


def with_variables(base: Action, variables: Mapping[str, str]) -> Action:
    extra = []
    for name, value in variables.items():
        if not _VARIABLE_NAME.match(name):
            raise UnsafeValue("Variable", f"{name!r} is not a channel variable name")
        extra.append(("Variable", f"{name}={value}"))
    built = Action(base.name, (*base.headers, *extra), base.action_id)
    built.to_bytes()
    return built


def new_channel_id() -> str:
    """Our own id for an originated channel; Asterisk uses it as the channel's Uniqueid, so a
    retry can first ask whether the call already exists."""
    return "cc-" + uuid.uuid4().hex


def originate(
    channel: str,
    *,
    context: str | None = None,
    exten: str | None = None,
    priority: int | None = 1,
    application: str | None = None,
    data: str | None = None,
    caller_id: str | None = None,
    timeout_ms: int = 30_000,
    channel_id: str | None = None,
    other_channel_id: str | None = None,
    account: str | None = None,
    variables: Mapping[str, str] | None = None,
) -> Action:
    if (application is None) == (context is None or exten is None):
        raise ValueError("originate needs either context+exten or application")
    base = action(
        "Originate",
        Channel=channel,
        Context=context,
        Exten=exten,
        Priority=priority if application is None else None,
        Application=application,
        Data=data,
        CallerID=caller_id,
        Timeout=timeout_ms,
        Account=account,
        ChannelId=channel_id or new_channel_id(),
        OtherChannelId=other_channel_id,
        Async=True,
    )
    return with_variables(base, variables or {})


def queue_add(
    queue: str,
    interface: str,
    *,
    member_name: str | None = None,
    state_interface: str | None = None,
    paused: bool = False,
    reason: str | None = None,
    penalty: int | None = None,
) -> Action:
    return action(
        "QueueAdd",
        Queue=queue,
        Interface=interface,
        MemberName=member_name,
        StateInterface=state_interface,
        Paused=paused,
        Reason=reason,
        Penalty=penalty,
    )


def queue_remove(queue: str, interface: str) -> Action:
    return action("QueueRemove", Queue=queue, Interface=interface)


def queue_pause(
    interface: str, paused: bool, *, queue: str | None = None, reason: str | None = None
) -> Action:
    return action("QueuePause", Interface=interface, Paused=paused, Queue=queue, Reason=reason)


def redirect(channel: str, *, context: str, exten: str, priority: int = 1) -> Action:
    return action("Redirect", Channel=channel, Context=context, Exten=exten, Priority=priority)


def hangup(channel: str, cause: int | None = None) -> Action:
    return action("Hangup", Channel=channel, Cause=cause)


def _required(key: str, value: str) -> str:
    """Asterisk answers an empty Channel or Exten with an error only after the round trip, and
    an empty Context silently means the channel's own: refuse them here."""
    if not value or value != value.strip():
        raise UnsafeValue(key, "must be given, without surrounding spaces")
    return value


def blind_transfer(channel: str, *, context: str, exten: str) -> Action:
    """Send the party bridged with ``channel`` (the agent's own channel, the transferer) to
    exten@context; the agent's channel is hung up. Answered once done: ``Transfer succeeded``,
    or an error (``Transfer invalid`` when the channel is not bridged with one other party)."""
    return action(
        "BlindTransfer",
        Channel=_required("Channel", channel),
        Context=_required("Context", context),
        Exten=_required("Exten", exten),
    )


def atxfer(channel: str, *, context: str, exten: str) -> Action:
    """Attended transfer by ``channel`` (the agent's own channel): the customer is held while
    the agent consults exten@context. Hanging the agent's channel up completes the transfer;
    ``cancel_atxfer`` goes back to the customer. Answered at once (the feature DTMF is queued);
    the transfer itself shows in events."""
    return action(
        "Atxfer",
        Channel=_required("Channel", channel),
        Context=_required("Context", context),
        Exten=_required("Exten", exten),
    )


def cancel_atxfer(channel: str) -> Action:
    """End the consultation ``channel`` (the transferring agent's channel) is making and bring
    it back to the customer."""
    return action("CancelAtxfer", Channel=_required("Channel", channel))


def setvar(variable: str, value: str, channel: str | None = None) -> Action:
    if not _VARIABLE_NAME.match(variable):
        raise UnsafeValue("Variable", f"{variable!r} is not a channel variable name")
    return action("Setvar", Channel=channel, Variable=variable, Value=value)


def status(channel: str | None = None) -> Action:
    return action("Status", Channel=channel)


def core_show_channels() -> Action:
    return action("CoreShowChannels")


def core_status() -> Action:
    """When the PBX started (CoreStartupDate/Time), among others."""
    return action("CoreStatus")


def queue_status(queue: str | None = None) -> Action:
    return action("QueueStatus", Queue=queue)


def ping() -> Action:
    return action("Ping")
