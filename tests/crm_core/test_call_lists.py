"""Call lists: the merge of a second reason to call a number (pure), each generator (orders
awaiting confirmation, segments, abandoned calls, callbacks, uploads), standing rules run twice,
and the queries the dialer and the pages read, on both databases."""

from __future__ import annotations

import codecs
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.audit import SYSTEM, Actor
from crm_core.call_lists import (
    MAX_UPLOAD_BYTES,
    CallLists,
    Entry,
    NewEntry,
    Rejected,
    Segment,
    dialable,
    entries_page,
    entry_json,
    list_summary,
    merge,
    new_entry,
    run_rules,
)
from crm_core.customers import CustomerService
from crm_core.db import create_engine, session_factory
from crm_core.dialling import due_entries
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import (
    AuditEntry,
    Callback,
    CallListEntry,
    CallRecord,
    Campaign,
    Customer,
    DoNotCall,
    ImportRun,
    ListRule,
    Order,
    PhoneNumber,
    User,
)
from crm_core.schemas import CustomerCreate
from crm_core.uow import UnitOfWork
from tests.support.shop import Shop, open_shop

LEAD = Actor(user_id=None, name="lead")

# --- the merge, pure ---------------------------------------------------------------------------


def _entry(**given: object) -> Entry:
    made = new_entry(
        NewEntry(number_e164="+12127365000", reason_kind="segment", reason_text="Gold customers"),
        listed=False,
    )
    made.id, made.state_read = 1, str(given.get("state", "pending"))
    for name, value in given.items():
        setattr(made, name, value)
    return made


def test_a_second_reason_is_appended_and_the_earlier_entry_kept():
    entry = _entry(attempts=2, state="pending")
    event = merge(
        entry,
        NewEntry(
            number_e164=entry.number_e164,
            reason_kind="upload",
            reason_ref="import:7",
            reason_text="Trade fair leads",
            customer_id=42,
            name="Ann Lee",
            fields={"company": "Initech", "name": "someone else"},
        ),
        listed=False,
    )
    assert event is None
    assert entry.reason_text == "Gold customers; Trade fair leads"
    assert (entry.reason_kind, entry.customer_id, entry.name) == ("segment", 42, "Ann Lee")
    assert (entry.state, entry.attempts) == ("pending", 2)
    assert entry.fields["company"] == "Initech" and entry.changed


def test_the_same_reason_twice_changes_nothing():
    entry = _entry()
    again = NewEntry(
        number_e164=entry.number_e164, reason_kind="segment", reason_text="Gold customers"
    )
    assert merge(entry, again, listed=False) is None
    assert entry.reason_text == "Gold customers" and not entry.changed


def test_a_known_customer_is_kept():
    entry = _entry(customer_id=5)
    merge(entry, NewEntry(entry.number_e164, "manual", customer_id=9), listed=False)
    assert entry.customer_id == 5


def test_a_done_entry_stays_done_for_a_marketing_reason():
    entry = _entry(state="done", attempts=3)
    event = merge(entry, NewEntry(entry.number_e164, "upload", "import:2", "Spring"), listed=False)
    assert event is None and (entry.state, entry.attempts) == ("done", 3)


def test_a_new_order_to_confirm_reopens_a_done_entry_and_takes_over_the_reason():
    entry = _entry(state="done", attempts=2)
    order = NewEntry(entry.number_e164, "order_confirmation", "77", "Confirm order SO-77")
    assert merge(entry, order, listed=False) == "reopened"
    assert (entry.state, entry.attempts) == ("pending", 0)
    assert (entry.reason_kind, entry.reason_ref) == ("order_confirmation", "77")
    # Merged again (the rule runs again while the order still waits): nothing new.
    entry.state = "done"
    assert merge(entry, order, listed=False) is None and entry.state == "done"


def test_a_number_on_the_register_is_never_reopened():
    entry = _entry(state="done")
    order = NewEntry(entry.number_e164, "order_confirmation", "77", "Confirm order SO-77")
    assert merge(entry, order, listed=True) is None and entry.state == "done"


