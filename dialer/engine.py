"""The campaign driver: once a second, each running campaign's live state (from the one agent
projection, `desk.agents.AgentBoard`, and the calls it has in flight) goes through the pacing;
the entries to dial are checked (do-not-call, the callee's local time, attempts, the abandon
cap) immediately before each dial, claimed under the driver's fencing token with the evidence
of those checks, and originated through the PBX link into the `predictive` context (AMD, then
the campaign's queue). What the calls become (the CTI's domain events) feeds the campaign's
estimates, its rolling abandonment windows and its list.

It runs on the instance that drives the PBX link: the calls go out through that link and its
domain events come back there, so a campaign is driven exactly where its calls are seen. The
link's lease (cti.leader) makes that one instance; its fencing token guards every claim, so a
driver that lost its lease cannot dial an entry its successor holds. A successor adopts the
calls still up on the PBX and settles those that ended unseen from their call records: no
entry is dialled twice because of a takeover."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core import dialling
from crm_core.call_lists import run_rules
from crm_core.clock import Clock
from crm_core.models import Campaign
from crm_core.uow import UnitOfWork
from cti.ami import actions
from cti.ami.errors import AmiError
from cti.ami.link import AmiLink
from cti.events import (
    CallAnswered,
    CallEnded,
    CallOffered,
    Direction,
    DomainEvent,
    OriginateFailed,
)
from cti.events import Outcome as CallOutcome
from cti.telephony import Telephony
from desk.agents import AgentBoard, AgentView, Status
from desk.notifications import CampaignState, Notifier, ToSupervisors
from dialer.estimates import Estimates, Estimator
from dialer.estimates import Outcome as Learned
from dialer.pacing import Decision, LiveState, decide
from dialer.plans import Plan, checked, settle
from dialer.results import DialOutcome
from dialer.windows import DAY, RollingWindows

log = structlog.get_logger("dialer")
PREDICTIVE_CONTEXT = "predictive"
RING_TIMEOUT_MS = 25_000  # a number that has not answered by then will not
SNAPSHOT_SECONDS = 30.0  # how often the pacing takes a fresh look at what it learned
RULES_SECONDS = 60.0  # how often the standing list rules look for new entries

# What the CTI says a call became -> the dial's outcome for the list.
_OUTCOMES = {
    CallOutcome.ANSWERED: DialOutcome.ANSWERED,
    CallOutcome.ABANDONED: DialOutcome.ABANDONED,
    # Outbound, Queue()'s timeout is the patience running out: abandoned in the regulator's sense.
    CallOutcome.QUEUE_TIMEOUT: DialOutcome.ABANDONED,
    CallOutcome.NO_ANSWER: DialOutcome.NO_ANSWER,
    CallOutcome.BUSY: DialOutcome.BUSY,
    CallOutcome.MACHINE: DialOutcome.MACHINE,
    CallOutcome.CONGESTION: DialOutcome.CONGESTION,
    CallOutcome.FAILED: DialOutcome.FAILED,
    CallOutcome.UNKNOWN: DialOutcome.FAILED,
}
# ... and what the pacing learns from it.
_LEARNED = {
    DialOutcome.MACHINE: Learned.MACHINE,
    DialOutcome.BUSY: Learned.BUSY,
    DialOutcome.CONGESTION: Learned.BUSY,
    DialOutcome.FAILED: Learned.BUSY,
    DialOutcome.NO_ANSWER: Learned.NO_ANSWER,
}


@dataclass
class _Dial:
    """A call this driver placed and has not seen end."""

    entry_id: int
    at: float  # when it was dialled
    live_at: float | None = None  # when a person answered (it reached the queue)
    connected_at: float | None = None  # when an agent took it


@dataclass
class CampaignEngine:
    """One campaign on the driving instance."""

    plan: Plan
    db: async_sessionmaker
    link: AmiLink
    telephony: Telephony
    clock: Clock
    fence: int
    estimator: Estimator = field(default_factory=Estimator)
    windows: RollingWindows = field(default_factory=RollingWindows)
    dials: dict[str, _Dial] = field(default_factory=dict)
    last: Decision | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("dialled", "answered", "abandoned", "connected"), 0)
    )
    _estimates: Estimates | None = None
    _estimated_at: float = -math.inf
    _wraps: dict[str, float] = field(default_factory=dict)  # agent -> wrap-up began
    _first_connect: float | None = None
    live: LiveState | None = None  # as the last decision saw it
    agent_seconds: float = 0.0  # of agents working the campaign (not paused), since it started
    _ticked_at: float | None = None

    # ------------------------------------------------------------ taking over

    async def take_over(self) -> None:
        """Seed the abandonment windows from the campaign's record, adopt the calls a
        predecessor placed that are still up, settle those that ended unseen."""
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            since = datetime.fromtimestamp(now.timestamp() - 30 * DAY, now.tzinfo)
            for at, abandoned in await dialling.answer_history(uow.session, self.plan.id, since):
                self.windows.answered(at)
                if abandoned:
                    self.windows.abandoned(at)
            unfinished = await dialling.unfinished(uow.session, self.plan.id)
            up = {call.linked_id for call in self.telephony.calls.open_calls()}
            gone: list[tuple[str, str]] = []
            for call_id, entry_id, dialled_at in unfinished:
                if call_id in up:
                    self.dials[call_id] = _Dial(entry_id, dialled_at)
                else:
                    recorded = await dialling.recorded_outcome(uow.session, call_id)
                    gone.append((call_id, recorded or CallOutcome.UNKNOWN))
        for call_id, outcome in gone:
            await self.finish(call_id, _OUTCOMES.get(CallOutcome(outcome), DialOutcome.FAILED))
        log.info(
            "dialer.took_over",
            campaign=self.plan.name,
            adopted=len(self.dials),
            settled=len(gone),
            fence=self.fence,
        )

    # ------------------------------------------------------------ pacing

    async def tick(self, views: list[AgentView], remaining: int) -> Decision:
        """One pacing decision on the board's ``views`` (read once for every campaign) and
        the entries the list has ``remaining``, and its dials."""
        now = self.clock()
        t = now.timestamp()
        state = self._live_state(views, remaining, t)
        if self._ticked_at is not None:
            working = state.ready + len(state.wrapping) + len(state.talking)
            self.agent_seconds += working * min(t - self._ticked_at, 5.0)
        self._ticked_at = t
        decision = decide(state, self.plan.policy, self._snapshot(t))
        self.last, self.live = decision, state
        if decision.dials:
            floor = max(0, state.ready - state.waiting - len(state.ringing))
            await self._dial(decision.dials, floor, now)
        return decision

    def _live_state(self, views: list[AgentView], remaining: int, t: float) -> LiveState:
        ready, wrapping, talking = 0, [], []
        for view in views:
            if view.pbx is None or not any(q.queue == self.plan.queue for q in view.pbx.queues):
                continue
            self._learn_wrap(view.interface, view.status, t)
            if view.status is Status.READY:
                ready += 1
            elif view.status is Status.WRAP_UP:
                wrapping.append(t - view.status_since)
            elif view.status is Status.TALKING and view.call is not None:
                talking.append(t - view.call.since)
            elif view.status in (Status.RINGING, Status.DIALLING, Status.TALKING):
                talking.append(0.0)  # about to talk
        ringing = tuple(t - d.at for d in self.dials.values() if d.live_at is None)
        return LiveState(
            ready=ready,
            wrapping=tuple(wrapping),
            talking=tuple(talking),
            ringing=ringing,
            windows=self.windows.counts(t),
            remaining=remaining,
        )

    def _learn_wrap(self, agent: str, status: Status, t: float) -> None:
        began = self._wraps.get(agent)
        if status is Status.WRAP_UP:
            if began is None:
                self._wraps[agent] = t
        elif began is not None:
            del self._wraps[agent]
            self.estimator.record_wrap(t - began, back_ready=status is Status.READY)

    def _snapshot(self, t: float) -> Estimates:
        if self._estimates is None or t - self._estimated_at >= SNAPSHOT_SECONDS:
            self._estimates, self._estimated_at = self.estimator.snapshot(), t
        return self._estimates

    async def _dial(self, count: int, floor: int, now: datetime) -> None:
        """Check, claim and originate up to ``count`` due entries; the first ``floor`` have
        an agent waiting for them, the others are placed ahead of one (predictive)."""
        plan = self.plan
        windows = self.windows.counts(now.timestamp())
        placed: list[tuple[str, int, str]] = []
        async with UnitOfWork(self.db) as uow:
            session = uow.session
            for entry in await dialling.due_entries(session, plan.id, now, count * 3):
                if len(placed) == count:
                    break
                check = await checked(
                    session, plan, entry, now, windows=windows, predictive=len(placed) >= floor
                )
                if not check.allowed:
                    if "abandon_rate" in check.failed:
                        break  # the cap: no more calls ahead of agents this second
                    continue
                call_id = actions.new_channel_id()
                if await dialling.claim(
                    session,
                    campaign_id=plan.id,
                    entry_id=entry.id,
                    call_id=call_id,
                    checks=check.evidence,
                    fence=self.fence,
                    now=now,
                ):
                    placed.append((call_id, entry.id, entry.number))
            await uow.commit()  # claimed before dialled: a successor sees the claim
        for call_id, entry_id, number in placed:
            await self._originate(call_id, entry_id, number, now.timestamp())

    async def _originate(self, call_id: str, entry_id: int, number: str, t: float) -> None:
        plan = self.plan
        technology, _, endpoint = plan.trunk.partition("/")
        action = actions.originate(
            f"{technology}/{number}@{endpoint}",
            context=PREDICTIVE_CONTEXT,
            exten="s",
            caller_id=f"<{plan.caller_id}>" if plan.caller_id else None,
            timeout_ms=RING_TIMEOUT_MS,
            channel_id=call_id,
            variables={
                "CC_CAMPAIGN": str(plan.id),
                "CC_LIST_ENTRY": str(entry_id),
                "CC_QUEUE": plan.queue,
                "QTIMEOUT": f"{plan.policy.patience:g}",
                "CC_ABANDON_MSG": plan.abandon_message,
            },
        )
        tags = {"campaign": str(plan.id), "entry": str(entry_id)}
        self.telephony.calls.expect(call_id, Direction.OUTBOUND, tags, action_id=action.action_id)
        self.dials[call_id] = _Dial(entry_id, t)
        self.counts["dialled"] += 1
        try:
            await self.link.originate(action)
        except AmiError as exc:
            log.warning(
                "dialer.originate_failed", campaign=plan.name, call_id=call_id, error=str(exc)
            )
            await self.finish(call_id, DialOutcome.FAILED)
            return
        log.info("dialer.dialled", campaign=plan.name, call_id=call_id, entry=entry_id)

    # ------------------------------------------------------------ what the calls became

    async def on_event(self, event: DomainEvent) -> None:
        t = self.clock().timestamp()  # the driver's clock throughout (events carry the link's)
        if isinstance(event, CallOffered):
            self._live(event.linked_id, t)
        elif isinstance(event, CallAnswered):
            dial = self.dials.get(event.linked_id)
            if dial is not None and dial.connected_at is None:
                dial.connected_at = t
        elif isinstance(event, OriginateFailed):
            channel_id = self._call_of(event)
            if channel_id:
                await self.finish(channel_id, _OUTCOMES.get(event.outcome, DialOutcome.FAILED))
        elif isinstance(event, CallEnded):
            outcome = _OUTCOMES.get(event.outcome, DialOutcome.FAILED)
            dial = self.dials.get(event.linked_id)
            if outcome is DialOutcome.ANSWERED and dial and dial.connected_at is not None:
                talk = t - dial.connected_at
                self.estimator.record_talk(talk, watched=self._watched(dial.connected_at, t))
            await self.finish(event.linked_id, outcome)

    def _call_of(self, event: OriginateFailed) -> str:
        """The ChannelId a failed Originate was placed with (its Uniqueid may be unknown)."""
        if event.uniqueid in self.dials:
            return event.uniqueid
        entry = dict(event.tags).get("entry")
        for call_id, dial in self.dials.items():
            if str(dial.entry_id) == entry:
                return call_id
        return ""

    def _watched(self, connected_at: float, t: float) -> float:
        """Seconds since the campaign's first connection (early talks are biased short)."""
        if self._first_connect is None or connected_at < self._first_connect:
            self._first_connect = connected_at
        return t - self._first_connect

    def _live(self, call_id: str, t: float) -> None:
        dial = self.dials.get(call_id)
        if dial is not None and dial.live_at is None:
            self._count_live(dial, t)

    def _count_live(self, dial: _Dial, t: float) -> None:
        """A person answered (past AMD, into the queue): a live answer for the windows."""
        dial.live_at = t
        self.windows.answered(t)
        self.estimator.record_dial(Learned.LIVE, t - dial.at)
        self.counts["answered"] += 1

    async def finish(self, call_id: str, outcome: DialOutcome) -> None:
        now = self.clock()
        t = now.timestamp()
        dial = self.dials.pop(call_id, None)
        abandoned = outcome is DialOutcome.ABANDONED
        if dial is not None:
            if outcome in (DialOutcome.ANSWERED, DialOutcome.ABANDONED):
                if dial.live_at is None:  # abandoned before any agent was offered the call
                    self._count_live(dial, t)
            else:
                self.estimator.record_dial(_LEARNED[outcome], t - dial.at)
            if abandoned:
                self.windows.abandoned(t)
                self.counts["abandoned"] += 1
            elif outcome is DialOutcome.ANSWERED:
                self.counts["connected"] += 1
        async with UnitOfWork(self.db) as uow:
            await settle(uow.session, self.plan, call_id, outcome, now)
            await uow.commit()
        log.info("dialer.call_ended", campaign=self.plan.name, call_id=call_id, outcome=outcome)

    # ------------------------------------------------------------ the live page

    def state(self) -> dict[str, Any]:
        t = self.clock().timestamp()
        windows = self.windows.counts(t)
        decision, live = self.last, self.live
        hours = self.agent_seconds / 3600
        return {
            "campaign_id": self.plan.id,
            "name": self.plan.name,
            "mode": str(self.plan.mode),
            "ringing": sum(1 for d in self.dials.values() if d.live_at is None),
            "talking": sum(1 for d in self.dials.values() if d.live_at is not None),
            **self.counts,
            "windows": [
                {"name": w.name, "answered": w.answered, "abandoned": w.abandoned, "rate": w.rate}
                for w in windows
            ],
            "cap": self.plan.policy.abandon_cap,
            "remaining": live.remaining if live else None,
            "agents": {
                "ready": live.ready if live else 0,
                "wrap_up": len(live.wrapping) if live else 0,
                "talking": len(live.talking) if live else 0,
            },
            "agent_hours": round(hours, 3),
            # Over a minute of agent time at least: fewer says nothing yet.
            "contacts_per_agent_hour": round(self.counts["connected"] / hours, 1)
            if self.agent_seconds >= 60
            else None,
            "decision": None
            if decision is None
            else {
                "dials": decision.dials,
                "reason": str(decision.reason),
                "text": decision.text,
                "agents_soon": round(decision.agents_soon, 2),
                "answers_soon": round(decision.answers_soon, 2),
            },
            "at": t,
        }


