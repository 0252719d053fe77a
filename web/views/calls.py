"""Call control from the agent desktop: click-to-call, hang up, blind and attended transfer,
and the wrap-up (disposition and notes) after the call. Each acts on the caller's own phone
and call only: the channel comes from what the PBX reported for that agent, never from the
browser."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Literal

import structlog
from aiohttp import web
from pydantic import Field, StringConstraints

from crm_core.cards import customer_card
from crm_core.interactions import NOTES_LIMIT, WrapUp, interaction_json, wrap_up
from crm_core.models import User
from crm_core.phones import normalise
from crm_core.schemas import Input
from cti.agent_calls import AgentCall
from cti.ami import actions
from cti.ami.errors import AmiError
from cti.ami.link import AmiLink
from cti.events import Direction
from web.api.endpoints import api
from web.appkeys import (
    agent_calls_key,
    bus_key,
    clock_key,
    db_key,
    link_key,
    settings_key,
    telephony_key,
)
from web.principal import actor, require_principal
from web.wrapup import WRAPUP_DONE

log = structlog.get_logger("web.calls")
CallId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
# What a transfer may dial: an extension or a DID of the `transfer` context, nothing else.
TransferTarget = Annotated[str, StringConstraints(pattern=r"^[0-9]{2,15}$")]
TRANSFER_CONTEXT = "transfer"
CLICK_TO_CALL_CONTEXT = "clicktocall"


class WrapUpInput(Input):
    disposition: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    notes: Annotated[str, StringConstraints(max_length=NOTES_LIMIT)] = ""
    customer_id: int | None = Field(default=None, ge=1, le=2**62)


class DialInput(Input):
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=64)]
    customer_id: int | None = Field(default=None, ge=1, le=2**62)


class TransferInput(Input):
    kind: Literal["blind", "attended"]
    target: TransferTarget


async def my_phone(request: web.Request) -> tuple[User, str]:
    """The logged-in agent and their phone's queue-member interface."""
    who = require_principal(request)
    async with request.app[db_key]() as db:
        user = await db.get(User, who.user_id)
    if user is None or not user.extension:
        raise web.HTTPConflict(reason="your user has no phone extension")
    return user, request.app[settings_key].agent_interface.format(extension=user.extension)


def _quotable(name: str) -> str:
    """A display name fit for a quoted caller ID: no quotes or angle brackets inside."""
    return "".join(c for c in name if c not in '"<>\\')[:40]


def pbx_link(request: web.Request) -> AmiLink:
    link = request.app.get(link_key)
    if link is None:
        raise web.HTTPServiceUnavailable(reason="no PBX is configured")
    return link


async def _send(link: AmiLink, action: actions.Action) -> None:
    try:
        await link.send(action)
    except AmiError as exc:
        raise web.HTTPBadGateway(reason=f"the PBX refused: {exc}") from exc


def _current_call(request: web.Request, interface: str) -> AgentCall:
    call = request.app[agent_calls_key].current(interface)
    if call is None:
        raise web.HTTPConflict(reason="you are not on a call")
    if not call.device_channel:  # a click-to-call still ringing: the PBX has named its channel
        for open_call in request.app[telephony_key].calls.open_calls():
            if open_call.linked_id == call.linked_id:
                mine = [c for c in open_call.channels if c.startswith(interface + "-")]
                if mine:
                    return replace(call, device_channel=mine[0])
        raise web.HTTPConflict(reason="your call is not set up yet")
    return call


@api.route("POST", "/calls/dial", summary="Click-to-call: ring my phone, then the number",
           access="calls.handle", body=DialInput, status=202, tag="calls")