def test_a_callback_retimes_a_pending_entry_for_its_agent():
    entry = _entry()
    due = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    callback = NewEntry(
        entry.number_e164, "callback", "3", "Callback", next_attempt_at=due, owner_user_id=8
    )
    assert merge(entry, callback, listed=False) == "retimed"
    assert (entry.next_attempt_at, entry.owner_user_id, entry.reason_kind) == (due, 8, "callback")


def test_a_busy_entry_keeps_its_state_whatever_the_reason():
    entry = _entry(state="dialling")
    order = NewEntry(entry.number_e164, "order_confirmation", "77", "Confirm order SO-77")
    assert merge(entry, order, listed=False) is None and entry.state == "dialling"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+1 212 736 5000", "+12127365000"),
        ("(212) 736-5001", "+12127365001"),
        ("00 44 20 7946 0958", "+442079460958"),
        ("+1 555 000 1234", "+15550001234"),  # fictional: the demo's and the simulator's
    ],
)
def test_numbers_in_any_format_are_listed_as_e164(raw, e164):
    assert dialable(raw, "US") == e164


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("banana", "not a phone number"),
        ("12", "not a phone number"),
        ("anonymous", "not a phone number"),
        ("+44 20 7946", "no such number"),  # possible, but a digit short
    ],
)
def test_what_is_no_number_is_refused_with_its_reason(raw, why):
    with pytest.raises(Rejected, match=why):
        dialable(raw, "US")


# --- on both databases ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # the conftest clock's start


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def make_campaign(sessions, name: str, *, status: str = "running", region: str = "") -> int:
    async with sessions() as db:
        campaign = Campaign(
            name=name,
            mode="progressive",
            status=status,
            region=region,
            created_at=NOW,
            updated_at=NOW,
        )
        db.add(campaign)
        await db.commit()
        return campaign.id


async def make_customer(sessions, clock, name: str, *numbers: str, **given: object) -> int:
    async with UnitOfWork(sessions) as uow:
        made = await CustomerService(uow.session, clock=clock, region="US").create(
            CustomerCreate(name=name, numbers=[{"number": n} for n in numbers], **given), SYSTEM
        )
        await uow.commit()
        return made.id


async def entries(sessions, campaign_id: int) -> dict[str, CallListEntry]:
    async with sessions() as db:
        rows = await db.scalars(
            select(CallListEntry).where(CallListEntry.campaign_id == campaign_id)
        )
        return {e.number_e164: e for e in rows}


async def count(sessions, model) -> int:
    async with sessions() as db:
        return await db.scalar(select(func.count()).select_from(model))


async def lists(sessions, clock, method: str, *args: object, **kwargs: object):
    async with UnitOfWork(sessions) as uow:
        service = CallLists(uow.session, clock=clock, region="US")
        result = await getattr(service, method)(*args, **kwargs)
        await uow.commit()
        return result


async def set_state(sessions, entry_id: int, state: str, **values: object) -> None:
    async with sessions() as db:
        entry = await db.get(CallListEntry, entry_id)
        entry.state = state
        for name, value in values.items():
            setattr(entry, name, value)
        await db.commit()


async def test_a_number_is_once_per_campaign_and_apart_between_campaigns(sessions, clock):
    spring = await make_campaign(sessions, "Spring")
    autumn = await make_campaign(sessions, "Autumn")
    first = await lists(sessions, clock, "add_number", spring, "(212) 736-5000", LEAD, reason="A")
    second = await lists(
        sessions, clock, "add_number", spring, "+1 212-736-5000", LEAD, name="Ann", reason="B"
    )
    other = await lists(sessions, clock, "add_number", autumn, "212 736 5000", LEAD, reason="C")
    assert (first.added, second.added, second.merged, other.added) == (1, 0, 1, 1)
    (entry,) = (await entries(sessions, spring)).values()
    assert (entry.number_e164, entry.number_raw, entry.name) == (
        "+12127365000",
        "(212) 736-5000",
        "Ann",
    )
    assert entry.reason_text == "A; B" and entry.state == "pending"
    assert (await entries(sessions, autumn))["+12127365000"].reason_text == "C"


