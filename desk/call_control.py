"""Call control on the PBX: the sequences of AMI actions behind the desktop's buttons, run by
the instance that drives the PBX link (other instances forward commands to it, see
desk.commands). Each acts on the agent's own phone and call only: the channel comes from
what the PBX reported for that agent (the agent board), never from the browser."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from crm_core.clock import Clock
from crm_core.errors import Conflict, Unavailable, UpstreamFailed
from cti.ami import actions
from cti.ami.errors import ActionFailed, AmiError, LinkDown
from cti.ami.link import AmiLink
from cti.events import Direction
from cti.telephony import Telephony
from desk.agents import AgentBoard, AgentCall

log = structlog.get_logger("desk.call_control")
TRANSFER_CONTEXT = "transfer"  # what a transfer may dial: extensions and queue DIDs
CLICK_TO_CALL_CONTEXT = "clicktocall"
RING_AGENT_MS = 30_000


class CallControl:
    def __init__(
        self, *, link: AmiLink, telephony: Telephony, board: AgentBoard, clock: Clock
    ) -> None:
        self.link = link
        self.telephony = telephony
        self.board = board
        self.clock = clock

    async def dial(
        self,
        *,
        interface: str,
        number: str,
        caller_id: str,
        tags: dict[str, str],
        channel_id: str | None = None,
    ) -> dict[str, Any]:
        """Click-to-call: ring the agent's phone, then (dialplan ``clicktocall``) the number.
        ``channel_id``: the call's id when the caller recorded it before (a campaign's dial)."""
        if self.board.call_of(interface) is not None:
            raise Conflict("you are on a call already")
        action = actions.originate(
            interface,
            context=CLICK_TO_CALL_CONTEXT,
            exten=number,
            caller_id=caller_id,
            timeout_ms=RING_AGENT_MS,
            channel_id=channel_id,
        )
        channel_id = dict(action.headers)["ChannelId"]
        self.telephony.calls.expect(
            channel_id, Direction.CLICK_TO_CALL, tags, action_id=action.action_id
        )
        now = self.clock().timestamp()
        self.board.dialling(interface, channel_id, now)
        try:
            await self.link.originate(action)
        except AmiError as exc:
            self.board.forget_call(interface, channel_id, now)
            raise _pbx_error(exc) from exc
        log.info("call.click_to_call", agent=interface, call_id=channel_id, number=number)
        return {"call_id": channel_id}

    async def hang_up(self, *, interface: str) -> dict[str, Any]:
        return await self._on_my_call(interface, actions.hangup)

    async def transfer(self, *, interface: str, kind: str, target: str) -> dict[str, Any]:
        call = self._current_call(interface)
        if call.state != "talking":
            raise Conflict("only an answered call can be transferred")
        build = actions.blind_transfer if kind == "blind" else actions.atxfer
        await self._send(build(call.device_channel, context=TRANSFER_CONTEXT, exten=target))
        log.info(
            "call.transfer_requested",
            agent=interface,
            call_id=call.linked_id,
            kind=kind,
            target=target,
        )
        return {"call_id": call.linked_id, "kind": kind, "target": target}

    async def complete_transfer(self, *, interface: str) -> dict[str, Any]:
        # Asterisk completes an attended transfer when the transferer's channel leaves: without
        # a consultation that hang-up would drop the customer.
        self._consultation_of(interface, "complete")
        return await self._on_my_call(interface, actions.hangup)

    async def cancel_transfer(self, *, interface: str) -> dict[str, Any]:
        self._consultation_of(interface, "cancel")
        return await self._on_my_call(interface, actions.cancel_atxfer)

    async def statuses(self) -> dict[str, Any]:
        """Each agent's status by extension, for the transfer directory."""
        return {
            "agents": {
                view.extension: str(view.status) for view in self.board.views() if view.extension
            }
        }

    async def set_state(
        self, *, interface: str, state: str, reason: str | None, queues: list[str], member_name: str
    ) -> dict[str, Any]:
        """Ready (join and unpause), paused with a reason, or logged out of the queues."""
        for queue in queues:
            if state == "logged_out":
                await self._send(actions.queue_remove(queue, interface), harmless="Not there")
            else:
                await self._send(
                    actions.queue_add(
                        queue,
                        interface,
                        member_name=member_name,
                        state_interface=interface,
                    ),
                    harmless="Already there",
                )
                await self._send(
                    actions.queue_pause(interface, state == "paused", queue=queue, reason=reason)
                )
        return {"state": state, "reason": reason, "queues": queues, "interface": interface}

    # ------------------------------------------------------------ inside

    async def _on_my_call(
        self,
        interface: str,
        build: Callable[[str], actions.Action],
    ) -> dict[str, Any]:
        call = self._current_call(interface)
        await self._send(build(call.device_channel))
        return {"call_id": call.linked_id}

    def _consultation_of(self, interface: str, what: str) -> None:
        call = self._current_call(interface)
        if not self.telephony.calls.consulting(call.linked_id):
            raise Conflict(f"no consultation is going on: nothing to {what}")

    def _current_call(self, interface: str) -> AgentCall:
        call = self.board.call_of(interface)
        if call is None:
            raise Conflict("you are not on a call")
        if not call.device_channel:
            raise Conflict("your call is not set up yet")
        return call

    async def _send(self, action: actions.Action, *, harmless: str = "") -> None:
        """Send an action; ``harmless``: a refusal that is no failure (QueueAdd of a member
        already there, removal of one not there)."""
        try:
            await self.link.send(action)
        except ActionFailed as exc:
            if harmless and harmless.lower() in exc.message.lower():
                return
            raise _pbx_error(exc) from exc
        except AmiError as exc:
            raise _pbx_error(exc) from exc


def _pbx_error(exc: AmiError) -> Unavailable | UpstreamFailed:
    if isinstance(exc, LinkDown):
        return Unavailable("the PBX link is down; try again in a moment")
    return UpstreamFailed(f"the PBX refused: {exc}")


Command = Callable[..., Awaitable[dict[str, Any]]]


def commands_of(control: CallControl) -> dict[str, Command]:
    """The commands by name, as they travel between instances."""
    return {
        "dial": control.dial,
        "hang_up": control.hang_up,
        "transfer": control.transfer,
        "complete_transfer": control.complete_transfer,
        "cancel_transfer": control.cancel_transfer,
        "set_state": control.set_state,
        "statuses": control.statuses,
    }
