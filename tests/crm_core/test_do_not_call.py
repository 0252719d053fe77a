"""The do-not-call register: a number added by hand, by import or by a call's result marks its
pending entries in every campaign (each an audit row); the check before a dial; removal with
its audit row; the register's page; CSV import with its report, on both databases."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.audit import Actor
from crm_core.call_lists import CallLists, NewEntry
from crm_core.db import create_engine, session_factory
from crm_core.do_not_call import DncCreate, DoNotCallService, is_listed
from crm_core.errors import InvalidInput, NotFound
from crm_core.models import AuditEntry, CallListEntry, Campaign, DoNotCall, ImportRun
from crm_core.uow import UnitOfWork

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # the conftest clock's start
LEAD = Actor(user_id=None, name="lead")


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def make_campaign(sessions, name: str, *numbers: str) -> int:
    async with sessions() as db:
        campaign = Campaign(
            name=name, mode="progressive", status="running", created_at=NOW, updated_at=NOW
        )
        db.add(campaign)
        await db.commit()
    if numbers:
        async with UnitOfWork(sessions) as uow:
            await CallLists(uow.session, clock=lambda: NOW, region="US").add(
                campaign.id, [NewEntry(n, "manual", reason_text="x") for n in numbers], LEAD
            )
            await uow.commit()
    return campaign.id


async def states(sessions) -> dict[tuple[int, str], str]:
    async with sessions() as db:
        rows = await db.execute(
            select(CallListEntry.campaign_id, CallListEntry.number_e164, CallListEntry.state)
        )
        return {(c, n): s for c, n, s in rows.all()}


async def register(sessions, clock, method: str, *args: object, **kwargs: object):
    async with UnitOfWork(sessions) as uow:
        service = DoNotCallService(uow.session, clock=clock, region="US")
        result = await getattr(service, method)(*args, **kwargs)
        await uow.commit()
        return result


async def listed(sessions, e164: str) -> bool:
    async with sessions() as db:
        return await is_listed(db, e164)


async def count(sessions, model) -> int:
    async with sessions() as db:
        return await db.scalar(select(func.count()).select_from(model))


async def test_a_listed_number_marks_its_pending_entries_in_every_campaign(sessions, clock):
    spring = await make_campaign(sessions, "Spring", "+12127365000", "+12127365001")
    autumn = await make_campaign(sessions, "Autumn", "+12127365000")
    async with sessions() as db:
        done = await db.scalar(
            select(CallListEntry).where(
                CallListEntry.campaign_id == autumn, CallListEntry.number_e164 == "+12127365000"
            )
        )
        done.state = "done"  # already called: stays as it was
        await db.commit()
    added = await register(
        sessions,
        clock,
        "add",
        DncCreate(number="(212) 736-5000", reason="asked on the phone"),
        LEAD,
    )
    assert (added.added, added.marked, added.entry.number_e164) == (True, 1, "+12127365000")
    assert await states(sessions) == {
        (spring, "+12127365000"): "dnc",
        (spring, "+12127365001"): "pending",
        (autumn, "+12127365000"): "done",
    }
    assert await listed(sessions, "+12127365000") and not await listed(sessions, "+12127365001")
    async with sessions() as db:
        entry = await db.get(DoNotCall, "+12127365000")
        assert (entry.reason, entry.source, entry.added_at) == ("asked on the phone", "manual", NOW)
        actions = [
            (a.action, a.entity_id, a.before, a.after)
            for a in await db.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.in_(["dnc.add", "call_list_entry.dnc"]))
                .order_by(AuditEntry.id)
            )
        ]
    assert actions[0] == (
        "dnc.add",
        "+12127365000",
        None,
        {"reason": "asked on the phone", "source": "manual"},
    )
    assert actions[1][0] == "call_list_entry.dnc" and actions[1][2] == {"state": "pending"}
    assert actions[1][3]["state"] == "dnc" and actions[1][3]["campaign_id"] == spring
    # Listing it again changes nothing.
    again = await register(sessions, clock, "add", DncCreate(number="+1 212 736 5000"), LEAD)
    assert (again.added, again.marked, again.entry.reason) == (False, 0, "asked on the phone")


async def test_a_number_listed_a_second_before_is_refused_to_the_dialer(sessions, clock):
    spring = await make_campaign(sessions, "Spring", "+12127365000")
    await register(
        sessions, clock, "add", DncCreate(number="212 736 5000"), LEAD, source="call_result"
    )
    assert await listed(sessions, "+12127365000")
    assert await states(sessions) == {(spring, "+12127365000"): "dnc"}
    async with sessions() as db:
        assert (await db.get(DoNotCall, "+12127365000")).source == "call_result"


@pytest.mark.parametrize("number", ["banana", "", "anonymous", "1" * 80])
async def test_what_is_no_number_is_refused(sessions, clock, number):
    with pytest.raises((InvalidInput, ValueError)):
        await register(sessions, clock, "add", DncCreate(number=number), LEAD)
    assert await count(sessions, DoNotCall) == 0


async def test_a_removed_number_may_be_dialled_and_its_entries_stay_dnc(sessions, clock):
    spring = await make_campaign(sessions, "Spring", "+12127365000")
    await register(sessions, clock, "add", DncCreate(number="212 736 5000", reason="asked"), LEAD)
    clock.advance(days=2)
    await register(sessions, clock, "remove", "+1 (212) 736-5000", LEAD, reason="consent given")
    assert not await listed(sessions, "+12127365000")
    assert await states(sessions) == {(spring, "+12127365000"): "dnc"}
    async with sessions() as db:
        (entry,) = await db.scalars(select(AuditEntry).where(AuditEntry.action == "dnc.remove"))
    assert entry.before["reason"] == "asked" and entry.after == {"reason": "consent given"}
    assert entry.at == NOW + timedelta(days=2)
    with pytest.raises(NotFound):
        await register(sessions, clock, "remove", "212 736 5000", LEAD)


async def test_the_register_is_searched_by_number_digits_reason_and_source(sessions, clock):
    for n, reason in enumerate(("asked twice", "complaint", "Asked politely")):
        clock.advance(minutes=1)
        await register(
            sessions, clock, "add", DncCreate(number=f"212 736 500{n}", reason=reason), LEAD
        )
    clock.advance(minutes=1)
    await register(
        sessions, clock, "add", DncCreate(number="+44 20 7946 0958"), LEAD, source="call_result"
    )
    async with sessions() as db:
        service = DoNotCallService(db, clock=clock, region="US")
        everyone = await service.search()
        assert [r.entry.number_e164 for r in everyone.rows] == [
            "+442079460958",
            "+12127365002",
            "+12127365001",
            "+12127365000",
        ]
        one = await service.search("(212) 736-5001")
        assert [r.entry.reason for r in one.rows] == ["complaint"]
        by_digits = await service.search("+1212")
        assert by_digits.total == 3
        by_words = await service.search("asked")
        assert sorted(r.entry.reason for r in by_words.rows) == ["Asked politely", "asked twice"]
        by_source = await service.search(source="call_result")
        assert [r.entry.number_e164 for r in by_source.rows] == ["+442079460958"]
        paged = await service.search(page=2, per_page=3)
        assert (len(paged.rows), paged.total, paged.more) == (1, 4, False)
        assert everyone.rows[0].as_dict()["source"] == "call_result"
        with pytest.raises(InvalidInput):
            await service.search(source="rumour")


async def test_an_import_lists_good_rows_reports_bad_ones_and_marks_entries(
    sessions, clock, tmp_path
):
    spring = await make_campaign(sessions, "Spring", "+12127365000", "+12127365009")
    await register(sessions, clock, "add", DncCreate(number="212 736 5003"), LEAD)
    text = (
        "电话,原因\n"
        "(212) 736-5000,complaint\n"  # 2: on a list
        "banana,\n"  # 3
        ",no number\n"  # 4
        "212 736 5001,\n"  # 5
        "+1 212 736 5001,again\n"  # 6: twice in the file
        "212 736 5003,\n"  # 7: listed before
    )
    path = tmp_path / "dnc.csv"
    path.write_bytes(codecs.BOM_UTF8 + text.encode())
    result = await register(sessions, clock, "import_file", path, "dnc.csv", LEAD)
    assert (result.added, result.already, result.rejected, result.marked) == (2, 2, 2, 1)
    assert await states(sessions) == {
        (spring, "+12127365000"): "dnc",
        (spring, "+12127365009"): "pending",
    }
    async with sessions() as db:
        complaint = await db.get(DoNotCall, "+12127365000")
        plain = await db.get(DoNotCall, "+12127365001")
        run = await db.get(ImportRun, result.run_id)
    assert (complaint.reason, complaint.source, plain.reason) == (
        "complaint",
        "import",
        "List dnc.csv",
    )
    assert (run.kind, run.imported, run.rejected) == ("dnc", 4, 2)
    report = list(csv.reader(io.StringIO(run.report)))
    assert report[0][:2] == ["row", "reason"]
    assert {int(r[0]): r[1] for r in report[1:]} == {
        3: "phone: 'banana' is not a phone number",
        4: "phone: empty",
    }


async def test_an_import_in_gbk_is_read(sessions, clock, tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("号码,原因\n212 736 5000,客户投诉\n".encode("gbk"))
    result = await register(sessions, clock, "import_file", path, "gbk.csv", LEAD)
    assert result.added == 1
    async with sessions() as db:
        assert (await db.get(DoNotCall, "+12127365000")).reason == "客户投诉"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(128, 256)) * 600, "neither UTF-8 nor GBK"),
        (b"name,reason\nAnn,asked\n", "no phone column"),
    ],
    ids=["garbage", "no-phone-column"],
)
async def test_a_file_that_is_no_list_is_refused_and_nothing_is_written(
    sessions, clock, tmp_path, content, message
):
    path = tmp_path / "dnc.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message):
        await register(sessions, clock, "import_file", path, "dnc.csv", LEAD)
    assert await count(sessions, DoNotCall) == 0
    assert await count(sessions, ImportRun) == 0