async def test_a_bad_number_or_a_closed_campaign_is_refused(sessions, clock):
    spring = await make_campaign(sessions, "Spring")
    stopped = await make_campaign(sessions, "Old", status="stopped")
    with pytest.raises(InvalidInput, match="not a phone number") as caught:
        await lists(sessions, clock, "add_number", spring, "call me", LEAD)
    assert caught.value.fields == {"number": "phone: 'call me' is not a phone number"}
    with pytest.raises(Conflict, match="stopped"):
        await lists(sessions, clock, "add_number", stopped, "212 736 5000", LEAD)
    with pytest.raises(NotFound):
        await lists(sessions, clock, "add_number", 999, "212 736 5000", LEAD)
    assert await count(sessions, CallListEntry) == 0


async def test_a_bulk_add_merges_duplicates_within_the_batch_and_with_the_list(sessions, clock):
    spring = await make_campaign(sessions, "Spring")
    await lists(sessions, clock, "add_number", spring, "212 736 5000", LEAD, reason="by hand")
    made = [
        NewEntry(f"+1212736{5000 + n % 1500:04d}", "manual", reason_text=f"bulk {n // 1500}")
        for n in range(3000)
    ]
    result = await lists(sessions, clock, "add", spring, made, LEAD)
    assert (result.added, result.merged) == (1499, 1501)
    listed = await entries(sessions, spring)
    assert len(listed) == 1500
    assert listed["+12127365000"].reason_text == "by hand; bulk 0; bulk 1"
    assert listed["+12127365001"].reason_text == "bulk 0; bulk 1"


# --- uploads -------------------------------------------------------------------------------------


async def upload(sessions, clock, campaign_id: int, path: Path, filename: str = "list.csv"):
    return await lists(sessions, clock, "upload", campaign_id, path, filename, LEAD)


def report_rows(report: str) -> dict[int, list[str]]:
    rows = list(csv.reader(io.StringIO(report)))
    assert rows[0][:2] == ["row", "reason"]
    return {int(r[0]): r for r in rows[1:]}


async def test_an_upload_keeps_good_rows_and_reports_each_refused_one(sessions, clock, tmp_path):
    spring = await make_campaign(sessions, "Spring")
    known = await make_customer(
        sessions, clock, "Known Ltd", "+1 212 736 5010", account_number="AC-1"
    )
    text = (
        "Phone,Name,Account_Number,City,Reason\n"
        "+1 212 736 5000,Ann Lee,,Boston,\n"  # 2
        "banana,Bad Number,,,\n"  # 3
        ",No Number,,,\n"  # 4
        "+44 20 7946,Too Short,,,\n"  # 5
        "12,Twelve,,,\n"  # 6
        "212-736-5001,,AC-1,Paris,Renewal due\n"  # 7: a known customer by account
        "(212) 736-5000,Ann Again,,Lyon,\n"  # 8: row 2's number again
        "2127365002,Nobody,AC-404,,\n"  # 9: no such account
        "+1 212 736 5010,,,,\n"  # 10: the customer's own number
        "00 44 20 7946 0958,Brit,,London,\n"  # 11
    )
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    result = await upload(sessions, clock, spring, path)
    assert (result.result.added, result.result.merged, result.rejected) == (4, 1, 5)
    listed = await entries(sessions, spring)
    assert sorted(listed) == ["+12127365000", "+12127365001", "+12127365010", "+442079460958"]
    ann = listed["+12127365000"]
    assert (ann.name, ann.reason_kind, ann.reason_ref) == (
        "Ann Lee",
        "upload",
        f"import:{result.run_id}",
    )
    assert ann.reason_text == "List list.csv"
    assert json.loads(ann.fields)["city"] == "Boston"  # the first row's; Lyon merged away
    renewal = listed["+12127365001"]
    assert (renewal.customer_id, renewal.name, renewal.reason_text) == (
        known,
        "Known Ltd",
        "Renewal due",
    )
    assert listed["+12127365010"].customer_id == known
    async with sessions() as db:
        run = await db.get(ImportRun, result.run_id)
        assert (run.kind, run.imported, run.rejected) == ("call_list", 5, 5)
        assert run.finished_at is not None
        (entry,) = await db.scalars(
            select(AuditEntry).where(AuditEntry.action == "call_list.import")
        )
    reasons = {row: r[1] for row, r in report_rows(run.report).items()}
    assert set(reasons) == {3, 4, 5, 6, 9}
    assert "not a phone number" in reasons[3] and "empty" in reasons[4]
    assert "no such number" in reasons[5] and "not a phone number" in reasons[6]
    assert "no customer 'AC-404'" in reasons[9]
    assert report_rows(run.report)[3][2] == "banana"  # the row's cells, for correcting it
    assert entry.after["added"] == 4 and entry.after["rejected"] == 5
    assert result.as_dict()["report"] == f"/api/v1/imports/{result.run_id}/report"


