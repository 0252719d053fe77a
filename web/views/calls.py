"""Call control from the agent desktop, over HTTP: click-to-call, hang up, blind and attended
transfer, and the wrap-up (disposition and notes) after the call. Each parses its input and
calls the desk (desk.commands), which acts on the caller's own phone and call only."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from aiohttp import web
from pydantic import AwareDatetime, Field, StringConstraints

from crm_core.call_records import awaiting_disposition
from crm_core.interactions import NOTES_LIMIT, WrapUp, interaction_json
from crm_core.schemas import Input
from dialer.outbound import Result
from web.api.registry import ApiRoutes
from web.appkeys import clock_key, db_key, desk_key, outbound_key
from web.principal import actor, require_principal

# What a transfer may dial: an extension or a DID of the `transfer` context, nothing else.
TransferTarget = Annotated[str, StringConstraints(pattern=r"^[0-9]{2,15}$")]


api = ApiRoutes()


class WrapUpInput(Input):
    disposition: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    notes: Annotated[str, StringConstraints(max_length=NOTES_LIMIT)] = ""
    customer_id: int | None = Field(default=None, ge=1, le=2**62)
    # A campaign call's "callback" result: when, and whether for this agent only.
    callback_at: AwareDatetime | None = None
    callback_personal: bool = False


class DialInput(Input):
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    customer_id: int | None = Field(default=None, ge=1, le=2**62)


class TransferInput(Input):
    kind: Literal["blind", "attended"]
    target: TransferTarget


@api.route(
    "POST",
    "/calls/dial",
    summary="Click-to-call: ring my phone, then the number",
    access="calls.handle",
    body=DialInput,
    status=202,
    tag="calls",
)
async def dial(request: web.Request, data: DialInput) -> object:
    who = require_principal(request)
    return await request.app[desk_key].dial(
        who.user_id, data.number, data.customer_id, permissions=who.permissions
    )


@api.route(
    "POST",
    "/calls/current/hangup",
    summary="Hang up my current call",
    access="calls.handle",
    tag="calls",
)
async def hang_up(request: web.Request) -> object:
    return await request.app[desk_key].hang_up(require_principal(request).user_id)


@api.route(
    "POST",
    "/calls/current/transfer",
    summary="Transfer my current call: blind, or attended (consult first)",
    access="calls.handle",
    body=TransferInput,
    tag="calls",
)
async def transfer(request: web.Request, data: TransferInput) -> object:
    return await request.app[desk_key].transfer(
        require_principal(request).user_id, data.kind, data.target
    )


@api.route(
    "POST",
    "/calls/current/transfer/complete",
    summary="Attended transfer: connect the caller to the consulted party",
    access="calls.handle",
    tag="calls",
)
async def complete_transfer(request: web.Request) -> object:
    return await request.app[desk_key].complete_transfer(require_principal(request).user_id)


@api.route(
    "POST",
    "/calls/current/transfer/cancel",
    summary="Attended transfer: drop the consulted party, back to the caller",
    access="calls.handle",
    tag="calls",
)
async def cancel_transfer(request: web.Request) -> object:
    return await request.app[desk_key].cancel_transfer(require_principal(request).user_id)


@api.route(
    "GET",
    "/calls/transfer-targets",
    summary="Colleagues (with their status now) and queues a call can be transferred to",
    access="calls.handle",
    tag="calls",
)
async def transfer_targets(request: web.Request) -> object:
    return await request.app[desk_key].transfer_targets(require_principal(request).user_id)


# How far back a desk looks for calls still waiting for their disposition: one shift.
OPEN_WRAP_UPS = timedelta(hours=12)


@api.route(
    "GET",
    "/calls/awaiting-wrap-up",
    summary="My answered calls of this shift that still have no disposition",
    access="calls.handle",
    tag="calls",
)
async def awaiting_wrap_up(request: web.Request) -> object:
    since = request.app[clock_key]() - OPEN_WRAP_UPS
    async with request.app[db_key]() as db:
        calls = await awaiting_disposition(db, require_principal(request).user_id, since=since)
    return {"calls": calls}


@api.route(
    "POST",
    "/calls/{call_id}/wrap-up",
    summary="After the call: disposition and notes, written on the customer",
    access="calls.handle",
    body=WrapUpInput,
    status=201,
    tag="calls",
)
async def post_wrap_up(request: web.Request, data: WrapUpInput) -> object:
    call_id = request.match_info["call_id"]
    if len(call_id) > 64:
        raise web.HTTPNotFound()
    item = await request.app[outbound_key].wrap_up(
        require_principal(request).user_id,
        actor(request),
        Result(
            WrapUp(
                call_id=call_id,
                disposition=data.disposition,
                notes=data.notes,
                customer_id=data.customer_id,
            ),
            callback_at=data.callback_at,
            personal=data.callback_personal,
        ),
    )
    return interaction_json(item)
