"""The desk assembled around one PBX link: the link and the state machines behind it, the agent
board, and the consumers of telephony events (pops, call records, supervision, wrap-up), each
a supervised worker with its own bounded queue. Started and stopped by the app factory's
cleanup context; knows nothing of HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.settings import Settings
from crm_core.cards import caller_lookups
from crm_core.clock import Clock
from cti.ami.link import AmiLink, LinkConfig
from cti.calls import OpenCall
from cti.events import DomainEvent
from cti.telephony import Telephony
from desk.agents import AgentBoard
from desk.call_control import CallControl, commands_of
from desk.call_recording import CallRecorder
from desk.checkpoint import Checkpoint, ended_in_the_gap
from desk.commands import CommandRouter
from desk.directory import AgentDirectory
from desk.notifications import Notifier
from desk.outbox import Outbox
from desk.pops import PopPipeline
from desk.restore import MemberRestorer
from desk.supervision import SupervisorFeed
from desk.workers import Workers
from desk.wrapup import WrapUpKeeper

log = structlog.get_logger("cti")
CHECKPOINT_SECONDS = 0.5  # how stale a successor's view of the calls in progress may be


@dataclass(frozen=True, slots=True)
class AmiAccount:
    host: str
    port: int
    username: str
    secret: str


@dataclass
class PbxRuntime:
    """What runs while this instance drives the PBX link."""

    link: AmiLink
    telephony: Telephony
    board: AgentBoard
    directory: AgentDirectory
    recorder: CallRecorder
    workers: Workers


def link_config(settings: Settings, telephony: Telephony, account: AmiAccount) -> LinkConfig:
    return LinkConfig(
        host=account.host,
        port=account.port,
        username=account.username,
        secret=account.secret,
        events=settings.ami_events,
        wanted_events=telephony.wanted_events,
        action_timeout=settings.ami_action_timeout,
        ping_interval=settings.ami_ping_interval,
        ping_timeout=settings.ami_ping_timeout,
        reconcile_interval=settings.ami_reconcile_seconds,
    )


def call_recorder(settings: Settings, db: async_sessionmaker, clock: Clock) -> CallRecorder:
    """Call records through this instance's durable outbox. Its writer runs on every instance,
    driving or not, so that what a driver kept on disk before it stopped is written."""
    return CallRecorder(
        outbox=Outbox(settings.data_dir / "outbox" / "call_ends.jsonl"),
        db=db,
        clock=clock,
        region=settings.default_region,
    )


@contextlib.asynccontextmanager
async def driving_the_link(
    *,
    settings: Settings,
    account: AmiAccount,
    db: async_sessionmaker,
    clock: Clock,
    notifier: Notifier,
    router: CommandRouter,
    recorder: CallRecorder,
    fence: int,
    checkpoint: Checkpoint | None,
) -> AsyncIterator[PbxRuntime]:
    """Connect the link and run everything behind it until the block is left. ``fence``: the
    fencing token of this term as driver (cti.leader); it goes with every call record."""
    telephony = Telephony(call_variables=settings.ami_call_variables)
    link = AmiLink(link_config(settings, telephony, account), telephony)
    board = AgentBoard(telephony.agents, telephony.calls)
    telephony.observe(lambda event: board.apply(event, clock().timestamp()))
    workers = Workers()
    directory = AgentDirectory(db, notifier)
    async with contextlib.AsyncExitStack() as stack:
        await directory.start()
        lookups = await stack.enter_async_context(caller_lookups(settings.effective_database_url))
        pops = PopPipeline(
            lookups=lookups,
            notifier=notifier,
            directory=directory,
            board=board,
            region=settings.default_region,
            db=db,
        )
        await pops.start()
        supervision = SupervisorFeed(
            board=board, notifier=notifier, directory=directory, db=db, clock=clock
        )
        await supervision.start()
        wrapup = WrapUpKeeper(
            board=board,
            link=link,
            notifier=notifier,
            directory=directory,
            clock=clock,
            seconds=settings.wrapup_seconds,
        )
        await wrapup.start()
        stack.callback(wrapup.stop)

        workers.start("ami-link", link.run)
        if checkpoint is not None:  # None: one instance, no successor to hand over to
            before = await _predecessors_calls(checkpoint)
            workers.start("handover", lambda: hand_over(telephony, checkpoint, before))
        workers.consume("screen-pops", telephony.subscribe(), pops.handle, slice_seconds=0.015)
        workers.consume(
            "call-ends", telephony.subscribe(), functools.partial(recorder.handle, fence=fence)
        )
        workers.consume("supervision", telephony.subscribe(), supervision.handle)
        workers.every("pause-limits", settings.pause_check_seconds, supervision.check_pauses)
        workers.consume("wrap-up", telephony.subscribe(), wrapup.handle)
        restorer = MemberRestorer(
            link=link, agents=telephony.agents, notifier=notifier, directory=directory
        )
        workers.consume("members-after-restart", telephony.subscribe(), restorer.handle)
        workers.consume("cti-log", telephony.subscribe(), log_domain_event)
        workers.start("agent-directory", directory.run)
        router.local = commands_of(
            CallControl(link=link, telephony=telephony, board=board, clock=clock)
        )
        try:
            yield PbxRuntime(
                link=link,
                telephony=telephony,
                board=board,
                directory=directory,
                recorder=recorder,
                workers=workers,
            )
        finally:
            router.local = None
            await link.stop()
            await workers.stop()


async def _predecessors_calls(checkpoint: Checkpoint) -> list[OpenCall]:
    """Read before the link's first resynchronisation shows what the PBX still has."""
    try:
        return await checkpoint.load()
    except Exception:
        log.warning("checkpoint.load_failed", exc_info=True)
        return []


async def hand_over(
    telephony: Telephony,
    checkpoint: Checkpoint,
    before: list[OpenCall],
    *,
    every: float = CHECKPOINT_SECONDS,
) -> None:
    """Close the predecessor's calls that ended unseen (after the first resynchronisation has
    shown what the PBX still has), then keep this driver's own open calls for a successor."""
    telephony.resynced.clear()
    await telephony.resynced.wait()
    if before:
        gone = ended_in_the_gap(
            before, (c.linked_id for c in telephony.calls.open_calls()), time.time()
        )
        log.info("handover.calls_closed", closed=len(gone), open_before=len(before))
        telephony.publish(list(gone))
        before.clear()  # a restart of this worker must not close them twice
    while True:
        await checkpoint.save(telephony.calls.open_calls())
        await asyncio.sleep(every)


async def log_domain_event(event: DomainEvent) -> None:
    """One log line per domain event, with stable keys (call_id, agent, queue)."""
    fields = {
        "call_id": getattr(event, "linked_id", None),
        "agent": getattr(event, "agent_interface", None) or getattr(event, "interface", None),
        "queue": getattr(event, "queue", None),
        "outcome": getattr(event, "outcome", None),
    }
    log.info("cti." + type(event).__name__, **{k: v for k, v in fields.items() if v})