async def test_gbk_and_utf8_with_bom_and_chinese_headers_are_read(sessions, clock, tmp_path):
    spring = await make_campaign(sessions, "Spring", region="CN")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("电话,姓名,城市\n138 0013 8000,王小明,北京\n".encode("gbk"))
    bom = tmp_path / "bom.csv"
    bom.write_bytes(codecs.BOM_UTF8 + "号码,名字\n+86 139 0013 9000,李雷\n".encode())
    for path in (gbk, bom):
        result = await upload(sessions, clock, spring, path, path.name)
        assert (result.result.added, result.rejected) == (1, 0)
    listed = await entries(sessions, spring)
    assert listed["+8613800138000"].name == "王小明"  # national, read in the campaign's region
    assert json.loads(listed["+8613800138000"].fields)["城市"] == "北京"
    assert listed["+8613900139000"].name == "李雷"


async def test_an_xlsx_list_is_read(sessions, clock, tmp_path):
    spring = await make_campaign(sessions, "Spring")
    book = Workbook()
    book.active.append(["Mobile", "Name"])
    book.active.append([2127365000, "Ann"])  # a number typed into a cell
    path = tmp_path / "list.xlsx"
    book.save(path)
    result = await upload(sessions, clock, spring, path, "list.xlsx")
    assert result.result.added == 1
    assert (await entries(sessions, spring))["+12127365000"].name == "Ann"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(128, 256)) * 600, "neither UTF-8 nor GBK"),
        (b"\x00\x01garbage\xff" * 1000, "not a CSV or xlsx"),
        (b"Name,City\nAnn,Paris\n", "no phone column"),
        (b"", "empty"),
    ],
    ids=["garbage", "binary", "no-phone-column", "empty"],
)
async def test_a_file_that_is_no_list_is_refused_and_nothing_is_written(
    sessions, clock, tmp_path, content, message
):
    spring = await make_campaign(sessions, "Spring")
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message):
        await upload(sessions, clock, spring, path)
    assert await count(sessions, CallListEntry) == 0
    assert await count(sessions, ImportRun) == 0


async def test_garbage_after_good_rows_takes_back_what_was_written(sessions, clock, tmp_path):
    spring = await make_campaign(sessions, "Spring")
    good = "".join(f"+1 212 736 {n:04d},Person {n}\n" for n in range(3000)).encode()
    path = tmp_path / "list.csv"
    path.write_bytes(b"phone,name\n" + good + bytes(range(128, 256)) * 4)
    assert len(good) > 64 * 1024  # past what the encoding is guessed from
    with pytest.raises(InvalidInput, match="text not utf-8"):
        await upload(sessions, clock, spring, path)
    assert await count(sessions, CallListEntry) == 0
    assert await count(sessions, ImportRun) == 0


async def test_a_file_over_10_mb_is_refused_before_it_is_read(sessions, clock, tmp_path):
    spring = await make_campaign(sessions, "Spring")
    path = tmp_path / "big.csv"
    with path.open("wb") as handle:
        handle.write(b"phone\n")
        handle.truncate(MAX_UPLOAD_BYTES + 1)
    with pytest.raises(InvalidInput, match="over 10 MB"):
        await upload(sessions, clock, spring, path)
    assert await count(sessions, ImportRun) == 0


async def test_a_list_of_100000_rows_imports(sessions, clock, tmp_path):
    spring = await make_campaign(sessions, "Spring")
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["phone", "name", "company", "order"])
        for n in range(100_000):
            number = f"+1 (212) {200 + n // 10_000}-{n % 10_000:04d}"
            out.writerow([number if n % 1000 else "not a number", f"Person {n}", "Acme", n])
    started = time.perf_counter()
    result = await upload(sessions, clock, spring, path, "big.csv")
    print(f"100,000 rows in {time.perf_counter() - started:.1f} s")
    assert (result.result.added, result.rejected) == (99_900, 100)
    assert await count(sessions, CallListEntry) == 99_900


