"""``CallTracker``: the call-state machine itself, one handler per AMI event it reacts to.

``CallTracker.apply`` is the hot path (about 180 AMI events per call, most of them ``Newexten`` /
``VarSet`` that matter to nobody): one dictionary lookup on the event name drops everything not in
``_HANDLERS`` (at the end of this module, bound to the handler methods themselves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MethodType
from typing import Final

from cti.ami.framing import Frame
from cti.calls.legs import (
    close_stay,
    completed_leg,
    end_leg,
    end_open_legs,
    join_queue,
    leg_on,
    open_leg,
    transferer_leg,
)
from cti.calls.model import (
    _WITHHELD_NUMBERS,
    CONSULT_RING,
    QUEUE_RING,
    TRANSFER_RING,
    OpenCall,
    _bounded_put,
    _Call,
    _Channel,
    _Dial,
    _duration_seconds,
    _Expectation,
    _int,
    _is_restricted,
    _note_caller_id,
    _note_listing,
    _Offer,
    _pairs,
    _RecentKeys,
    _snapshot,
    _text,
)
from cti.calls.outcomes import _ORIGINATE_REASONS, _ended, _withdrawal_reason
from cti.calls.transfers import (
    _consultation,
    _consultation_answered,
    _consultation_over,
    _transferred,
)
from cti.devices import interface_of, member_key
from cti.events import (
    CallAbandoned,
    CallAnswered,
    CallDialEnded,
    CallDialled,
    CallEvent,
    CallOffered,
    CallOfferWithdrawn,
    CallQueueTimedOut,
    Direction,
    LegEnd,
    OriginateFailed,
    Outcome,
    Party,
    TransferKind,
    WithdrawalReason,
)

DEFAULT_REMEMBERED_ENDED_CALLS: Final = 10_000
DEFAULT_MAX_EXPECTATIONS: Final = 10_000

Handler = Callable[[Frame, float], list[CallEvent]]


class CallTracker:
    """Follows every call on one PBX and reports what happens to the ones we care about.

    ``capture_variables``: channel variables (set with VarSet on any channel of the call before
    an agent rings, typically the IVR's account number) copied into ``CallOffered.variables``.
    ``remember_ended``: how many ended Linkedids to remember against replays.
    ``max_expectations``: bound on registered originates that never produced a channel.
    """

    def __init__(
        self,
        *,
        capture_variables: frozenset[str] = frozenset(),
        remember_ended: int = DEFAULT_REMEMBERED_ENDED_CALLS,
        max_expectations: int = DEFAULT_MAX_EXPECTATIONS,
    ) -> None:
        self._capture = frozenset(capture_variables)
        self._calls: dict[str, _Call] = {}
        self._channels: dict[str, _Channel] = {}
        self._ended = _RecentKeys(remember_ended)
        self._max_expectations = max_expectations
        self._expected: dict[str, _Expectation] = {}
        self._expected_by_action: dict[str, _Expectation] = {}
        self._originate_failures = _RecentKeys(remember_ended)
        # Bound once here, so ``apply`` costs one lookup and one bound-method call per event.
        self._dispatch: dict[str, Handler] = {
            name: MethodType(handler, self)
            for name, handler in _HANDLERS.items()
            if name != "VarSet" or self._capture
        }

    # ------------------------------------------------------------ public API

    def apply(self, frame: Frame, at: float) -> list[CallEvent]:
        """The domain events this AMI frame causes (usually none). Never raises on odd input."""
        handler = self._dispatch.get(frame.name)
        if handler is None:
            return []
        return handler(frame, at)

    def expect(
        self,
        uniqueid: str,
        direction: str,
        tags: Mapping[str, str] | None = None,
        *,
        action_id: str | None = None,
    ) -> None:
        """Register a call we are about to originate with ``ChannelId: uniqueid``.

        Its events then carry ``direction`` and ``tags``. ``action_id`` (the Originate's
        ActionID) lets a failed OriginateResponse, which reports ``Uniqueid: <unknown>``, be
        matched to this registration. Raises ValueError for an unknown direction.
        """
        expectation = _Expectation(uniqueid, Direction(direction), _pairs(tags), action_id or "")
        channel = self._channels.get(uniqueid)
        if channel is not None:  # registered late: the channel is already there
            self._adopt_expectation(channel, expectation)
        else:
            _bounded_put(self._expected, uniqueid, expectation, self._max_expectations)
        if action_id:
            _bounded_put(self._expected_by_action, action_id, expectation, self._max_expectations)

    def consulting(self, linked_id: str) -> bool:
        """An attended transfer's consultation is going on in this call (its consultation
        leg is dialling, queued, ringing or talking): there is something to complete or
        cancel."""
        call = self._calls.get(linked_id)
        if call is None:
            return False
        return _consultation(call) is not None or any(c.consult for c in call.channels.values())

    def open_calls(self) -> list[OpenCall]:
        """The reported calls in progress, oldest first."""
        return [_snapshot(call) for call in self._calls.values() if call.reported]

    @property
    def tracked_call_count(self) -> int:
        """Calls held in memory, reported or not (for metrics and the bounded-memory test)."""
        return len(self._calls)

    @property
    def tracked_channel_count(self) -> int:
        return len(self._channels)

    @property
    def handled_events(self) -> frozenset[str]:
        """The AMI event names this tracker reacts to (the link drops the rest unread)."""
        return frozenset(self._dispatch)

    def reconcile(
        self, channels: Iterable[Frame], at: float, *, vanished_by: float | None = None
    ) -> list[CallEvent]:
        """Bring the state in line with a CoreShowChannels listing taken after a reconnect.

        ``at`` is the time the listing was asked for: channels first seen after it are not
        judged by it (their Newchannel may arrive before the listing does). ``channels`` are
        the ``CoreShowChannel`` items (other frames are ignored). Channels we hold that are not
        listed are gone: their calls end (``CallEnded`` at ``vanished_by``, the last moment the
        PBX was heard before the link went down, else at ``at``; estimated; outcome as
        in ``cti.calls.outcomes``; a caller who was still queued counts as abandoned) and their open
        offers are withdrawn (cancelled). Listed channels we do not know are adopted, silently:
        a channel in the Queue application is a queue caller (answered if it is in a bridge),
        one in AppQueue an agent leg (offered to that agent, CallOffered, if it still rings:
        in no bridge, the call unanswered); call start is estimated from the channel's Duration and
        refined by the HoldTime / TalkTime of the call's later AgentComplete or
        QueueCallerAbandon. Adopted calls then follow later events like any other.
        """
        listed: dict[str, Frame] = {}
        for frame in channels:
            uniqueid = frame.get("Uniqueid") if frame.name == "CoreShowChannel" else None
            if uniqueid:
                listed[uniqueid] = frame
        events: list[CallEvent] = []
        gone_at = at if vanished_by is None else min(vanished_by, at)
        for call in list(self._calls.values()):
            events += self._drop_vanished_channels(call, listed, at, gone_at)
        adopted: list[tuple[_Channel, Frame]] = []
        for uniqueid, frame in listed.items():
            channel = self._channels.get(uniqueid)
            if channel is None:
                channel = self._adopt_listed_channel(uniqueid, frame, at)
                if channel is not None:
                    adopted.append((channel, frame))
            if channel is not None:
                _note_listing(channel, frame, at)
                if channel.call.caller is not None:
                    self._report_as_inbound(channel.call)
        # After every item is noted (the caller's may come after its agents' in the listing).
        for channel, frame in adopted:
            events += self._offer_listed_ring(channel, frame, at)
        return events

    def _offer_listed_ring(
        self,
        channel: _Channel,
        frame: Frame,
        at: float,
    ) -> list[CallEvent]:
        """A queue member's leg listed for a queued caller (AppQueue) that we never saw rung:
        its AgentCalled came while we were not connected (a reconnect, another instance
        taking over). Still ringing (in no bridge), it is offered now; already talking (in the
        caller's bridge), it is offered and answered, so the agent's screen shows the card."""
        call = channel.call
        talking = bool(frame.get("BridgeId"))
        if (
            frame.get("Application") != "AppQueue"
            or call.caller is None
            or channel.uniqueid in call.offers
            or (talking and call.device_channel != channel.name)
            or (not talking and call.answered)
        ):
            return []
        offer = _Offer(
            channel.uniqueid,
            channel.name,
            interface_of(channel.name),
            "",
            queue=call.queue,
            calling_uniqueid=call.caller.uniqueid,
            offered_at=at,
        )
        call.offers[channel.uniqueid] = offer
        events: list[CallEvent] = [
            self._offered(call, offer, call.queue, at, caller_uniqueid=call.caller.uniqueid)
        ]
        if talking:
            offer.open, offer.answered = False, True
            # Not kept on the call: its AgentComplete's TalkTime tells the answer time better
            # than the leg's age (which runs from its ring).
            answered_at = at - _duration_seconds(frame.get("Duration"))
            open_leg(
                call,
                agent=offer.agent_interface,
                member="",
                device_channel=channel.name,
                queue=call.queue,
                at=answered_at,
                hold=max(0.0, answered_at - call.start()),
            )
            events.append(
                CallAnswered(
                    linked_id=call.linked_id,
                    agent_interface=offer.agent_interface,
                    member_name="",
                    device_channel=channel.name,
                    queue=call.queue,
                    direction=call.direction,
                    at=at,
                    wait_seconds=max(0.0, answered_at - call.start()),
                )
            )
        return events

    # ------------------------------------------------------------ channels

    def _on_new_channel(self, frame: Frame, at: float) -> list[CallEvent]:
        get = frame.get
        linked_id = get("Linkedid")
        uniqueid = get("Uniqueid")
        if not linked_id or not uniqueid or uniqueid in self._channels:
            return []
        call = self._calls.get(linked_id)
        if call is None:
            if linked_id in self._ended:  # a replay of an ended call
                return []
            call = self._calls[linked_id] = _Call(linked_id, at)
        if not call.first_sight(frame):
            return []
        channel = self._register_channel(call, uniqueid, get("Channel") or "", at)
        expectation = self._expected.pop(uniqueid, None)
        if expectation is not None:
            self._adopt_expectation(channel, expectation)
        return []

    def _on_new_caller_id(self, frame: Frame, at: float) -> list[CallEvent]:
        channel = self._channels.get(frame.get("Uniqueid") or "")
        if channel is not None and _is_restricted(frame.get("CID-CallingPres")):
            channel.call.restricted = True
        return []

    def _on_var_set(self, frame: Frame, at: float) -> list[CallEvent]:
        headers = frame.headers
        # Asterisk ends VarSet with Variable / Value: read them without building a dict.
        if len(headers) > 2 and headers[-2][0] == "Variable" and headers[-1][0] == "Value":
            name, value = headers[-2][1], headers[-1][1]
        else:
            name, value = frame.get("Variable") or "", frame.get("Value") or ""
        if name not in self._capture:
            return []
        channel = self._channels.get(frame.get("Uniqueid") or "")
        if channel is not None and channel.call.first_sight(frame):
            channel.call.variables[name] = value
        return []

    def _on_hangup_request(self, frame: Frame, at: float) -> list[CallEvent]:
        channel = self._channels.get(frame.get("Uniqueid") or "")
        if channel is not None:
            channel.hangup_requested = True
        return []

    def _on_hangup(self, frame: Frame, at: float) -> list[CallEvent]:
        get = frame.get
        channel = self._channels.get(get("Uniqueid") or "")
        if channel is None:
            return []
        call = channel.call
        self._unregister_channel(channel)  # a replayed Hangup then finds no channel
        if self._capture:  # e.g. AMDSTATUS, set after the call's last queue event
            self._note_channel_variables(call, frame)
        cause = _int(get("Cause"))
        dial = call.dials.get(channel.uniqueid)
        # The customer's leg says why the call ended (busy, congestion): the agent's own leg
        # ends after it with a plain clearing cause.
        if cause and (not call.hangup_cause or (dial is not None and dial.party is Party.CUSTOMER)):
            call.hangup_cause = cause
            call.hangup_cause_text = get("Cause-txt") or ""
        events: list[CallEvent] = []
        offer = call.offers.get(channel.uniqueid)
        if offer is not None and _consultation_over(offer):
            offer.completed = True  # the consulted agent hung up without taking the customer
            events = self._withdraw(call, offer, WithdrawalReason.TRANSFER_CANCELLED, at)
        leg = leg_on(call, channel.name)
        if leg is not None:  # that agent's part is over, whatever becomes of the call
            events += end_leg(call, leg, LegEnd.HUNG_UP, at)
        if call.channels:
            return events
        return events + self._end_call(call, at)

    # ------------------------------------------------------------ dialling

    def _dial_leg(self, frame: Frame) -> tuple[_Call, _Channel | None, str] | None:
        """The call, calling channel (None for an Originate's own leg) and dialled uniqueid."""
        get = frame.get
        dest_uniqueid = get("DestUniqueid")
        if not dest_uniqueid:
            return None
        caller_uniqueid = get("Uniqueid")
        if caller_uniqueid is None:  # Originate dials its first leg with no calling channel
            origin = self._channels.get(dest_uniqueid)
            return None if origin is None else (origin.call, None, dest_uniqueid)
        calling = self._channels.get(caller_uniqueid)
        return None if calling is None else (calling.call, calling, dest_uniqueid)

    def _on_dial_begin(self, frame: Frame, at: float) -> list[CallEvent]:
        leg = self._dial_leg(frame)
        if leg is None:
            return []
        call, calling, dest_uniqueid = leg
        if not call.first_sight(frame) or dest_uniqueid in call.dials:
            return []
        if dest_uniqueid in call.offers or (calling is call.caller and call.in_queue):
            return []  # a queue member ring: AgentCalled reports it as an offer
        if call.answered and call.reported and calling is not None:
            return self._offer_dialled_agent(call, calling, frame, at)
        clicked = call.direction is Direction.CLICK_TO_CALL
        if calling is None:
            party = Party.AGENT if clicked else Party.CUSTOMER
        else:
            party = Party.CUSTOMER if clicked else Party.AGENT
        get = frame.get
        destination = get("DialString") or get("DestChannel") or ""
        call.dials[dest_uniqueid] = _Dial(dest_uniqueid, destination, party)
        if not call.reported:
            return []
        return [
            CallDialled(
                linked_id=call.linked_id,
                uniqueid=dest_uniqueid,
                destination=destination,
                party=party,
                direction=call.direction,
                tags=call.tags,
                at=at,
            )
        ]

    def _on_dial_end(self, frame: Frame, at: float) -> list[CallEvent]:
        leg = self._dial_leg(frame)
        if leg is None:
            return []
        call, calling, dest_uniqueid = leg
        if not call.first_sight(frame):
            return []
        status = frame.get("DialStatus") or ""
        offer = call.offers.get(dest_uniqueid)
        if offer is not None:
            if offer.via_queue:
                return self._end_member_ring(call, offer, status, at)
            return self._end_dialled_ring(call, offer, status, at)
        dial = call.dials.get(dest_uniqueid)
        if dial is None or dial.status or not status:
            return []
        dial.status = status
        if not call.reported:
            return []
        events: list[CallEvent] = [
            CallDialEnded(
                linked_id=call.linked_id,
                uniqueid=dest_uniqueid,
                destination=dial.destination,
                party=dial.party,
                dial_status=status,
                at=at,
            )
        ]
        if status == "ANSWER" and calling is not None:
            events += self._answer_dialled_leg(call, dial, frame, at)
        return events

    def _end_member_ring(
        self, call: _Call, offer: _Offer, status: str, at: float
    ) -> list[CallEvent]:
        if status == "ANSWER":
            offer.answered = True
            if offer.kind == QUEUE_RING:
                call.any_member_answered = True  # tells the others' CANCEL from a hang-up
            return []
        if not offer.open:
            return []
        return self._withdraw(call, offer, _withdrawal_reason(call, offer, status), at)

    def _offer_dialled_agent(
        self, call: _Call, calling: _Channel, frame: Frame, at: float
    ) -> list[CallEvent]:
        """A Dial() in an answered call rings another agent: from the customer's side it is a
        transfer (blind, or a Redirect); from anywhere else (the Local channel an attended
        transfer dials through), a consultation. Either way the agent is offered the call."""
        get = frame.get
        dest_uniqueid = get("DestUniqueid") or ""
        device = get("DestChannel") or ""
        consult = calling.uniqueid not in call.customer_side
        calling.consult = calling.consult or consult
        # The customer rings another phone with no transfer told (a Redirect): it has left
        # whoever it talked to.
        events: list[CallEvent] = [] if consult else end_open_legs(call, LegEnd.MOVED, at)
        offer = _Offer(
            dest_uniqueid,
            device,
            interface_of(device),
            "",
            kind=CONSULT_RING if consult else TRANSFER_RING,
            via_queue=False,
            calling_uniqueid=calling.uniqueid,
            offered_at=at,
        )
        call.offers[dest_uniqueid] = offer
        return [*events, self._offered(call, offer, "", at, exten=_text(get("Exten")))]

    def _end_dialled_ring(
        self, call: _Call, offer: _Offer, status: str, at: float
    ) -> list[CallEvent]:
        if not offer.open or not status:
            return []
        if status != "ANSWER":
            return self._withdraw(call, offer, _withdrawal_reason(call, offer, status), at)
        offer.open = False
        offer.answered = True
        if offer.kind == CONSULT_RING:
            return [_consultation_answered(call, offer, at)]
        return self._answer(
            call,
            agent_interface=offer.agent_interface,
            member_name=offer.member_name,
            device_channel=offer.device_channel,
            queue=offer.queue,
            at=at,
            wait_from=offer.offered_at,
        )

    def _answer_dialled_leg(
        self, call: _Call, dial: _Dial, frame: Frame, at: float
    ) -> list[CallEvent]:
        """A Dial() leg answered: the call is answered if that brings agent and customer
        together (click-to-call: the customer leg; otherwise an agent leg)."""
        if dial.party is Party.CUSTOMER:
            if call.direction is not Direction.CLICK_TO_CALL:
                return []
            call.customer_side[dial.uniqueid] = None
            device = call.origin_channel
        else:
            device = frame.get("DestChannel") or ""
        return self._answer(
            call,
            agent_interface=interface_of(device),
            member_name="",
            device_channel=device,
            queue="",
            at=at,
        )

    # ------------------------------------------------------------ queues

    def _queue_caller(self, frame: Frame) -> tuple[_Call, _Channel] | None:
        channel = self._channels.get(frame.get("Uniqueid") or "")
        if channel is None or not channel.call.first_sight(frame):
            return None
        return channel.call, channel

    def _on_queue_caller_join(self, frame: Frame, at: float) -> list[CallEvent]:
        found = self._queue_caller(frame)
        if found is None:
            return []
        call, channel = found
        if call.answered and channel.uniqueid not in call.customer_side:
            channel.consult = True  # an attended transfer consults a queue, not the customer
            return []
        get = frame.get
        events: list[CallEvent] = []
        if call.answered:
            call.any_member_answered = False  # transferred to a queue: a new round of rings
            # Back in a queue with no transfer told (a Redirect to a queue's DID): the customer
            # has left the agent it talked to.
            events = end_open_legs(call, LegEnd.MOVED, at)
        call.customer_side[channel.uniqueid] = None
        call.caller = channel
        call.queue = get("Queue") or ""
        call.joined_at = at
        call.in_queue = True
        join_queue(call, call.queue, at)
        if call.offered_at is None:
            call.offered_at = at
        _note_caller_id(call, frame)
        if not call.dnis:
            call.dnis = _text(get("Exten"))
        self._report_as_inbound(call)
        return events

    def _on_queue_caller_leave(self, frame: Frame, at: float) -> list[CallEvent]:
        channel = self._channels.get(frame.get("Uniqueid") or "")
        if channel is not None and channel is channel.call.caller:
            channel.call.in_queue = False
        return []

    def _on_queue_caller_abandon(self, frame: Frame, at: float) -> list[CallEvent]:
        found = self._queue_caller(frame)
        if found is None:
            return []
        call, channel = found
        if channel.consult:  # the consultation gave up waiting: the customer did not
            return [
                event
                for offer in list(call.offers.values())
                if offer.open and offer.calling_uniqueid == channel.uniqueid
                for event in self._withdraw(call, offer, WithdrawalReason.TRANSFER_CANCELLED, at)
            ]
        get = frame.get
        call.in_queue = False
        hold_seconds = _int(get("HoldTime"))
        call.refine_offered_at(at - hold_seconds)
        waited = at - call.joined_at if call.joined_at is not None else float(hold_seconds)
        # A caller who hangs up has a hangup request before this event; a timeout has none.
        hung_up = channel.hangup_requested
        call.queue_result = Outcome.ABANDONED if hung_up else Outcome.QUEUE_TIMEOUT
        close_stay(call, str(call.queue_result), at, float(hold_seconds))
        reason = WithdrawalReason.CALLER_LEFT if hung_up else WithdrawalReason.QUEUE_TIMEOUT
        events = self._withdraw_open_offers(call, reason, at)
        if not call.reported:
            return events
        event_type = CallAbandoned if hung_up else CallQueueTimedOut
        events.append(
            event_type(
                linked_id=call.linked_id,
                queue=get("Queue") or call.queue,
                position=_int(get("Position")),
                original_position=_int(get("OriginalPosition")),
                wait_seconds=waited,
                direction=call.direction,
                at=at,
            )
        )
        return events

    def _on_agent_called(self, frame: Frame, at: float) -> list[CallEvent]:
        found = self._queue_caller(frame)
        if found is None:
            return []
        call, channel = found
        get = frame.get
        device_uniqueid = get("DestUniqueid")
        if not device_uniqueid or device_uniqueid in call.offers:
            return []
        queue = get("Queue") or ""
        if channel.consult:
            offer = _Offer(
                device_uniqueid,
                get("DestChannel") or "",
                member_key(get("Interface") or ""),
                get("MemberName") or "",
                kind=CONSULT_RING,
                queue=queue,
                calling_uniqueid=channel.uniqueid,
                offered_at=at,
            )
            call.offers[device_uniqueid] = offer
            return [self._offered(call, offer, queue, at, exten=_text(get("Exten")))]
        if call.caller is None:
            call.caller = channel
            call.customer_side[channel.uniqueid] = None
        if not call.queue:
            call.queue = get("Queue") or ""
        if call.offered_at is None:
            call.offered_at = at
        self._report_as_inbound(call)
        _note_caller_id(call, frame)
        if self._capture:
            self._note_channel_variables(call, frame)
        offer = _Offer(
            device_uniqueid,
            get("DestChannel") or "",
            member_key(get("Interface") or ""),
            get("MemberName") or "",
            queue=queue or call.queue,
            calling_uniqueid=channel.uniqueid,
            offered_at=at,
        )
        call.offers[device_uniqueid] = offer
        return [
            self._offered(
                call,
                offer,
                queue or call.queue,
                at,
                caller_uniqueid=channel.uniqueid,
                exten=_text(get("Exten")),
            )
        ]

    def _note_channel_variables(self, call: _Call, frame: Frame) -> None:
        """With manager.conf ``channelvars``, Asterisk puts the caller channel's variables on
        its events as ``ChanVariable: NAME=value``: the production path (the dialplan event
        class, and with it VarSet, is filtered out at the source)."""
        for item in frame.get_all("ChanVariable"):
            name, _, value = item.partition("=")
            if name in self._capture and value:
                call.variables[name] = value

    def _offered(
        self,
        call: _Call,
        offer: _Offer,
        queue: str,
        at: float,
        *,
        caller_uniqueid: str | None = None,
        exten: str = "",
    ) -> CallOffered:
        """The offer as the agent's screen needs it. An offer made after the call was
        answered (a transfer or a consultation) presents the customer, as the first did."""
        customer = call.customer_number()
        dialled_out = call.direction in (Direction.OUTBOUND, Direction.CLICK_TO_CALL)
        caller_number = call.caller_number
        if offer.kind != QUEUE_RING and not caller_number:
            caller_number = customer  # click-to-call: the customer was dialled, never queued
        if caller_uniqueid is None:
            caller_uniqueid = next(iter(call.customer_side), "")
        return CallOffered(
            linked_id=call.linked_id,
            uniqueid_of_caller=caller_uniqueid,
            agent_interface=offer.agent_interface,
            member_name=offer.member_name,
            device_channel=offer.device_channel,
            caller_number=caller_number,
            caller_name=call.caller_name,
            presentation_restricted=call.restricted or caller_number.lower() in _WITHHELD_NUMBERS,
            customer_number=customer,
            dnis=customer if dialled_out else (call.dnis or exten),
            queue=queue,
            direction=call.direction,
            variables=tuple(sorted(call.variables.items())),
            tags=call.tags,
            at=at,
        )

    def _on_agent_ring_no_answer(self, frame: Frame, at: float) -> list[CallEvent]:
        found = self._queue_caller(frame)
        if found is None:
            return []
        call, _ = found
        offer = call.offers.get(frame.get("DestUniqueid") or "")
        if offer is None or not offer.open:
            return []
        return self._withdraw(call, offer, WithdrawalReason.RING_NO_ANSWER, at)

    def _on_agent_connect(self, frame: Frame, at: float) -> list[CallEvent]:
        found = self._queue_caller(frame)
        if found is None:
            return []
        call, channel = found
        get = frame.get
        device_uniqueid = get("DestUniqueid") or ""
        offer = call.offers.get(device_uniqueid)
        if offer is None:  # rung while we were away (adopted call): record it as answered
            offer = _Offer(device_uniqueid, get("DestChannel") or "", "", "")
            call.offers[device_uniqueid] = offer
        elif not offer.open:
            return []  # withdrawn already: a late or replayed connect
        offer.open = False
        if offer.kind == CONSULT_RING:
            offer.answered = True
            return [_consultation_answered(call, offer, at)]
        call.in_queue = False
        if call.caller is None:
            call.caller = channel
            call.customer_side[channel.uniqueid] = None
        self._report_as_inbound(call)
        # This agent's wait is the customer's time in this queue (a Redirect may have brought
        # it back into one): Asterisk's HoldTime, timed here from the latest join when seen.
        told = get("HoldTime")
        hold = float(_int(told)) if told else None
        joined = call.joined_at
        if joined is None and hold is not None:
            joined = at - hold
        close_stay(call, "answered", at, hold)
        return self._answer(
            call,
            agent_interface=member_key(get("Interface") or "") or offer.agent_interface,
            member_name=get("MemberName") or offer.member_name,
            device_channel=get("DestChannel") or offer.device_channel,
            queue=get("Queue") or call.queue,
            at=at,
            wait_from=joined,
            hold=hold,
        )

    def _on_agent_complete(self, frame: Frame, at: float) -> list[CallEvent]:
        """Asterisk's own figures for one agent's part of the call (HoldTime, TalkTime), and
        what a resync could not know: when the call was answered, and by whom."""
        call = self._completed_call(frame)
        if call is None:
            return []
        get = frame.get
        told_talk, told_hold = get("TalkTime"), get("HoldTime")
        talk, hold = _int(told_talk), _int(told_hold)
        adopted = call.answered_at is None  # its connection was never seen
        if adopted:
            call.answered = True
            call.answered_at = at - talk
            call.refine_offered_at(call.answered_at - hold)
            close_stay(call, "answered", call.answered_at, float(hold))
        agent, queue = member_key(get("Interface") or ""), get("Queue") or ""
        if not call.agent_interface:
            call.agent_interface = agent
            call.member_name = get("MemberName") or ""
        if not call.queue:
            call.queue = queue
        device = get("DestChannel") or ""
        leg = completed_leg(call, device, agent, queue)
        if leg is None and device:  # connected while we were away (an adopted call)
            member = get("MemberName") or ""
            open_leg(
                call,
                agent=agent,
                member=member,
                device_channel=device,
                queue=queue,
                at=at - talk,
                hold=hold,
            )
            leg = leg_on(call, device)
        if leg is not None:
            if adopted and told_talk:
                leg.answered_at = at - talk  # better than the listed channel's age
            leg.member_name = leg.member_name or get("MemberName") or ""
            if told_talk:
                leg.talk = float(talk)
            if told_hold:
                leg.hold = float(hold)
        return []

    def _completed_call(self, frame: Frame) -> _Call | None:
        """The call an AgentComplete is about. Some carry no Channel, Uniqueid or Linkedid
        (the caller's channel was gone first): the agent's channel tells, else the member's
        open leg in that queue."""
        for key in ("Uniqueid", "DestUniqueid"):
            channel = self._channels.get(frame.get(key) or "")
            if channel is not None:
                return channel.call
        agent = member_key(frame.get("Interface") or "")
        queue = frame.get("Queue") or ""
        if not agent:
            return None
        for call in reversed(self._calls.values()):
            if any(leg.agent_interface == agent and leg.queue == queue for leg in call.open_legs()):
                return call
        return None

    # ------------------------------------------------------------ transfers

    def _on_blind_transfer(self, frame: Frame, at: float) -> list[CallEvent]:
        get = frame.get
        call = self._transferred_call(frame, "Transferer")
        if call is None:
            return []
        # The transferee goes on in the dialplan: what it dials next is the transfer's target.
        transferee = get("TransfereeUniqueid") or ""
        if transferee in call.channels:
            call.customer_side[transferee] = None
        target = f"{get('Extension') or ''}@{get('Context') or ''}"
        return [
            _transferred(call, frame, TransferKind.BLIND, "Transferer", target, at),
            *self._transferer_done(call, get("TransfererChannel") or "", at),
        ]

    def _on_attended_transfer(self, frame: Frame, at: float) -> list[CallEvent]:
        get = frame.get
        call = self._transferred_call(frame, "OrigTransferer")
        if call is None:
            return []
        target_channel = get("TransferTargetChannel") or ""
        done = self._transferer_done(call, get("OrigTransfererChannel") or "", at)
        consultation = _consultation(call)
        if consultation is not None:
            # The consulted agent takes the call: at once if it answered the consultation,
            # else ("blond" transfer) when it answers.
            consultation.completed = True
            call.customer_side[consultation.calling_uniqueid] = None
            target = consultation.device_channel
            if consultation.answered:
                call.agent_interface = consultation.agent_interface
                call.member_name = consultation.member_name
                call.device_channel = consultation.device_channel
                if consultation.queue:
                    call.queue = consultation.queue
                self._hand_over(call, consultation.device_channel, consultation.member_name, at)
            else:
                consultation.kind = TRANSFER_RING
        else:
            # A consultation we did not follow (placed by the phone, with its own Linkedid):
            # the target channel is the new agent's device, unless it is the Local channel
            # Asterisk dialled through.
            target = (
                target_channel
                or (get("DestApp") if get("DestType") == "App" else None)
                or get("DestBridgeUniqueid")
                or ""
            )
            if target_channel and not target_channel.startswith("Local/"):
                call.agent_interface = interface_of(target_channel)
                call.member_name = ""
                call.device_channel = target_channel
                self._hand_over(call, target_channel, "", at)
        return [
            _transferred(call, frame, TransferKind.ATTENDED, "OrigTransferer", target, at),
            *done,
        ]

    @staticmethod
    def _transferer_done(call: _Call, transferer_channel: str, at: float) -> list[CallEvent]:
        leg = transferer_leg(call, transferer_channel)
        return [] if leg is None else list(end_leg(call, leg, LegEnd.TRANSFERRED, at))

    @staticmethod
    def _hand_over(call: _Call, device_channel: str, member: str, at: float) -> None:
        """An attended transfer put the customer through to the agent it consulted: that
        agent's leg starts now (it waited for nobody: hold 0)."""
        open_leg(
            call,
            agent=call.agent_interface,
            member=member,
            device_channel=device_channel,
            queue=call.queue,
            at=at,
            hold=0.0,
        )

    def _transferred_call(self, frame: Frame, transferer: str) -> _Call | None:
        """The reported call a successful transfer event is about (the transferee's, else the
        transferer's), the first time it is seen."""
        get = frame.get
        if get("Result") != "Success":
            return None
        channel = self._channels.get(get("TransfereeUniqueid") or "") or self._channels.get(
            get(f"{transferer}Uniqueid") or ""
        )
        if channel is None or not channel.call.first_sight(frame) or not channel.call.reported:
            return None
        return channel.call

    # ------------------------------------------------------------ originate

    def _on_originate_response(self, frame: Frame, at: float) -> list[CallEvent]:
        get = frame.get
        action_id = get("ActionID") or ""
        expectation = self._expected_by_action.pop(action_id, None) if action_id else None
        if get("Response") != "Failure" or not self._originate_failures.add(hash(frame.headers)):
            return []
        code = _int(get("Reason"))
        text, outcome = _ORIGINATE_REASONS.get(code, (f"reason {code}", Outcome.FAILED))
        uniqueid = expectation.uniqueid if expectation is not None else ""
        channel = self._channels.get(uniqueid) if uniqueid else None
        if channel is not None:
            channel.call.originate_reason = code
        return [
            OriginateFailed(
                action_id=action_id,
                uniqueid=uniqueid,
                channel=get("Channel") or "",
                reason_code=code,
                reason=text,
                outcome=outcome,
                direction=expectation.direction if expectation else Direction.UNKNOWN,
                tags=expectation.tags if expectation else (),
                at=at,
            )
        ]

    # ------------------------------------------------------------ state changes

    def _register_channel(self, call: _Call, uniqueid: str, name: str, at: float) -> _Channel:
        channel = _Channel(uniqueid, name, call, at)
        self._channels[uniqueid] = channel
        call.channels[uniqueid] = channel
        return channel

    def _unregister_channel(self, channel: _Channel) -> None:
        del self._channels[channel.uniqueid]
        del channel.call.channels[channel.uniqueid]

    def _adopt_expectation(self, channel: _Channel, expectation: _Expectation) -> None:
        call = channel.call
        call.direction = expectation.direction
        call.tags = expectation.tags
        call.reported = True
        call.origin_channel = channel.name
        if call.direction is Direction.CLICK_TO_CALL:  # the originated leg rings the agent
            call.agent_interface = interface_of(channel.name)

    @staticmethod
    def _report_as_inbound(call: _Call) -> None:
        """A call nobody expected that queues as a caller is an inbound call."""
        if not call.reported:
            call.reported = True
            call.direction = Direction.INBOUND

    def _answer(
        self,
        call: _Call,
        *,
        agent_interface: str,
        member_name: str,
        device_channel: str,
        queue: str,
        at: float,
        wait_from: float | None = None,
        hold: float | None = None,
    ) -> list[CallEvent]:
        """The customer is connected to this agent: the call's answer (the first one), and the
        agent's leg. ``wait_from``: the start of this agent's wait (default the call's start);
        ``hold``: Asterisk's figure for it, when it told one."""
        if wait_from is None:
            wait_from = call.start()
        if call.answered_at is None:
            call.answered_at = at
        call.answered = True
        call.agent_interface = agent_interface
        call.member_name = member_name
        call.device_channel = device_channel
        if queue:
            call.queue = queue
        open_leg(
            call,
            agent=agent_interface,
            member=member_name,
            device_channel=device_channel,
            queue=queue,
            at=at,
            hold=at - wait_from if hold is None else hold,
        )
        events: list[CallEvent] = [
            CallAnswered(
                linked_id=call.linked_id,
                agent_interface=agent_interface,
                member_name=member_name,
                device_channel=device_channel,
                queue=queue,
                direction=call.direction,
                at=at,
                wait_seconds=max(0.0, at - wait_from),
            )
        ]
        events += self._withdraw_open_offers(call, WithdrawalReason.ANSWERED_ELSEWHERE, at)
        return events

    def _withdraw(
        self, call: _Call, offer: _Offer, reason: WithdrawalReason, at: float
    ) -> list[CallEvent]:
        offer.open = False
        return [
            CallOfferWithdrawn(
                linked_id=call.linked_id,
                agent_interface=offer.agent_interface,
                device_channel=offer.device_channel,
                reason=reason,
                at=at,
            )
        ]

    def _withdraw_open_offers(
        self, call: _Call, reason: WithdrawalReason, at: float
    ) -> list[CallEvent]:
        events: list[CallEvent] = []
        for offer in call.offers.values():
            if offer.open:
                events += self._withdraw(call, offer, reason, at)
        return events

    def _end_call(self, call: _Call, at: float, *, resynced: bool = False) -> list[CallEvent]:
        """Report the end of ``call`` and forget it."""
        for channel in list(call.channels.values()):
            self._unregister_channel(channel)
        del self._calls[call.linked_id]
        self._ended.add(call.linked_id)
        if resynced:
            reason = WithdrawalReason.CANCELLED
        elif call.queue_result is Outcome.QUEUE_TIMEOUT:
            reason = WithdrawalReason.QUEUE_TIMEOUT
        else:
            reason = WithdrawalReason.CALLER_LEFT
        events = self._withdraw_open_offers(call, reason, at)
        if not call.reported:
            return events
        if not call.legs and call.answered and call.agent_interface:
            # Answered as far as a resync could tell, its connection never seen.
            answered_at = call.answered_at if call.answered_at is not None else at
            open_leg(
                call,
                agent=call.agent_interface,
                member=call.member_name,
                device_channel=call.device_channel,
                queue=call.queue,
                at=answered_at,
                hold=answered_at - call.start(),
            )
        events += end_open_legs(call, LegEnd.CALL_ENDED, at, estimated=resynced)
        close_stay(call, "left", at)
        events.append(_ended(call, at, resynced=resynced))
        return events

    # ------------------------------------------------------------ resync

    def _drop_vanished_channels(
        self, call: _Call, listed: Mapping[str, Frame], at: float, gone_at: float
    ) -> list[CallEvent]:
        # `at` is when the listing was asked for: channels that appeared later are not in it.
        gone = [
            channel
            for uniqueid, channel in call.channels.items()
            if uniqueid not in listed and channel.seen_at < at
        ]
        if not gone:
            return []
        if len(gone) == len(call.channels):
            # Not the outage's length: a crashed PBX's call ends when it was last known alive.
            known = max(call.created_at, call.answered_at or call.created_at)
            return self._end_call(call, max(gone_at, known), resynced=True)
        events: list[CallEvent] = []
        for channel in gone:
            self._unregister_channel(channel)
            leg = leg_on(call, channel.name)
            if leg is not None:
                events += end_leg(call, leg, LegEnd.HUNG_UP, gone_at, estimated=True)
            offer = call.offers.get(channel.uniqueid)
            if offer is not None and offer.open:
                events += self._withdraw(call, offer, WithdrawalReason.CANCELLED, at)
            elif offer is not None and _consultation_over(offer):
                offer.completed = True
                events += self._withdraw(call, offer, WithdrawalReason.TRANSFER_CANCELLED, at)
        return events

    def _adopt_listed_channel(self, uniqueid: str, frame: Frame, at: float) -> _Channel | None:
        linked_id = frame.get("Linkedid")
        if not linked_id or linked_id in self._ended:
            return None
        age = _duration_seconds(frame.get("Duration"))
        call = self._calls.get(linked_id)
        if call is None:
            call = self._calls[linked_id] = _Call(linked_id, at - age)
        else:
            call.created_at = min(call.created_at, at - age)
        channel = self._register_channel(call, uniqueid, frame.get("Channel") or "", at)
        expectation = self._expected.pop(uniqueid, None)
        if expectation is not None:
            self._adopt_expectation(channel, expectation)
        return channel


# What a handler is before it is bound to a tracker.
_UnboundHandler = Callable[[CallTracker, Frame, float], list[CallEvent]]

# The AMI events the call-state machine reacts to, each with its handler (the function itself,
# so that "find usages" sees it). Anything else is dropped by the first dictionary lookup in
# ``apply``.
_HANDLERS: Final[dict[str, _UnboundHandler]] = {
    "Newchannel": CallTracker._on_new_channel,
    "NewCallerid": CallTracker._on_new_caller_id,
    "VarSet": CallTracker._on_var_set,  # only registered when capture_variables is not empty
    "HangupRequest": CallTracker._on_hangup_request,
    "SoftHangupRequest": CallTracker._on_hangup_request,
    "Hangup": CallTracker._on_hangup,
    "DialBegin": CallTracker._on_dial_begin,
    "DialEnd": CallTracker._on_dial_end,
    "QueueCallerJoin": CallTracker._on_queue_caller_join,
    "QueueCallerAbandon": CallTracker._on_queue_caller_abandon,
    "QueueCallerLeave": CallTracker._on_queue_caller_leave,
    "AgentCalled": CallTracker._on_agent_called,
    "AgentRingNoAnswer": CallTracker._on_agent_ring_no_answer,
    "AgentConnect": CallTracker._on_agent_connect,
    "AgentComplete": CallTracker._on_agent_complete,
    "BlindTransfer": CallTracker._on_blind_transfer,
    "AttendedTransfer": CallTracker._on_attended_transfer,
    "OriginateResponse": CallTracker._on_originate_response,
}
