"""Jobs on a cron schedule (the churn check: Saturdays 02:00), run once per occurrence however
many instances are up.

APScheduler's ``AsyncIOScheduler`` with a ``CronTrigger`` says when an occurrence is due. Every
instance hears it; each claims the occurrence by inserting its ``JobRun`` row (unique on job and
scheduled time) in a transaction of its own, and only the one whose insert succeeds runs the
job. The job's changes and the row's ``finished_at`` commit together, so a run that failed or
was cut short shows as unfinished, with the error in ``result``: an occurrence runs at most
once, and the next occurrence makes up for it (the churn check is safe to repeat).

An occurrence missed while no instance was up runs once at start: when the last ``JobRun`` is
older than the cron's previous occurrence, or there is none yet. Which occurrence is due is
read from the injected clock, so tests move time by hand."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.cron import cron_trigger
from crm_core.churn import check_churn
from crm_core.clock import Clock
from crm_core.models import JobRun
from crm_core.uow import UnitOfWork

log = structlog.get_logger("desk.scheduler")
# Changes state in the session it is given and says what it did; never commits.
JobWork = Callable[[AsyncSession, datetime], Awaitable[str]]
# How far back the previous occurrence is looked for, widening step by step: a minutely job
# is found in the first window, a weekly one in the fourth, 29 February in the last.
LOOKBACK = tuple(timedelta(days=d) for d in (1 / 1440, 1 / 24, 1, 8, 32, 367, 3 * 366, 9 * 366))


@dataclass(frozen=True, slots=True)
class CronJob:
    name: str
    trigger: CronTrigger
    work: JobWork


@dataclass(frozen=True, slots=True)
class Outcome:
    job: str
    scheduled_for: datetime
    result: str  # ran, taken (another instance claimed it first), failed


def previous_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The latest occurrence at or before ``now``; None if there is none in nine years."""
    for back in LOOKBACK:
        latest = trigger.get_next_fire_time(None, now - back)
        if latest is None or latest > now:
            continue
        while (following := trigger.get_next_fire_time(latest, latest)) and following <= now:
            latest = following
        return latest.astimezone(UTC)
    return None


def missed(last_run: datetime | None, previous: datetime | None) -> bool:
    """Whether the occurrence before now has no run: it fell while no instance was up (or
    the job never ran at all)."""
    return previous is not None and (last_run is None or last_run < previous)