# --- generators ---------------------------------------------------------------------------------


@pytest.fixture
async def shop(sessions, clock) -> Shop:
    made = await open_shop(sessions, clock, chairs=50, desks=50)
    async with sessions() as db:
        db.add(PhoneNumber(customer_id=made.customer, raw="212 736 5000", e164="+12127365000"))
        await db.commit()
    return made


async def test_orders_awaiting_confirmation_are_listed_to_the_customers_main_number(
    sessions, clock, shop
):
    spring = await make_campaign(sessions, "Confirmations")
    waiting = await shop.order((shop.chair, 2))
    await shop.order((shop.desk, 1), submit=False)  # a draft: not waiting
    no_number = await make_customer(sessions, clock, "No Number Inc")
    async with sessions() as db:
        db.add(
            Order(
                customer_id=no_number,
                reference="SO-X",
                status="awaiting_confirmation",
                amount_cents=100,
                placed_at=NOW,
            )
        )
        await db.commit()
    result = await lists(sessions, clock, "add_order_confirmations", spring, LEAD)
    assert (result.added, result.skipped) == (1, 1)
    entry = (await entries(sessions, spring))["+12127365000"]
    assert (entry.reason_kind, entry.reason_ref, entry.customer_id) == (
        "order_confirmation",
        str(waiting),
        shop.customer,
    )
    assert entry.reason_text.startswith("Confirm order ") and "39.98 USD" in entry.reason_text
    fields = json.loads(entry.fields)
    assert (fields["name"], fields["order_total"], fields["currency"]) == (
        "Acme Ltd",
        "39.98",
        "USD",
    )
    assert fields["order_id"] == waiting and fields["order_number"]


async def test_a_new_order_reopens_the_customers_done_entry(sessions, clock, shop):
    spring = await make_campaign(sessions, "Confirmations")
    await shop.order((shop.chair, 1))
    await lists(sessions, clock, "add_order_confirmations", spring, LEAD)
    entry = (await entries(sessions, spring))["+12127365000"]
    await set_state(sessions, entry.id, "done", attempts=2, last_outcome="confirmed")
    again = await lists(sessions, clock, "add_order_confirmations", spring, LEAD)
    assert (again.added, again.merged, again.reopened) == (0, 1, 0)  # the same order
    second = await shop.order((shop.desk, 1))
    result = await lists(sessions, clock, "add_order_confirmations", spring, LEAD)
    assert result.reopened == 1
    entry = (await entries(sessions, spring))["+12127365000"]
    assert (entry.state, entry.attempts, entry.reason_ref, entry.last_outcome) == (
        "pending",
        0,
        str(second),
        "confirmed",
    )
    async with sessions() as db:
        (audit,) = await db.scalars(
            select(AuditEntry).where(AuditEntry.action == "call_list_entry.reopened")
        )
    assert (audit.entity_id, audit.before, audit.after["state"]) == (
        str(entry.id),
        {"state": "done"},
        "pending",
    )


async def test_a_segment_is_a_filter_over_customers(sessions, clock, shop):
    spring = await make_campaign(sessions, "Gold north")
    gold = await make_customer(
        sessions, clock, "Gold North", "212 736 5101", level="gold", region="north"
    )
    await make_customer(sessions, clock, "Gold South", "212 736 5102", level="gold", region="south")
    await make_customer(sessions, clock, "Gold Nobody", level="gold", region="north")
    result = await lists(
        sessions, clock, "add_segment", spring, Segment(level="gold", region="north"), LEAD
    )
    assert (result.added, result.skipped) == (1, 1)
    entry = (await entries(sessions, spring))["+12127365101"]
    assert (entry.customer_id, entry.reason_kind, entry.name) == (gold, "segment", "Gold North")
    assert entry.reason_text == "Segment: region=north, level=gold"