async def dial(request: web.Request, data: DialInput) -> object:
    user, interface = await my_phone(request)
    settings = request.app[settings_key]
    number = normalise(data.number, settings.default_region)
    if not number.usable:
        raise web.HTTPUnprocessableEntity(reason=f"{data.number!r} is not a phone number")
    calls = request.app[agent_calls_key]
    if calls.current(interface) is not None:
        raise web.HTTPConflict(reason="you are on a call already")
    card = None
    if data.customer_id:
        async with request.app[db_key]() as db:
            card = await customer_card(db, data.customer_id)
        if card is None:
            raise web.HTTPNotFound(reason=f"no customer {data.customer_id}")
    action = actions.originate(
        interface, context=CLICK_TO_CALL_CONTEXT, exten=number.e164,
        caller_id=f'"{_quotable(user.display_name)}" <{user.extension}>', timeout_ms=30_000,
    )
    channel_id = dict(action.headers)["ChannelId"]
    tags = {"user_id": str(user.id)}
    if data.customer_id:
        tags["customer_id"] = str(data.customer_id)
    request.app[telephony_key].calls.expect(channel_id, Direction.CLICK_TO_CALL, tags,
                                           action_id=action.action_id)
    calls.dialling(interface, channel_id, request.app[clock_key]().timestamp())
    try:
        await pbx_link(request).originate(action)
    except AmiError as exc:
        calls.forget(interface, channel_id)
        raise web.HTTPBadGateway(reason=f"the PBX refused: {exc}") from exc
    log.info("call.click_to_call", agent=interface, call_id=channel_id, number=number.e164)
    return {"call_id": channel_id, "number": number.e164, "card": card}


async def _act_on_my_call(request: web.Request, build: Callable[[str], actions.Action],
                          ) -> dict[str, str]:
    """Send the PBX an action on the agent's own channel of their current call."""
    _user, interface = await my_phone(request)
    call = _current_call(request, interface)
    await _send(pbx_link(request), build(call.device_channel))
    return {"call_id": call.linked_id}


@api.route("POST", "/calls/current/hangup", summary="Hang up my current call",
           access="calls.handle", tag="calls")
async def hang_up(request: web.Request) -> object:
    return await _act_on_my_call(request, actions.hangup)


@api.route("POST", "/calls/current/transfer",
           summary="Transfer my current call: blind, or attended (consult first)",
           access="calls.handle", body=TransferInput, tag="calls")
async def transfer(request: web.Request, data: TransferInput) -> object:
    _user, interface = await my_phone(request)
    call = _current_call(request, interface)
    if call.state != "talking":
        raise web.HTTPConflict(reason="only an answered call can be transferred")
    build = actions.blind_transfer if data.kind == "blind" else actions.atxfer
    await _send(pbx_link(request), build(call.device_channel, context=TRANSFER_CONTEXT,
                                         exten=data.target))
    log.info("call.transfer_requested", agent=interface, call_id=call.linked_id,
             kind=data.kind, target=data.target)
    return {"call_id": call.linked_id, "kind": data.kind, "target": data.target}


@api.route("POST", "/calls/current/transfer/complete",
           summary="Attended transfer: connect the caller to the consulted party",
           access="calls.handle", tag="calls")
async def complete_transfer(request: web.Request) -> object:
    # Asterisk completes an attended transfer when the transferer's channel leaves.
    return await _act_on_my_call(request, actions.hangup)


@api.route("POST", "/calls/current/transfer/cancel",
           summary="Attended transfer: drop the consulted party, back to the caller",
           access="calls.handle", tag="calls")
async def cancel_transfer(request: web.Request) -> object:
    return await _act_on_my_call(request, actions.cancel_atxfer)


@api.route("POST", "/calls/{call_id}/wrap-up",
           summary="After the call: disposition and notes, written on the customer",
           access="calls.handle", body=WrapUpInput, status=201, tag="calls")
async def post_wrap_up(request: web.Request, data: WrapUpInput) -> object:
    who = require_principal(request)
    call_id = request.match_info["call_id"]
    if len(call_id) > 64:
        raise web.HTTPNotFound()
    async with request.app[db_key]() as db:
        item = await wrap_up(db, WrapUp(call_id=call_id, disposition=data.disposition,
                                        notes=data.notes, customer_id=data.customer_id),
                             actor(request), now=request.app[clock_key]())
    await request.app[bus_key].publish(WRAPUP_DONE, {"user_id": who.user_id,
                                                     "call_id": call_id})
    return interaction_json(item)
