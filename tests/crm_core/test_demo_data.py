"""Demo data at any size (crm_core.demo_data), at small sizes on both databases: the same rows
for the same seed, order totals that are the sums of their lines, histories the workflows
allow, churned customers silent for six months, and numbers the pop finds."""

from __future__ import annotations

import unicodedata
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_core.cards import lookup_caller
from crm_core.churn import check_churn, months_before
from crm_core.customers import name_key
from crm_core.db import create_engine, session_factory
from crm_core.demo import demo_customer, load_demo_customers, load_demo_users
from crm_core.demo_data import (
    COLUMNS,
    SEEDED,
    SHARE_EVERY,
    DemoData,
    DemoPlan,
    LoadReport,
    load_demo_data,
)
from crm_core.errors import Conflict
from crm_core.orders import STATUSES, step
from crm_core.passwords import Passwords
from crm_core.phones import normalise

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
CUSTOMERS = 400
CHEAP = Passwords(time_cost=1, memory_kib=256, parallelism=1)


async def load(url: str, *, customers: int = CUSTOMERS, seed: int = 11) -> LoadReport:
    """The demo users (as `load-demo-data` makes them), then the data, committed."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            await load_demo_users(session, passwords=CHEAP, clock=lambda: NOW)
            await session.commit()
        async with engine.begin() as conn:
            return await load_demo_data(
                conn, DemoPlan(customers=customers, now=NOW, seed=seed, chunk=150)
            )
    finally:
        await engine.dispose()


async def rows(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(sql), params)]
    finally:
        await engine.dispose()


async def dump(conn: AsyncConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: [
            tuple(row)
            for row in await conn.execute(
                text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {columns[0]}, 2")
            )
        ]
        for table, columns in COLUMNS.items()
    }


def aware(value: Any) -> datetime:
    """A time read through text() (SQLite: the stored text, naive UTC) as an aware one."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_numbers_are_e164_and_distinct_but_for_the_shared_lines():
    owners: dict[str, set[int]] = {}
    data = DemoData(DemoPlan(customers=600, now=NOW, seed=3, chunk=250))
    for chunk in data.chunks():
        for _id, customer_id, _contact, raw, e164, _label in chunk["phone_numbers"]:
            assert normalise(raw).e164 == e164 == normalise(e164).e164
            owners.setdefault(e164, set()).add(customer_id)
    shared = {e164: who for e164, who in owners.items() if len(who) > 1}
    assert shared  # a household's line: the pop's pick list
    for who in shared.values():
        first, second = sorted(who)
        assert second == first + 1 and second % SHARE_EVERY == 0


def test_the_rows_do_not_depend_on_the_chunk_size():
    def all_rows(chunk: int) -> dict[str, list[tuple[Any, ...]]]:
        out: dict[str, list[tuple[Any, ...]]] = {table: [] for table in COLUMNS}
        for part in DemoData(DemoPlan(customers=300, now=NOW, seed=9, chunk=chunk)).chunks():
            for table, found in part.items():
                out[table] += found
        return out

    assert all_rows(70) == all_rows(300)


async def test_the_same_seed_gives_the_same_rows(database_url):
    await load(database_url, seed=5)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            first = await dump(conn)
            for table in reversed(COLUMNS):  # children first
                await conn.execute(text(f"DELETE FROM {table}"))
        await load(database_url, seed=5)
        async with engine.begin() as conn:
            second = await dump(conn)
            for table in reversed(COLUMNS):
                await conn.execute(text(f"DELETE FROM {table}"))
        await load(database_url, seed=6)
        async with engine.connect() as conn:
            other = await dump(conn)
    finally:
        await engine.dispose()
    assert first == second
    assert all(first[table] for table in COLUMNS), [t for t in COLUMNS if not first[t]]
    assert first["customers"] != other["customers"]


async def test_orders_add_up_and_every_status_and_code_is_known(database_url):
    report = await load(database_url)
    assert report.rows["customers"] == CUSTOMERS
    assert 4 <= report.rows["orders"] / CUSTOMERS <= 6  # about five each
    wrong_totals = await rows(
        database_url,
        "SELECT o.id FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id "
        "GROUP BY o.id, o.amount_cents "
        "HAVING count(l.id) = 0 OR o.amount_cents != sum(l.line_total_cents)",
    )
    assert wrong_totals == []
    assert (
        await rows(
            database_url,
            "SELECT id FROM order_lines WHERE line_total_cents != quantity * unit_price_cents",
        )
        == []
    )
    statuses = Counter(s for (s,) in await rows(database_url, "SELECT status FROM orders"))
    assert set(statuses) <= set(STATUSES)
    assert statuses["completed"] > sum(statuses.values()) / 2  # mostly completed
    dictionary = {
        (category, code)
        for category, code in await rows(
            database_url, "SELECT category, code FROM dictionary_entries"
        )
    }
    for sql, category in (
        ("SELECT DISTINCT level FROM customers", "customer_level"),
        ("SELECT DISTINCT region FROM customers", "region"),
        ("SELECT DISTINCT category FROM products", "product_category"),
        ("SELECT DISTINCT service_type FROM service_requests", "service_request_type"),
        ("SELECT DISTINCT department FROM service_requests WHERE department IS NOT NULL",
         "department"),
        ("SELECT DISTINCT disposition FROM interactions WHERE kind = 'call'", "disposition"),
        ("SELECT DISTINCT measure FROM churn_measures", "churn_measure"),
    ):  # fmt: skip
        found = {code for (code,) in await rows(database_url, sql)}
        assert found and {(category, code) for code in found} <= dictionary, category
    for name, key in await rows(database_url, "SELECT name, name_key FROM customers"):
        assert key == name_key(name)
    names = "".join(name for (name,) in await rows(database_url, "SELECT name FROM customers"))
    scripts = {unicodedata.name(c).split()[0] for c in names if c.isalpha()}
    assert {"LATIN", "CJK", "CYRILLIC", "GREEK", "ARABIC", "HANGUL"} <= scripts
    managed = await rows(
        database_url,
        "SELECT count(*) FROM customers c JOIN users u ON u.id = c.account_manager_id "
        "WHERE u.username = 'account'",
    )
    assert managed[0][0] > 0
    unmanaged = (
        "SELECT count(*) FROM customers "
        "WHERE level IN ('vip', 'gold') AND account_manager_id IS NULL"
    )
    assert await rows(database_url, unmanaged) == [(0,)]