async def test_a_segment_by_products_bought_last_order_and_churn(sessions, clock, shop):
    spring = await make_campaign(sessions, "Chairs")
    order = await shop.order((shop.chair, 1))
    await shop.move(order, "confirmed")
    other = await make_customer(sessions, clock, "Only Desks", "212 736 5201")
    async with sessions() as db:
        db.add(
            Order(
                customer_id=other,
                reference="SO-OLD",
                status="completed",
                amount_cents=500,
                placed_at=datetime(2025, 1, 1, tzinfo=UTC),
            )
        )
        flagged = await db.get(Customer, other)
        flagged.churn_flag = True
        await db.commit()
    by_product = await lists(
        sessions, clock, "add_segment", spring, Segment(products=["p-100"]), LEAD, label="Chairs"
    )
    assert by_product.added == 1 and "+12127365000" in await entries(sessions, spring)
    autumn = await make_campaign(sessions, "Lapsed")
    lapsed = Segment(last_order_before=datetime(2026, 1, 1, tzinfo=UTC), churn=True)
    assert (await lists(sessions, clock, "add_segment", autumn, lapsed, LEAD)).added == 1
    assert list(await entries(sessions, autumn)) == ["+12127365201"]
    recent = Segment(last_order_after=datetime(2026, 1, 1, tzinfo=UTC))
    winter = await make_campaign(sessions, "Recent")
    assert (await lists(sessions, clock, "add_segment", winter, recent, LEAD)).added == 1
    assert list(await entries(sessions, winter)) == ["+12127365000"]
    with pytest.raises(InvalidInput, match="no product 'nope'"):
        await lists(sessions, clock, "add_segment", winter, Segment(products=["nope"]), LEAD)


def call_record(linked_id: str, number: str, ended: datetime, **given: object) -> CallRecord:
    values: dict[str, object] = dict(
        linked_id=linked_id,
        direction="inbound",
        outcome="abandoned",
        caller_raw=number,
        caller_e164=number,
        queue="sales",
        ended_at=ended,
        wait_seconds=42.4,
        callback_needed=True,
        recorded_at=ended,
    )
    values.update(given)
    return CallRecord(**values)


async def test_abandoned_calls_are_listed_once_with_their_time(sessions, clock, shop):
    spring = await make_campaign(sessions, "Callbacks")
    at = NOW - timedelta(hours=1)
    async with sessions() as db:
        db.add_all(
            [
                call_record("c1", "+12127365000", at, customer_id=shop.customer),
                call_record("c2", "", at, caller_raw="anonymous"),  # withheld
                call_record("c3", "+12127365301", at),  # got through later
                call_record(
                    "c4",
                    "+12127365301",
                    at + timedelta(minutes=5),
                    outcome="answered",
                    callback_needed=False,
                ),
                call_record("c5", "+12127365302", at, queue="support"),
            ]
        )
        await db.commit()
    result = await lists(sessions, clock, "add_abandoned_calls", spring, LEAD, queues=["sales"])
    assert (result.added, result.skipped, result.cleared) == (1, 2, 3)
    entry = (await entries(sessions, spring))["+12127365000"]
    assert (entry.reason_kind, entry.reason_ref, entry.customer_id, entry.name) == (
        "abandoned_call",
        "c1",
        shop.customer,
        "Acme Ltd",
    )
    assert entry.reason_text == "Abandoned call 2026-11-25 08:00 UTC in sales after 42 s"
    assert json.loads(entry.fields)["abandoned_at"] == at.isoformat()
    async with sessions() as db:
        flagged = set(
            await db.scalars(select(CallRecord.linked_id).where(CallRecord.callback_needed))
        )
    assert flagged == {"c5"}  # another queue's: left for its own list
    again = await lists(sessions, clock, "add_abandoned_calls", spring, LEAD, queues=["sales"])
    assert (again.added, again.merged, again.cleared) == (0, 0, 0)


async def test_callbacks_coming_due_are_listed_for_their_agent_at_their_time(sessions, clock, shop):
    spring = await make_campaign(sessions, "Personal")
    soon, later = NOW + timedelta(hours=2), NOW + timedelta(days=3)
    async with sessions() as db:
        for number, due in (("", soon), ("+12127365401", later)):
            db.add(
                Callback(
                    customer_id=shop.customer,
                    number=number,
                    due_at=due,
                    owner_user_id=shop.ann.user_id,
                    note="wants a quote",
                    status="scheduled",
                    created_at=NOW,
                )
            )
        await db.commit()
    result = await lists(sessions, clock, "add_callbacks", spring, LEAD)
    assert result.added == 1
    entry = (await entries(sessions, spring))["+12127365000"]  # "" = the customer's main number
    assert (entry.reason_kind, entry.next_attempt_at, entry.owner_user_id) == (
        "callback",
        soon,
        shop.ann.user_id,
    )
    assert entry.reason_text == "Callback promised for 2026-11-25 11:00 UTC: wants a quote"
    wider = await lists(sessions, clock, "add_callbacks", spring, LEAD, horizon=timedelta(days=7))
    assert (wider.added, wider.merged) == (1, 1)