class CampaignRunner:
    """Every running campaign, on the instance that drives the PBX link: engines started and
    stopped as campaigns start and stop, ticked once a second, fed with the domain events of
    their own calls (tagged with the campaign when they were originated)."""

    def __init__(
        self,
        *,
        db: async_sessionmaker,
        link: AmiLink,
        telephony: Telephony,
        board: AgentBoard,
        clock: Clock,
        fence: int,
        notifier: Notifier,
        default_trunk: str,
        region: str,
        rules_every: float = RULES_SECONDS,
    ) -> None:
        self.db = db
        self.region = region  # what a national number means to the list rules
        self.rules_every = rules_every
        self._rules_at = -math.inf
        self.link = link
        self.telephony = telephony
        self.board = board
        self.clock = clock
        self.fence = fence
        self.notifier = notifier
        self.default_trunk = default_trunk
        self.engines: dict[int, CampaignEngine] = {}

    async def tick(self) -> None:
        if not self.telephony.connected:
            return  # nothing can be dialled, and the board is not to be trusted
        await self._run_rules()
        async with UnitOfWork(self.db) as uow:
            running = await dialling.running_campaigns(uow.session)
            remaining = await dialling.remaining(uow.session, [row.id for row in running])
        views = self.board.views()
        wanted = {row.id: Plan.of(row, default_trunk=self.default_trunk) for row in running}
        for campaign_id in set(self.engines) - set(wanted):
            engine = self.engines.pop(campaign_id)
            log.info(
                "dialer.campaign_stopped", campaign=engine.plan.name, in_flight=len(engine.dials)
            )
        for campaign_id, plan in wanted.items():
            engine = self.engines.get(campaign_id)
            if engine is None:
                engine = CampaignEngine(
                    plan=plan,
                    db=self.db,
                    link=self.link,
                    telephony=self.telephony,
                    clock=self.clock,
                    fence=self.fence,
                )
                await engine.take_over()
                self.engines[campaign_id] = engine
            engine.plan = plan  # settings changed while it runs take effect now
            try:
                await engine.tick(views, remaining[campaign_id])
            except Exception:
                log.exception("dialer.tick_failed", campaign=plan.name)
            await self.notifier.publish(ToSupervisors.of(CampaignState(campaign=engine.state())))

    async def _run_rules(self) -> None:
        """The standing list rules (new orders to confirm, customers flagged for churn,
        abandoned inbound calls), run here: by one instance, the one dialling."""
        now = self.clock()
        if now.timestamp() - self._rules_at < self.rules_every:
            return
        self._rules_at = now.timestamp()
        try:
            async with UnitOfWork(self.db) as uow:
                runs = await run_rules(uow.session, now, region=self.region)
                await uow.commit()
        except Exception:
            log.exception("dialer.rules_failed")
            return
        for run in runs:
            if run.error or (run.result and run.result.added):
                log.info(
                    "dialer.rule_ran",
                    rule=run.rule_id,
                    campaign=run.campaign_id,
                    kind=run.kind,
                    error=run.error or None,
                )

    async def handle(self, event: DomainEvent) -> None:
        tags = dict(getattr(event, "tags", ()) or ())
        campaign = tags.get("campaign")
        if campaign is None:
            return
        engine = self.engines.get(int(campaign))
        if engine is not None:
            await engine.on_event(event)
        elif isinstance(event, CallEnded | OriginateFailed):
            await self._settle_orphan(event, int(campaign))

    async def _settle_orphan(self, event: CallEnded | OriginateFailed, campaign_id: int) -> None:
        """A call of a campaign paused or stopped since it was placed: its entry still gets
        its outcome."""
        async with UnitOfWork(self.db) as uow:
            campaign = await uow.session.get(Campaign, campaign_id)
            if campaign is None:
                return
            if isinstance(event, CallEnded):
                call_id = event.linked_id
            else:  # a failed Originate may not know its Uniqueid: its entry does
                entry = dict(event.tags).get("entry")
                unfinished = await dialling.unfinished(uow.session, campaign_id)
                call_id = next((c for c, e, _ in unfinished if str(e) == entry), event.uniqueid)
            plan = Plan.of(campaign, default_trunk=self.default_trunk)
            outcome = _OUTCOMES.get(event.outcome, DialOutcome.FAILED)
            await settle(uow.session, plan, call_id, outcome, self.clock())
            await uow.commit()
