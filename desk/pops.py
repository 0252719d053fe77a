"""The screen-pop pipeline: a CallOffered for an agent's phone becomes a pop on that agent's
browser tabs, wherever they are connected; withdrawals, answers and ends follow it.

It runs in its own worker, off the AMI event path: the lookup reads the database. The pop of
an offer still ringing is kept on the agent board, so a tab that connects while its phone
rings gets the pop again."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.card_access import lookup_for
from crm_core.cards import CallerLookups
from crm_core.dialling import entry_for_pop
from cti.events import (
    AgentLegEnded,
    CallAnswered,
    CallEnded,
    CallOffered,
    CallOfferWithdrawn,
    CallTransferred,
    Direction,
    DomainEvent,
    Outcome,
)
from desk import notifications as note
from desk.agents import AgentBoard
from desk.directory import AgentDirectory

log = structlog.get_logger("desk.pops")
ENTRIES_KEPT = 1024  # campaign entries of calls in progress, kept for their later offers


class PopPipeline:
    def __init__(
        self,
        *,
        lookups: CallerLookups,
        notifier: note.Notifier,
        directory: AgentDirectory,
        board: AgentBoard,
        region: str,
        db: async_sessionmaker | None = None,
    ) -> None:
        self.db = db  # for a campaign call's list entry
        # A campaign call's entry, read once however many agents the queue offers it to.
        self._entries: OrderedDict[str, dict[str, Any] | None] = OrderedDict()
        self.lookups = lookups
        self.notifier = notifier
        self.directory = directory
        self.board = board
        self.region = region

    async def start(self) -> None:
        await self.notifier.subscribe(note.AgentTabOpened, self._on_tab_opened)
        await self.notifier.subscribe(note.CustomerLinked, self._on_customer_linked)

    async def handle(self, event: DomainEvent) -> None:
        if isinstance(event, CallEnded):
            self._entries.pop(event.linked_id, None)
        if isinstance(event, CallOffered):
            await self._offered(event)
        elif isinstance(event, CallOfferWithdrawn):
            await self._to_agent(
                event.agent_interface,
                note.Withdrawn(
                    call_id=event.linked_id,
                    device_channel=event.device_channel,
                    reason=str(event.reason),
                ),
            )
        elif isinstance(event, CallAnswered):
            await self._to_agent(
                event.agent_interface,
                note.Answered(
                    call_id=event.linked_id,
                    device_channel=event.device_channel,
                    queue=event.queue,
                    direction=str(event.direction),
                    wait_seconds=round(event.wait_seconds, 1),
                    at=event.at,
                ),
            )
        elif isinstance(event, CallTransferred):
            await self._to_agent(
                event.agent_interface,
                note.Transferred(
                    call_id=event.linked_id, kind=str(event.kind), target=event.target
                ),
            )
        elif isinstance(event, AgentLegEnded):  # this agent's part is over
            await self._to_agent(
                event.agent_interface,
                note.Ended(
                    call_id=event.linked_id,
                    outcome=str(Outcome.ANSWERED),
                    talk_seconds=round(event.talk_seconds, 1),
                    answered=True,
                ),
            )
        elif isinstance(event, CallEnded) and event.agent_interface and event.answered_at is None:
            # Never connected (a click-to-call the customer did not take): no leg ended.
            await self._to_agent(
                event.agent_interface,
                note.Ended(
                    call_id=event.linked_id,
                    outcome=str(event.outcome),
                    talk_seconds=0.0,
                    answered=False,
                ),
            )

    async def _offered(self, event: CallOffered) -> None:
        user_id = await self.directory.resolve(event.agent_interface)
        if user_id is None:
            log.info("pop.no_agent", agent=event.agent_interface, call_id=event.linked_id)
            return
        dialled_out = event.direction in (Direction.OUTBOUND, Direction.CLICK_TO_CALL)
        # A call we placed presents our own caller ID: the customer is the number we dialled.
        number = event.customer_number if dialled_out and event.customer_number else None
        lookup = await self.lookups.lookup(
            caller_number=number or event.caller_number,
            restricted=event.presentation_restricted,
            variables=dict(event.variables),
            region=self.region,
        )
        pop = note.Offered(
            call_id=event.linked_id,
            device_channel=event.device_channel,
            queue=event.queue,
            dnis=event.dnis,
            direction=str(event.direction),
            caller={
                "number": event.caller_number,
                "name": event.caller_name,
                "withheld": event.presentation_restricted,
            },
            # Built once for everyone; this agent gets what their permissions allow.
            lookup=lookup_for(lookup.as_dict(), self.directory.permissions_of(user_id)),
            offered_at=event.at,
            campaign=await self._campaign_entry(event),
        )
        message = note.ToAgent.of(user_id, pop)
        # Kept only while that phone still rings: a pop answered during the lookup is not
        # shown again on reconnect (it is still sent now; the answer follows it).
        self.board.set_pop(event.agent_interface, event.device_channel, message.message)
        await self.notifier.publish(message)
        log.info(
            "pop.sent", agent=event.agent_interface, call_id=event.linked_id, lookup=lookup.kind
        )

    async def _campaign_entry(self, event: CallOffered) -> dict[str, Any] | None:
        """A campaign's call: the campaign, why this number is called, the script."""
        entry = dict(event.tags).get("entry") or dict(event.variables).get("CC_LIST_ENTRY")
        if not entry or not entry.isdigit() or self.db is None:
            return None
        if event.linked_id in self._entries:
            return self._entries[event.linked_id]
        try:
            async with self.db() as session:
                found = await entry_for_pop(session, int(entry))
        except Exception:  # the pop goes out without it rather than not at all
            log.warning("pop.campaign_entry_failed", call_id=event.linked_id, exc_info=True)
            return None
        self._entries[event.linked_id] = found
        if len(self._entries) > ENTRIES_KEPT:  # ends missed while the link was down
            self._entries.popitem(last=False)
        return found

    async def _to_agent(self, interface: str, message: note.BrowserMessage) -> None:
        user_id = await self.directory.resolve(interface)
        if user_id is not None:  # else no user at that phone: nobody to tell
            await self.notifier.publish(note.ToAgent.of(user_id, message))

    def _on_tab_opened(self, message: note.AgentTabOpened) -> None:
        """A tab connected (a reload, a second tab): it gets what rings for the agent and the
        call they are on."""
        for interface in self.board.interfaces():
            if self.directory.user_for(interface) != message.user_id:
                continue
            view = self.board.view(interface)
            if view is None:
                continue
            for offer in view.offers:
                if offer.pop is not None:
                    self._to_tab(message.user_id, {**offer.pop, "again": True})
            call = view.call
            if call is not None and call.state != "ringing":  # a ringing one: its offer above
                current = note.CurrentCall(
                    call_id=call.linked_id,
                    device_channel=call.device_channel,
                    queue=call.queue,
                    state=call.state,
                    since=call.since,
                    pop=call.pop,
                )
                self._to_tab(message.user_id, current.as_json())

    def _on_customer_linked(self, message: note.CustomerLinked) -> None:
        def with_customer(interface: str, pop: dict[str, Any]) -> dict[str, Any]:
            user_id = self.directory.user_for(interface)
            permissions = self.directory.permissions_of(user_id) if user_id else frozenset()
            lookup = {**pop["lookup"], "kind": "customer", "matched_by": "call"}
            return {**pop, "lookup": lookup_for({**lookup, "cards": [message.card]}, permissions)}

        self.board.update_pops(message.call_id, with_customer)

    def _to_tab(self, user_id: int, message: dict) -> None:
        self.notifier.publish_soon(note.ToAgent(user_id=user_id, message=message))