# --- standing rules ------------------------------------------------------------------------------


async def add_rule(sessions, clock, campaign_id: int, kind: str, filters: dict) -> int:
    rule = await lists(sessions, clock, "add_rule", campaign_id, kind, filters, LEAD)
    return rule.id


async def run(sessions, now: datetime = NOW):
    async with UnitOfWork(sessions) as uow:
        runs = await run_rules(uow.session, now)
        await uow.commit()
    return {r.rule_id: r for r in runs}


async def test_standing_rules_add_only_what_is_new(sessions, clock, shop):
    running = await make_campaign(sessions, "Standing")
    draft = await make_campaign(sessions, "Draft", status="draft")
    await shop.order((shop.chair, 1))
    await make_customer(sessions, clock, "Gold", "212 736 5501", level="gold")
    async with sessions() as db:
        db.add(call_record("c1", "+12127365502", NOW))
        await db.commit()
    orders = await add_rule(sessions, clock, running, "order_confirmation", {})
    gold = await add_rule(sessions, clock, running, "segment", {"level": "gold"})
    abandoned = await add_rule(sessions, clock, running, "abandoned_call", {})
    await add_rule(sessions, clock, draft, "order_confirmation", {})
    first = await run(sessions)
    assert set(first) == {orders, gold, abandoned}  # not the draft campaign's
    assert [first[r].result.added for r in (orders, gold, abandoned)] == [1, 1, 1]
    second = await run(sessions, NOW + timedelta(minutes=5))
    assert all(r.result.added == 0 and r.result.reopened == 0 for r in second.values())
    listed = await entries(sessions, running)
    assert len(listed) == 3 and all(e.reason_text.count(";") == 0 for e in listed.values())
    # The CRM changes: a new order awaits confirmation, a customer becomes gold.
    await make_customer(sessions, clock, "New Gold", "212 736 5503", level="gold")
    await shop.order((shop.desk, 1))
    third = await run(sessions, NOW + timedelta(minutes=10))
    assert (third[orders].result.added, third[orders].result.merged) == (0, 2)
    assert third[gold].result.added == 1
    async with sessions() as db:
        rule = await db.get(ListRule, orders)
        assert rule.last_run_at == NOW + timedelta(minutes=10)
        assert await db.get(CallListEntry, listed["+12127365000"].id) is not None
    entry = (await entries(sessions, running))["+12127365000"]
    assert entry.reason_text.count("Confirm order") == 2


async def test_a_rule_with_bad_filters_is_refused_and_one_gone_stale_is_reported(
    sessions, clock, shop
):
    running = await make_campaign(sessions, "Standing")
    with pytest.raises(InvalidInput, match="filters"):
        await add_rule(sessions, clock, running, "segment", {"level": 5, "colour": "red"})
    with pytest.raises(InvalidInput, match="no standing rule"):
        await add_rule(sessions, clock, running, "upload", {})
    async with sessions() as db:
        db.add(
            ListRule(
                campaign_id=running,
                kind="segment",
                filters='{"products": ["gone"]}',
                enabled=True,
                created_at=NOW,
            )
        )
        await db.commit()
    ok = await add_rule(sessions, clock, running, "order_confirmation", {"waiting_minutes": 0})
    runs = await run(sessions)
    stale = next(r for r in runs.values() if r.rule_id != ok)
    assert stale.result is None and "no product 'gone'" in stale.error
    assert runs[ok].result is not None


# --- what the dialer and the pages read -----------------------------------------------------------


async def _user(sessions, username: str) -> int:
    async with sessions() as db:
        made = User(
            username=username,
            display_name=username,
            password_hash="x",
            created_at=NOW,
            updated_at=NOW,
            password_changed_at=NOW,
        )
        db.add(made)
        await db.commit()
        return made.id


