"""The churn check on its schedule: two instances on one database run each occurrence once, and
an occurrence missed while no instance was up runs once at start. The occurrence due is read
from the test's clock; APScheduler's own firing is real (every second here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from config.cron import cron_trigger
from config.settings import Settings
from crm_core.audit import SYSTEM
from crm_core.customers import CustomerService
from crm_core.db import create_engine, session_factory
from crm_core.models import ChurnWarning, Customer, JobRun
from crm_core.schemas import CustomerCreate
from desk.scheduler import CHURN_JOB, CronJob, Scheduler, missed, previous_fire_time
from tests.conftest import test_settings
from tests.support.waiting import until
from web.app import create_app
from web.appkeys import scheduler_key

SATURDAY_2AM = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
WEDNESDAY = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # the test clock's start


def test_the_default_schedule_is_saturdays_at_two_utc():
    trigger = cron_trigger(Settings(data_dir="unused").churn_schedule)
    assert trigger.get_next_fire_time(None, WEDNESDAY) == SATURDAY_2AM
    # crontab's numbers, not APScheduler 3's (which would make 6 a Sunday).
    assert cron_trigger("0 9 * * 1-5").get_next_fire_time(None, SATURDAY_2AM) == datetime(
        2026, 11, 30, 9, 0, tzinfo=UTC
    )
    assert cron_trigger("0 9 * * 0").get_next_fire_time(None, SATURDAY_2AM).weekday() == 6


@pytest.mark.parametrize(
    "schedule", ["0 2 * *", "61 2 * * *", "0 2 * * 8", "0 2 1 * 6", "every saturday"]
)
def test_a_bad_schedule_stops_the_start_saying_why(schedule):
    with pytest.raises(ValidationError) as refused:
        Settings(data_dir="unused", churn_schedule=schedule)
    message = str(refused.value)
    assert "churn_schedule" in message and "is not a cron schedule" in message


def test_the_previous_occurrence_is_the_latest_at_or_before_now():
    weekly = cron_trigger("0 2 * * 6")
    assert previous_fire_time(weekly, WEDNESDAY) == SATURDAY_2AM - timedelta(days=7)
    assert previous_fire_time(weekly, SATURDAY_2AM) == SATURDAY_2AM
    assert previous_fire_time(weekly, SATURDAY_2AM - timedelta(microseconds=1)) == (
        SATURDAY_2AM - timedelta(days=7)
    )
    assert previous_fire_time(cron_trigger("0 0 29 2 *"), WEDNESDAY) == datetime(
        2024, 2, 29, tzinfo=UTC
    )


def test_an_occurrence_is_missed_when_the_last_run_is_older():
    assert missed(None, SATURDAY_2AM)
    assert missed(SATURDAY_2AM - timedelta(days=7), SATURDAY_2AM)
    assert not missed(SATURDAY_2AM, SATURDAY_2AM)
    assert not missed(None, None)


# Two instances on one database (both databases).


@pytest.fixture
async def db(database_url):
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


async def a_silent_customer(db) -> int:
    """A customer of last year who never ordered: the check flags them."""
    async with db() as session:
        made = await CustomerService(
            session, clock=lambda: datetime(2025, 6, 1, tzinfo=UTC), region="US"
        ).create(CustomerCreate(name="Silent Ltd"), SYSTEM)
        await session.commit()
        return made.id


async def runs(db) -> list[tuple[datetime, bool]]:
    async with db() as session:
        rows = await session.execute(
            select(JobRun.scheduled_for, JobRun.finished_at.is_not(None))
            .where(JobRun.job == CHURN_JOB)
            .order_by(JobRun.scheduled_for)
        )
        return [tuple(r) for r in rows.all()]


async def warnings_of(db, customer_id: int) -> list[str]:
    async with db() as session:
        rows = await session.scalars(
            select(ChurnWarning.status).where(ChurnWarning.customer_id == customer_id)
        )
        return list(rows)


async def instances(aiohttp_client, database_url, tmp_path, clock, **settings):
    return [
        await aiohttp_client(
            create_app(test_settings(database_url, tmp_path / name, **settings), clock=clock)
        )
        for name in ("one", "two")
    ]


def results(client, scheduled_for: datetime) -> list[str]:
    scheduler = client.app[scheduler_key]
    return [o.result for o in scheduler.outcomes if o.scheduled_for == scheduled_for]


async def test_two_instances_run_each_occurrence_once(
    aiohttp_client, database_url, tmp_path, clock, db
):
    silent = await a_silent_customer(db)
    clock.now = SATURDAY_2AM
    # Every second, so that both instances' schedulers fire while the test watches; the test's
    # clock decides which occurrence is due, and it stands still until moved.
    one, two = await instances(
        aiohttp_client, database_url, tmp_path, clock, churn_schedule="* * * * * *"
    )
    await until(lambda: all(len(results(c, SATURDAY_2AM)) >= 2 for c in (one, two)))
    attempts = results(one, SATURDAY_2AM) + results(two, SATURDAY_2AM)
    assert attempts.count("ran") == 1 and set(attempts) == {"ran", "taken"}
    assert await runs(db) == [(SATURDAY_2AM, True)]
    assert await warnings_of(db, silent) == ["open"]
    async with db() as session:
        assert (await session.get(Customer, silent)).churn_flag is True

    clock.advance(seconds=1)
    following = SATURDAY_2AM + timedelta(seconds=1)
    await until(lambda: all(len(results(c, following)) >= 1 for c in (one, two)))
    assert (results(one, following) + results(two, following)).count("ran") == 1
    assert await runs(db) == [(SATURDAY_2AM, True), (following, True)]
    assert await warnings_of(db, silent) == ["open"]  # flagged once, however often it runs


async def add_run(db, scheduled_for: datetime) -> None:
    async with db() as session:
        session.add(
            JobRun(
                job=CHURN_JOB,
                scheduled_for=scheduled_for,
                started_at=scheduled_for,
                finished_at=scheduled_for,
                instance="earlier",
                result="flagged 0, cleared 0",
            )
        )
        await session.commit()


async def test_a_run_missed_while_down_runs_once_at_start(
    aiohttp_client, database_url, tmp_path, clock, db
):
    silent = await a_silent_customer(db)
    two_weeks_ago = SATURDAY_2AM - timedelta(days=14)
    await add_run(db, two_weeks_ago)
    missed_one = SATURDAY_2AM - timedelta(days=7)  # the clock says Wednesday: last Saturday
    one, two = await instances(aiohttp_client, database_url, tmp_path, clock)
    for client in (one, two):
        await client.app[scheduler_key].settle()
    # One ran it; the other found it claimed, or (started after the run) not missed at all.
    attempts = results(one, missed_one) + results(two, missed_one)
    assert attempts.count("ran") == 1 and set(attempts) <= {"ran", "taken"}
    assert await runs(db) == [(two_weeks_ago, True), (missed_one, True)]
    assert await warnings_of(db, silent) == ["open"]
    # Caught up: a look again finds nothing missed; the next run is Saturday 02:00.
    assert await one.app[scheduler_key].catch_up(CHURN_JOB) is None
    next_run = one.app[scheduler_key].next_run(CHURN_JOB)
    assert (next_run.weekday(), next_run.hour, next_run.minute) == (5, 2, 0)


async def test_nothing_runs_at_start_when_the_last_occurrence_ran(
    aiohttp_client, database_url, tmp_path, clock, db
):
    last_saturday = SATURDAY_2AM - timedelta(days=7)
    await add_run(db, last_saturday)
    client = await aiohttp_client(create_app(test_settings(database_url, tmp_path), clock=clock))
    assert await client.app[scheduler_key].catch_up(CHURN_JOB) is None
    assert await runs(db) == [(last_saturday, True)]


async def test_a_job_that_fails_is_recorded_as_failed_and_the_next_occurrence_runs(db, clock):
    calls = []

    async def flaky(session, now):
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("the disk is full")
        return "done"

    scheduler = Scheduler(
        db=db, clock=clock, jobs=[CronJob("flaky", cron_trigger("0 2 * * 6"), flaky)]
    )
    first = await scheduler.run_occurrence("flaky", SATURDAY_2AM)
    second = await scheduler.run_occurrence("flaky", SATURDAY_2AM + timedelta(days=7))
    assert (first.result, second.result) == ("failed", "ran")
    async with db() as session:
        rows = await session.execute(
            select(JobRun.finished_at.is_(None), JobRun.result)
            .where(JobRun.job == "flaky")
            .order_by(JobRun.scheduled_for)
        )
        assert [tuple(r) for r in rows.all()] == [
            (True, "failed: RuntimeError: the disk is full"),
            (False, "done"),
        ]
    # A failed occurrence is not run twice.
    assert (await scheduler.run_occurrence("flaky", SATURDAY_2AM)).result == "taken"
