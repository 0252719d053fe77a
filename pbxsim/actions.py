"""AMI actions: each handler reads an action and answers as Asterisk 22 does.

A handler returns the messages to write (the response, then any list items), or an awaitable of
them when it has to wait (a synchronous Originate). Login, Challenge, Logoff and Events change
the session itself and live in ``server``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cti.ami.framing import Frame, serialise
from pbxsim.channels import STATE_DESC, Channel
from pbxsim.config_files import QUEUES_FILE, TRUNKS_FILE, ConfigError
from pbxsim.dialplan import Apps
from pbxsim.events import SECURITY, Header, response
from pbxsim.legs import CallerId
from pbxsim.originate import OriginateRequest
from pbxsim.pbx import DEVICE_STATE_CODES
from pbxsim.queues import QueueError
from pbxsim.transfers import (
    FAIL,
    INVALID,
    NOT_PERMITTED,
    SUCCESS,
    AttendedTransfer,
    blind_transfer,
    cancel_attended_transfer,
)

if TYPE_CHECKING:
    from pbxsim.server import Session
    from pbxsim.simulator import Simulator

Reply = list[bytes]
Handler = Callable[["ActionContext"], "Reply | Awaitable[Reply]"]

AMI_VERSION = "11.0.0"
ASTERISK_VERSION = "22.10.1"


@dataclass
class ActionContext:
    session: Session
    frame: Frame

    @property
    def sim(self) -> Simulator:
        return self.session.sim

    @property
    def action_id(self) -> str | None:
        return self.frame.action_id

    def get(self, key: str, default: str = "") -> str:
        value = self.frame.get(key)
        return default if value is None else value

    def ok(self, *headers: Header) -> bytes:
        return response("Success", self.action_id, *headers)

    def error(self, message: str) -> Reply:
        return [response("Error", self.action_id, ("Message", message))]

    def list_start(self, message: str) -> bytes:
        return self.ok(("EventList", "start"), ("Message", message))

    def list_complete(self, name: str, count: int, *extra: Header) -> bytes:
        headers: list[Header] = [("Event", name)]
        if self.action_id is not None:
            headers.append(("ActionID", self.action_id))
        headers += [("EventList", "Complete"), ("ListItems", str(count)), *extra]
        return serialise(headers)

    def item(self, name: str, headers: list[Header], *, action_id_first: bool = False) -> bytes:
        """A list item; Asterisk puts its ActionID first for some lists, last for others."""
        pairs: list[Header] = [("Event", name)]
        aid = [("ActionID", self.action_id)] if self.action_id is not None else []
        if action_id_first:
            pairs += aid + headers
        else:
            pairs += headers + aid
        return serialise(pairs)


@dataclass(frozen=True)
class ActionSpec:
    name: str
    handler: Handler
    privileges: frozenset[str]  # the user needs write access to one of these; empty: none


ACTIONS: dict[str, ActionSpec] = {}


def action(name: str, *privileges: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ACTIONS[name.lower()] = ActionSpec(name, handler, frozenset(privileges))
        return handler

    return register


def dispatch(ctx: ActionContext) -> Reply | Awaitable[Reply]:
    name = ctx.frame.name
    spec = ACTIONS.get(name.lower())
    session = ctx.session
    if spec is None:
        session.server.security_event(
            "RequestBadFormat", session, ("RequestType", f"Action: {name}")
        )
        return ctx.error(
            f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."
        )
    user = session.user
    if spec.privileges and (user is None or not spec.privileges & user.write):
        session.server.security_event(
            "RequestNotAllowed", session, ("RequestType", f"Action: {name}")
        )
        return ctx.error("Permission denied")
    return spec.handler(ctx)


def _yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "y", "t", "1", "on")


# -- core -------------------------------------------------------------------------------------


@action("Ping")
def ping(ctx: ActionContext) -> Reply:
    return [ctx.ok(("Ping", "Pong"), ("Timestamp", f"{ctx.sim.clock.wall():.6f}"))]


@action("ListCommands")
def list_commands(ctx: ActionContext) -> Reply:
    names = sorted(["Login", "Logoff", "Challenge", "Events", *(s.name for s in ACTIONS.values())])
    lines = []
    for name in names:
        spec = ACTIONS.get(name.lower())
        privilege = ",".join(sorted(spec.privileges)) if spec and spec.privileges else "<none>"
        lines.append((name, f"{name}.  (Priv: {privilege})"))
    return [ctx.ok(*lines)]


@action("CoreSettings", "system", "reporting")
def core_settings(ctx: ActionContext) -> Reply:
    return [
        ctx.ok(
            ("AMIversion", AMI_VERSION),
            ("AsteriskVersion", ASTERISK_VERSION),
            ("SystemName", ""),
            ("CoreMaxCalls", "0"),
            ("CoreMaxLoadAvg", "0.000000"),
            ("CoreRunUser", ""),
            ("CoreRunGroup", ""),
            ("CoreMaxFilehandles", "0"),
            ("CoreRealTimeEnabled", "No"),
            ("CoreCDRenabled", "Yes"),
            ("CoreHTTPenabled", "No"),
            ("SoundsSearchCustomDir", "No"),
        )
    ]


def _date_time(wall: float) -> tuple[str, str]:
    moment = time.gmtime(wall)
    return time.strftime("%Y-%m-%d", moment), time.strftime("%H:%M:%S", moment)


@action("CoreStatus", "system", "reporting")
def core_status(ctx: ActionContext) -> Reply:
    sim = ctx.sim
    start_date, start_time = _date_time(sim.started_wall)
    reload_date, reload_time = _date_time(sim.reloaded_wall)
    calls = len({channel.linkedid for channel in sim.pbx.channels.values()})
    return [
        ctx.ok(
            ("CoreStartupDate", start_date),
            ("CoreStartupTime", start_time),
            ("CoreReloadDate", reload_date),
            ("CoreReloadTime", reload_time),
            ("CoreCurrentCalls", str(calls)),
            ("CoreProcessedCalls", str(sim.pbx.processed_calls)),
        )
    ]


def _duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@action("CoreShowChannels", "system", "reporting")
def core_show_channels(ctx: ActionContext) -> Reply:
    now = ctx.sim.clock.now()
    messages = [ctx.list_start("Channels will follow")]
    channels = list(ctx.sim.pbx.channels.values())
    for channel in channels:
        messages.append(
            ctx.item(
                "CoreShowChannel",
                [
                    *channel.snapshot(),
                    ("Application", channel.application),
                    ("ApplicationData", channel.app_data),
                    ("Duration", _duration(now - channel.created_at)),
                    ("BridgeId", channel.bridge.uniqueid if channel.bridge else ""),
                ],
                action_id_first=True,
            )
        )
    messages.append(ctx.list_complete("CoreShowChannelsComplete", len(channels)))
    return messages


@action("Status", "system", "call", "reporting")
def status(ctx: ActionContext) -> Reply:
    pbx = ctx.sim.pbx
    name = ctx.get("Channel")
    if name:
        channel = pbx.find_channel(name)
        if channel is None:
            return ctx.error("No such channel")
        channels = [channel]
    else:
        channels = list(pbx.channels.values())
    wanted = [v.strip() for v in ctx.get("Variables").split(",") if v.strip()]
    messages = [ctx.list_start("Channel status will follow")]
    for channel in channels:
        messages.append(ctx.item("Status", _status_headers(ctx, channel, wanted)))
    count = str(len(channels))
    messages.append(ctx.list_complete("StatusComplete", len(channels), ("Items", count)))
    return messages


def _status_headers(ctx: ActionContext, channel: Channel, wanted: list[str]) -> list[Header]:
    codec = "slin" if channel.tech == "Local" else "ulaw"
    headers: list[Header] = [
        ("Privilege", "Call"),
        *channel.snapshot(),
        ("Type", channel.tech),
        ("DNID", ""),
        ("EffectiveConnectedLineNum", channel.connected_num or "<unknown>"),
        ("EffectiveConnectedLineName", channel.connected_name or "<unknown>"),
        ("TimeToHangup", "0"),
        ("BridgeID", channel.bridge.uniqueid if channel.bridge else ""),
        ("Application", channel.application),
        ("Data", channel.app_data),
        ("Nativeformats", f"({codec})"),
        ("Readformat", codec),
        ("Readtrans", ""),
        ("Writeformat", codec),
        ("Writetrans", ""),
        ("Callgroup", "0"),
        ("Pickupgroup", "0"),
        ("Seconds", str(int(ctx.sim.clock.now() - channel.created_at))),
    ]
    for variable in wanted:
        headers.append(("Variable", f"{variable}={channel.variables.get(variable, '(null)')}"))
    return headers


# -- variables --------------------------------------------------------------------------------

_DEVICE_STATE = re.compile(r"DEVICE_STATE\((.+)\)", re.IGNORECASE)


@action("Setvar", "call")
def setvar(ctx: ActionContext) -> Reply:
    name = ctx.get("Variable")
    value = ctx.get("Value")
    if not name:
        return ctx.error("No variable specified")
    channel_name = ctx.get("Channel")
    sim = ctx.sim
    if channel_name:
        channel = sim.pbx.find_channel(channel_name)
        if channel is None:
            return ctx.error("No such channel")
        reply = [ctx.ok(("Message", "Variable Set"))]
        Apps(sim.runtime, channel).assign(name, value)
        return reply
    device = _DEVICE_STATE.fullmatch(name)
    if device is not None:
        if value.upper() not in DEVICE_STATE_CODES:
            return ctx.error("Failed to set variable")
        reply = [ctx.ok(("Message", "Variable Set"))]
        sim.runtime.set_custom_device_state(device.group(1), value)
        return reply
    sim.globals[name] = value
    return [ctx.ok(("Message", "Variable Set"))]


@action("Getvar", "call", "reporting")
def getvar(ctx: ActionContext) -> Reply:
    name = ctx.get("Variable")
    if not name:
        return ctx.error("No variable specified")
    sim = ctx.sim
    channel_name = ctx.get("Channel")
    device = _DEVICE_STATE.fullmatch(name)
    if device is not None:
        value = sim.pbx.device_state(device.group(1))
    elif channel_name:
        channel = sim.pbx.find_channel(channel_name)
        if channel is None:
            return ctx.error("No such channel")
        value = _channel_value(channel, name)
    else:
        value = sim.globals.get(name, "")
    return [ctx.ok(("Variable", name), ("Value", value))]


def _channel_value(channel: Channel, name: str) -> str:
    upper = name.upper()
    builtins = {
        "CHANNEL": channel.name,
        "UNIQUEID": channel.uniqueid,
        "LINKEDID": channel.linkedid,
        "CALLERID(NUM)": channel.caller_num,
        "CALLERID(NAME)": channel.caller_name,
        "CHANNEL(STATE)": STATE_DESC.get(int(channel.state), "Unknown"),
        "CONTEXT": channel.context,
        "EXTEN": channel.exten,
    }
    return builtins.get(upper, channel.variables.get(name, ""))


# -- calls ------------------------------------------------------------------------------------


@action("Hangup", "system", "call")
def hangup(ctx: ActionContext) -> Reply:
    target = ctx.get("Channel")
    if not target:
        return ctx.error("No channel specified")
    try:
        cause = int(ctx.get("Cause", "16") or 16)
    except ValueError:
        return ctx.error("Invalid cause")
    pbx = ctx.sim.pbx
    if len(target) > 2 and target.startswith("/") and target.endswith("/"):
        try:
            pattern = re.compile(target[1:-1])
        except re.error:
            return ctx.error("Invalid regex")
        matches = [c for c in pbx.channels.values() if pattern.search(c.name)]
        for channel in matches:
            pbx.soft_hangup(channel, cause)
        return [ctx.ok(("Message", "Channels hungup"), ("Count", str(len(matches))))]
    channel = pbx.find_channel(target)
    if channel is None:
        return ctx.error("No such channel")
    pbx.soft_hangup(channel, cause)
    return [ctx.ok(("Message", "Channel Hungup"))]


@action("Redirect", "call")
def redirect(ctx: ActionContext) -> Reply:
    name = ctx.get("Channel")
    if not name:
        return ctx.error("Channel not specified")
    sim = ctx.sim
    channel = sim.pbx.find_channel(name)
    if channel is None:
        return ctx.error("Channel specified does not exist")
    context, exten = ctx.get("Context"), ctx.get("Exten")
    try:
        priority = int(ctx.get("Priority", "1") or 1)
    except ValueError:
        return ctx.error("Invalid priority")
    if not sim.runtime.dialplan.exists(context, exten):
        return ctx.error("Extension does not exist.")
    reply = [ctx.ok(("Message", "Redirect successful"))]
    sim.runtime.redirect(channel, context, exten, priority)
    return reply


_TRANSFER_ERRORS = {
    NOT_PERMITTED: "Transfer not permitted",
    INVALID: "Transfer invalid",
    FAIL: "Transfer failed",
}


@action("BlindTransfer", "call")
def blind_transfer_action(ctx: ActionContext) -> Reply:
    name, exten = ctx.get("Channel"), ctx.get("Exten")
    if not name:
        return ctx.error("No channel specified")
    if not exten:
        return ctx.error("No extension specified")
    channel = ctx.sim.pbx.find_channel(name)
    if channel is None:
        return ctx.error("Channel specified does not exist")
    context = ctx.get("Context") or channel.context
    result = blind_transfer(ctx.sim.runtime, channel, context, exten)
    if result != SUCCESS:
        return ctx.error(_TRANSFER_ERRORS[result])
    return [ctx.ok(("Message", "Transfer succeeded"))]


@action("Atxfer", "call")
def atxfer(ctx: ActionContext) -> Reply:
    """Queues the attended-transfer DTMF (features.conf atxfer) and the extension on the
    channel; the transfer then runs in its bridge, or nothing happens if it is in none."""
    name, exten = ctx.get("Channel"), ctx.get("Exten")
    if not name:
        return ctx.error("No channel specified")
    if not exten:
        return ctx.error("No extension specified")
    sim = ctx.sim
    channel = sim.pbx.find_channel(name)
    if channel is None:
        return ctx.error("Channel specified does not exist")
    context = ctx.get("Context")
    if context:
        sim.pbx.set_var(channel, "TRANSFER_CONTEXT", context)
    else:  # bridge_basic.c: TRANSFER_CONTEXT, else the channel's own context
        context = channel.variables.get("TRANSFER_CONTEXT") or channel.context or "default"
    transfer = AttendedTransfer(sim.runtime, channel, context, exten)
    sim.pbx.soon(transfer.start)
    return [ctx.ok(("Message", "Atxfer successfully queued"))]


@action("CancelAtxfer", "call")
def cancel_atxfer(ctx: ActionContext) -> Reply:
    name = ctx.get("Channel")
    if not name:
        return ctx.error("No channel specified")
    sim = ctx.sim
    channel = sim.pbx.find_channel(name)
    if channel is None:
        return ctx.error("Channel specified does not exist")
    sim.pbx.soon(cancel_attended_transfer, sim.runtime, channel)
    return [ctx.ok(("Message", "CancelAtxfer successfully queued"))]


def _variables(frame: Frame) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for header in frame.get_all("Variable"):
        for assignment in header.split(","):
            name, separator, value = assignment.partition("=")
            if separator and name.strip():
                pairs.append((name.strip(), value))
    return tuple(pairs)


@action("Originate", "originate")
def originate(ctx: ActionContext) -> Reply | Awaitable[Reply]:
    channel = ctx.get("Channel")
    if not channel:
        return ctx.error("Channel not specified")
    try:
        priority = int(ctx.get("Priority", "1") or 1)
    except ValueError:
        return ctx.error("Invalid priority")
    try:
        timeout = int(ctx.get("Timeout", "30000") or 30000) / 1000.0
    except ValueError:
        return ctx.error("Invalid timeout")
    if timeout <= 0:
        return ctx.error("Invalid timeout")
    context, exten = ctx.get("Context", "default"), ctx.get("Exten")
    application = ctx.get("Application")
    if not application and exten and not ctx.sim.runtime.dialplan.exists(context, exten):
        return ctx.error("Extension does not exist.")
    caller_id = ctx.get("CallerID")
    request = OriginateRequest(
        channel=channel,
        context=context if not application else "",
        exten=exten if not application else "",
        priority=priority,
        application=application,
        data=ctx.get("Data"),
        timeout=timeout,
        caller_id=CallerId.parse(caller_id) if caller_id else None,
        variables=_variables(ctx.frame),
        action_id=ctx.action_id,
        channel_id=ctx.get("ChannelId") or None,
        other_channel_id=ctx.get("OtherChannelId") or None,
    )
    if _yes(ctx.get("Async", "false")):
        reply = [ctx.ok(("Message", "Originate successfully queued"))]
        ctx.sim.originate(request)
        return reply
    return _originate_and_wait(ctx, request)


async def _originate_and_wait(ctx: ActionContext, request: OriginateRequest) -> Reply:
    """Synchronous Originate: the response comes once the call is answered or has failed."""
    sync = OriginateRequest(**{**request.__dict__, "report": False})
    result = ctx.sim.originate(sync)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    result.done.subscribe(lambda _s, _v: done.done() or done.set_result(None))
    await done
    if result.success:
        return [ctx.ok(("Message", "Originate successfully queued"))]
    return ctx.error("Originate failed")


# -- queues -----------------------------------------------------------------------------------


@action("QueueAdd", "agent")
def queue_add(ctx: ActionContext) -> Reply:
    queue, interface = ctx.get("Queue"), ctx.get("Interface")
    if not queue or not interface:
        return ctx.error("'Queue' not specified." if not queue else "'Interface' not specified.")
    try:
        penalty = int(ctx.get("Penalty", "0") or 0)
    except ValueError:
        return ctx.error("Invalid penalty")
    reply = [ctx.ok(("Message", "Added interface to queue"))]
    try:
        ctx.sim.queues.add_member(
            queue,
            interface,
            name=ctx.get("MemberName"),
            state_interface=ctx.get("StateInterface"),
            penalty=penalty,
            paused=_yes(ctx.get("Paused", "false")),
            reason=ctx.get("Reason"),
        )
    except QueueError as exc:
        return ctx.error(str(exc))
    return reply


@action("QueueRemove", "agent")
def queue_remove(ctx: ActionContext) -> Reply:
    queue, interface = ctx.get("Queue"), ctx.get("Interface")
    if not queue or not interface:
        return ctx.error("Need 'Queue' and 'Interface' parameters.")
    try:
        ctx.sim.queues.remove_member(queue, interface)
    except QueueError as exc:
        message = str(exc)
        if message.endswith("No such queue"):
            message = "Unable to remove interface from queue: No such queue"
        return ctx.error(message)
    return [ctx.ok(("Message", "Removed interface from queue"))]


@action("QueuePause", "agent")
def queue_pause(ctx: ActionContext) -> Reply:
    interface, paused = ctx.get("Interface"), ctx.get("Paused")
    if not interface or not paused:
        return ctx.error("Need 'Interface' and 'Paused' parameters.")
    pause = _yes(paused)
    state = "paused" if pause else "unpaused"
    try:
        ctx.sim.queues.pause_member(ctx.get("Queue") or None, interface, pause, ctx.get("Reason"))
    except QueueError as exc:
        return ctx.error(str(exc))
    return [ctx.ok(("Message", f"Interface {state} successfully"))]


@action("QueueStatus")
def queue_status(ctx: ActionContext) -> Reply:
    queues = ctx.sim.queues
    only_queue, only_member = ctx.get("Queue"), ctx.get("Member")
    messages = [ctx.list_start("Queue status will follow")]
    count = 0
    for queue in queues.listing_order():
        if only_queue and queue.name != only_queue:
            continue
        messages.append(ctx.item("QueueParams", queues.params_item(queue)))
        count += 1
        for member in queue.members.values():
            if only_member and member.interface != only_member:
                continue
            messages.append(ctx.item("QueueMember", queues.member_item(queue, member)))
            count += 1
        for entry in queue.entries:
            messages.append(ctx.item("QueueEntry", queues.entry_item(queue, entry)))
            count += 1
    messages.append(ctx.list_complete("QueueStatusComplete", count))
    return messages


@action("QueueSummary")
def queue_summary(ctx: ActionContext) -> Reply:
    queues = ctx.sim.queues
    only_queue = ctx.get("Queue")
    messages = [ctx.list_start("Queue summary will follow")]
    count = 0
    for queue in queues.listing_order():
        if only_queue and queue.name != only_queue:
            continue
        messages.append(ctx.item("QueueSummary", queues.summary_item(queue)))
        count += 1
    messages.append(ctx.list_complete("QueueSummaryComplete", count))
    return messages


# -- configuration ----------------------------------------------------------------------------


@action("GetConfig", "system", "config")
def get_config(ctx: ActionContext) -> Reply:
    filename = ctx.get("Filename")
    if not filename:
        return ctx.error("Filename not specified")
    filters: dict[str, str] = {}
    for part in ctx.get("Filter").split(","):
        key, separator, value = part.partition("=")
        if separator:
            filters[key.strip()] = value.strip()
    try:
        lines = ctx.sim.configs.getconfig_lines(
            filename, category=ctx.get("Category") or None, filters=filters or None
        )
    except ConfigError as exc:
        return ctx.error(str(exc))
    return [ctx.ok(*lines)]


_STEP = re.compile(r"(Action|Cat|Var|Value|Match|Line|Options)-(\d{6})", re.IGNORECASE)


@action("UpdateConfig", "config")
def update_config(ctx: ActionContext) -> Reply:
    source, destination = ctx.get("SrcFilename"), ctx.get("DstFilename")
    if not source or not destination:
        return ctx.error("Filename not specified")
    steps: dict[str, dict[str, str]] = {}
    for key, value in ctx.frame.headers:
        match = _STEP.fullmatch(key)
        if match:
            steps.setdefault(match.group(2), {})[match.group(1).capitalize()] = value
    sim = ctx.sim
    try:
        sim.configs.update(source, destination, [steps[number] for number in sorted(steps)])
        reload = ctx.get("Reload")
        if reload and reload.lower() not in ("no", "false"):
            sim.apply_config(destination)
    except ConfigError as exc:
        return ctx.error(str(exc))
    return [ctx.ok()]


_MODULE_FILES = {
    "app_queue": QUEUES_FILE,
    "app_queue.so": QUEUES_FILE,
    "res_pjsip": TRUNKS_FILE,
    "res_pjsip.so": TRUNKS_FILE,
}


@action("Reload", "system", "config")
def reload(ctx: ActionContext) -> Reply:
    module = ctx.get("Module")
    sim = ctx.sim
    if module and module.lower() not in _MODULE_FILES:
        return ctx.error("No such module")
    files = [_MODULE_FILES[module.lower()]] if module else [QUEUES_FILE, TRUNKS_FILE]
    try:
        for name in files:
            sim.apply_config(name)
    except ConfigError as exc:
        return ctx.error(str(exc))
    return [ctx.ok(("Message", "Module Reloaded"))]


@action("UserEvent", "user")
def user_event(ctx: ActionContext) -> Reply:
    name = ctx.get("UserEvent")
    if not name:
        return ctx.error("UserEvent not specified")
    headers = [
        (key, value)
        for key, value in ctx.frame.headers
        if key.lower() not in ("action", "actionid")
    ]
    reply = [ctx.ok(("Message", "Event Sent"))]
    ctx.sim.pbx.emit("UserEvent", headers, category="user")
    return reply


__all__ = ["ACTIONS", "SECURITY", "ActionContext", "dispatch"]