async def test_due_entries_the_overdue_first_then_the_unscheduled_in_list_order(sessions, clock):
    spring = await make_campaign(sessions, "Spring")
    made = [NewEntry(f"+121273650{n:02d}", "manual", reason_text="x") for n in range(6)]
    await lists(sessions, clock, "add", spring, made, LEAD)
    ids = {e.number_e164[-2:]: e.id for e in (await entries(sessions, spring)).values()}
    await set_state(sessions, ids["00"], "pending", next_attempt_at=NOW - timedelta(minutes=1))
    await set_state(sessions, ids["01"], "pending", next_attempt_at=NOW - timedelta(minutes=9))
    await set_state(sessions, ids["02"], "pending", next_attempt_at=NOW + timedelta(minutes=1))
    await set_state(sessions, ids["03"], "done")
    async with sessions() as db:
        due = await due_entries(db, spring, NOW, 10)
        # A callback promised for a time is not kept waiting behind a list of fresh numbers.
        assert [e.number[-2:] for e in due] == ["01", "00", "04", "05"]
        assert [e.number[-2:] for e in await due_entries(db, spring, NOW, 3)] == ["01", "00", "04"]
        summary = await list_summary(db, spring, now=NOW)
    assert summary.by_state["pending"] == 5 and summary.by_state["done"] == 1
    assert (summary.due_now, summary.scheduled, summary.remaining, summary.total) == (4, 1, 5, 6)


async def test_an_agents_own_callback_comes_first_for_them_and_never_for_anyone_else(
    sessions, clock
):
    spring = await make_campaign(sessions, "Spring")
    ann, bob = await _user(sessions, "ann"), await _user(sessions, "bob")
    made = [NewEntry(f"+121273650{n:02d}", "manual", reason_text="x") for n in range(4)]
    await lists(sessions, clock, "add", spring, made, LEAD)
    ids = {e.number_e164[-2:]: e.id for e in (await entries(sessions, spring)).values()}
    await set_state(
        sessions, ids["03"], "pending", owner_user_id=ann, next_attempt_at=NOW - timedelta(hours=1)
    )
    await set_state(sessions, ids["00"], "pending", reserved_by=bob, reserved_at=NOW)
    async with sessions() as db:
        for_ann = [e.number[-2:] for e in await due_entries(db, spring, NOW, 10, agent=ann)]
        for_bob = [e.number[-2:] for e in await due_entries(db, spring, NOW, 10, agent=bob)]
        for_the_dialer = [e.number[-2:] for e in await due_entries(db, spring, NOW, 10)]
    # 00 is on Bob's screen: nobody else gets it, the dialer neither.
    assert for_ann == ["03", "01", "02"]
    assert for_bob == for_the_dialer == ["01", "02"]


async def test_a_page_of_the_list_by_state_and_number(sessions, clock):
    spring = await make_campaign(sessions, "Spring")
    made = [NewEntry(f"+12127365{n:03d}", "manual", reason_text="x") for n in range(120)]
    await lists(sessions, clock, "add", spring, made, LEAD)
    first = sorted(e.id for e in (await entries(sessions, spring)).values())[0]
    await set_state(sessions, first, "done")
    async with sessions() as db:
        page = await entries_page(db, spring, state="pending", page=3, per_page=50)
        assert (page.total, len(page.rows), page.more) == (119, 19, False)
        one = await entries_page(db, spring, number="(212) 736-5007")
        assert [e.number_e164 for e in one.rows] == ["+12127365007"]
        assert entry_json(one.rows[0])["fields"] == {}
        with pytest.raises(InvalidInput):
            await entries_page(db, spring, state="lost")


async def test_a_number_on_the_register_is_listed_as_dnc(sessions, clock):
    spring = await make_campaign(sessions, "Spring")
    async with sessions() as db:
        db.add(DoNotCall(number_e164="+12127365000", reason="asked", source="manual", added_at=NOW))
        await db.commit()
    result = await lists(sessions, clock, "add_number", spring, "212 736 5000", LEAD)
    assert (result.added, result.dnc) == (1, 1)
    assert (await entries(sessions, spring))["+12127365000"].state == "dnc"