def instance_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Scheduler:
    def __init__(
        self,
        *,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        jobs: Sequence[CronJob],
        instance: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.jobs = {job.name: job for job in jobs}
        self.instance = (instance or instance_name())[:64]
        self.outcomes: deque[Outcome] = deque(maxlen=100)  # the latest, for a look in tests
        self._cron: AsyncIOScheduler | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # One run of a job at a time on this instance; other instances are kept off by the claim.
        self._running = {name: asyncio.Lock() for name in self.jobs}

    async def start(self) -> None:
        cron = self._cron = AsyncIOScheduler(timezone=UTC)
        for job in self.jobs.values():
            cron.add_job(
                self._due,
                trigger=job.trigger,
                args=[job.name],
                id=job.name,
                name=job.name,
                coalesce=True,  # several occurrences passed at once run as one
                misfire_grace_time=None,  # late (a busy loop) is still due
            )
            self._spawn(self.catch_up(job.name), f"catch-up-{job.name}")
        cron.start()
        log.info("scheduler.started", instance=self.instance, jobs=sorted(self.jobs))

    async def stop(self) -> None:
        if self._cron is not None and self._cron.running:
            self._cron.shutdown(wait=False)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # APScheduler shuts down on the loop's next turn

    async def settle(self) -> None:
        """Wait until the runs under way (the catch-up at start among them) are over."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def next_run(self, name: str) -> datetime | None:
        job = self._cron.get_job(name) if self._cron is not None else None
        return job.next_run_time if job is not None else None

    async def run_due(self, name: str) -> Outcome | None:
        """Run the occurrence due now (the latest at or before the clock's time), unless
        another instance, or this one, did."""
        previous = previous_fire_time(self.jobs[name].trigger, self.clock())
        return None if previous is None else await self.run_occurrence(name, previous)

    async def catch_up(self, name: str) -> Outcome | None:
        """At start: run the previous occurrence if it has no run."""
        previous = previous_fire_time(self.jobs[name].trigger, self.clock())
        async with self.db() as session:
            last = await session.scalar(
                select(func.max(JobRun.scheduled_for)).where(JobRun.job == name)
            )
        if not missed(last, previous):
            return None
        assert previous is not None
        log.info("scheduler.catching_up", job=name, scheduled_for=previous.isoformat())
        return await self.run_occurrence(name, previous)

    async def run_occurrence(self, name: str, scheduled_for: datetime) -> Outcome:
        async with self._running[name]:
            run_id = await self._claim(name, scheduled_for)
            if run_id is None:
                return self._outcome(name, scheduled_for, "taken")
            try:
                summary = await self._run(self.jobs[name], run_id)
            except Exception as exc:
                log.exception(
                    "scheduler.job_failed", job=name, scheduled_for=scheduled_for.isoformat()
                )
                await self._finish_failed(run_id, exc)
                return self._outcome(name, scheduled_for, "failed")
            log.info(
                "scheduler.job_ran",
                job=name,
                scheduled_for=scheduled_for.isoformat(),
                summary=summary,
            )
            return self._outcome(name, scheduled_for, "ran")

    async def _claim(self, name: str, scheduled_for: datetime) -> int | None:
        """Insert the occurrence's row; its id, or None when another instance has it."""
        async with UnitOfWork(self.db) as uow:
            run = JobRun(
                job=name,
                scheduled_for=scheduled_for,
                started_at=self.clock(),
                instance=self.instance,
                result="",
            )
            uow.session.add(run)
            try:
                await uow.session.flush()
                await uow.commit()
            except IntegrityError:
                return None
            return run.id

    async def _run(self, job: CronJob, run_id: int) -> str:
        async with UnitOfWork(self.db) as uow:
            summary = await job.work(uow.session, self.clock())
            run = await uow.session.get(JobRun, run_id)
            assert run is not None
            run.finished_at, run.result = self.clock(), summary[:500]
            await uow.commit()
            return summary

    async def _finish_failed(self, run_id: int, exc: Exception) -> None:
        try:
            async with UnitOfWork(self.db) as uow:
                run = await uow.session.get(JobRun, run_id)
                if run is not None:
                    run.result = f"failed: {type(exc).__name__}: {exc}"[:500]
                    await uow.commit()
        except Exception:
            log.exception("scheduler.failure_not_recorded", run_id=run_id)

    def _outcome(self, name: str, scheduled_for: datetime, result: str) -> Outcome:
        outcome = Outcome(name, scheduled_for, result)
        self.outcomes.append(outcome)
        return outcome

    async def _due(self, name: str) -> None:
        """What APScheduler calls: the run goes on in a task of ours, which stop() cancels
        (APScheduler's own runner would log a cancellation as the job's failure)."""
        self._spawn(self.run_due(name), f"run-{name}")

    def _spawn(self, work: Coroutine[Any, Any, Outcome | None], name: str) -> None:
        task = asyncio.create_task(self._logged(work), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _logged(work: Coroutine[Any, Any, Outcome | None]) -> None:
        # A database that is away must not end the schedule: log, and wait for the next one.
        try:
            await work
        except Exception:
            log.exception("scheduler.run_not_started")


# The jobs.

CHURN_JOB = "churn"


def churn_job(*, schedule: str, months: int) -> CronJob:
    """The churn check (crm_core.churn) on its schedule (settings: churn_schedule, churn_months)."""

    async def work(session: AsyncSession, now: datetime) -> str:
        return (await check_churn(session, now=now, months=months)).summary()

    return CronJob(CHURN_JOB, cron_trigger(schedule), work)