async def test_histories_follow_the_workflows(database_url):
    await load(database_url)
    events: dict[int, list[tuple[str, str, datetime]]] = {}
    for order_id, source, target, at in await rows(
        database_url, "SELECT order_id, from_status, to_status, at FROM order_events ORDER BY id"
    ):
        events.setdefault(order_id, []).append((source, target, aware(at)))
    for order_id, status, placed, updated in await rows(
        database_url, "SELECT id, status, placed_at, updated_at FROM orders"
    ):
        history = events[order_id]
        assert history[0][:2] == ("", "draft") and history[0][2] == aware(placed)
        for source, target, _ in history[1:]:
            step(source, target)  # a move the order workflow allows
        assert history[-1][1] == status and history[-1][2] == aware(updated) <= NOW
        assert [at for *_, at in history] == sorted(at for *_, at in history)
    hours = {code: h for code, h in SEEDED.request_types}
    for kind, status, opened, due, closed, score in await rows(
        database_url,
        "SELECT service_type, status, opened_at, due_at, closed_at, satisfaction "
        "FROM service_requests",
    ):
        assert status in ("open", "assigned", "handled", "closed")
        assert aware(due) == aware(opened) + timedelta(hours=hours[kind])
        assert (status == "closed") == (closed is not None) == (score is not None)
        assert score is None or 1 <= score <= 5
    stages = Counter(s for (s,) in await rows(database_url, "SELECT stage FROM opportunities"))
    assert set(stages) <= {"new", "assigned", "developing", "won", "lost", "terminated"}
    assert await rows(database_url, "SELECT count(*) FROM plan_steps") != [(0,)]
    heavy = await rows(
        database_url,
        "SELECT c.id, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id), "
        "(SELECT count(*) FROM interactions i WHERE i.customer_id = c.id) FROM customers c "
        "WHERE c.id = :id",
        id=CUSTOMERS // 2 + 1,
    )
    assert heavy[0][1:] == (50, 200)


async def test_churned_customers_have_no_order_in_six_months_and_the_check_agrees(database_url):
    await load(database_url, customers=600)
    since = months_before(NOW, 6)
    churned = await rows(
        database_url,
        "SELECT c.id, w.status, w.last_order_at, (SELECT max(placed_at) FROM orders o "
        "WHERE o.customer_id = c.id) FROM customers c "
        "JOIN churn_warnings w ON w.customer_id = c.id WHERE c.churn_flag",
    )
    assert churned
    assert {status for _, status, _, _ in churned} <= {"open", "postponed", "churned"}
    for _id, _status, last_order_at, last_placed in churned:
        assert aware(last_placed) == aware(last_order_at) < since
    flagged = await rows(database_url, "SELECT count(*) FROM customers WHERE churn_flag")
    assert flagged[0][0] == len(churned)
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            check = await check_churn(session, now=NOW, months=6)
            await session.rollback()
    finally:
        await engine.dispose()
    assert check.flagged == () and check.cleared == ()  # everyone else ordered recently


async def test_the_pop_finds_a_generated_customer_by_its_number_in_another_form(database_url):
    await load(database_url)
    picked = await rows(
        database_url,
        "SELECT customer_id, e164 FROM phone_numbers WHERE e164 LIKE '+1%' ORDER BY id LIMIT 3",
    )
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            for customer_id, e164 in picked:
                national = f"{e164[2:5]}-{e164[5:8]}-{e164[8:]}"  # as a US carrier sends it
                found = await lookup_caller(
                    session, caller_number=national, restricted=False, variables={}, region="US"
                )
                assert found.kind in ("customer", "choices")
                assert customer_id in {card["id"] for card in found.cards}
    finally:
        await engine.dispose()


async def test_the_demo_keeps_the_numbers_the_simulator_calls_from(database_url):
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            assert await load_demo_customers(session, clock=lambda: NOW, count=60) == 60
            await session.commit()
        async with session_factory(engine)() as session:
            assert await load_demo_customers(session, clock=lambda: NOW, count=60) == 0
            for n in (0, 7, 35, 59):
                name, number, _, _ = demo_customer(n)
                found = await lookup_caller(
                    session,
                    caller_number=number,
                    restricted=False,
                    variables={},
                    region="US",
                )
                assert found.kind == "customer"
                if n % 7 == 0:  # the simulator's known callers keep their names too
                    assert found.cards[0]["name"] == name
    finally:
        await engine.dispose()


async def test_a_crm_with_customers_or_the_demo_catalogue_is_refused(database_url):
    await load(database_url, customers=20)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            with pytest.raises(Conflict, match="20 customers already"):
                await load_demo_data(conn, DemoPlan(customers=5, now=NOW))
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM customers"))  # their history goes with them
        async with engine.begin() as conn:
            with pytest.raises(Conflict, match="catalogue"):
                await load_demo_data(conn, DemoPlan(customers=5, now=NOW))
    finally:
        await engine.dispose()
