"""The CRM core at scale: a generated CRM of N customers (crm_core.demo_data: 1,000,000
customers bring about 2,000,000 numbers, 5,000,000 orders, 9,400,000 order lines, 24,000,000
order events, 1,900,000 interactions; 9 minutes of COPY here), then the pages an agent opens,
measured through the service's own code, each beside a baseline measured in the same run: the
same query as one raw SQL statement through the driver (asyncpg, sqlite3), so the output says
what the service adds. docs/benchmarks.md has the figures measured.

    python -m bench.crm_core [--customers 1000000] [--database {postgresql,sqlite,both}]
        [--database-url postgresql+asyncpg://…|sqlite+aiosqlite:///…] [--samples 300]
        [--warmup 30] [--import-rows 100000] [--seed 1]

Without --database-url it starts a throw-away PostgreSQL (bench/servers.py, as an unprivileged
user when run as root) or makes a SQLite file in a temporary folder; with it, that database
(migrated to head here; it must hold no customers) is loaded and measured.

Pages (p50/p95/p99 over --samples each, after --warmup, service and baseline interleaved;
with the three slowest asks and the baseline's plan for the slowest, on PostgreSQL both the
custom plan and the generic one a prepared statement may settle on):

- search_name_prefix: ``CustomerService.search`` with the start of a customer's name as
  typed (3–6 letters, two characters of a Chinese, Japanese or Korean name, any case), a page
  of 51 as web/views/customers.py asks; baseline: the customers and their numbers in one
  statement with the same WHERE, ORDER BY and LIMIT.
- search_number_other_format: the same with a customer's number as people type it (national,
  spaced, 00-prefixed, dashed: never the stored E.164); baseline: the same statement with the
  number already normalised.
- search_region_level: the empty search narrowed by ``CustomerFilters(region, level)``.
- customer_page: what web/views/customers.py ``_customer_view`` gathers for a customer with
  200 interactions and 50 orders (``customer_card``, ``customer_history``, the last 50 calls,
  ``customer_timeline`` with every permission); baseline: the same data as JSON in one
  statement.
- import: a CSV of --import-rows customers (names in several scripts, 1–2 numbers as typed,
  0.5% bad rows) through ``crm_core.imports.Importer``, in a child process so that its peak
  RSS (``resource.getrusage``) is the import's alone; the same with a tenth of the rows, to
  show the memory is flat; baseline: the same rows COPYed (executemany on SQLite) by the
  driver in a child process, unchecked, and rolled back.

On PostgreSQL the two searches by name and by number are measured a third way,
``raw_indexed_alternative``: the same result from a statement an index serves whatever the
plan (the name's matches first, in a MATERIALIZED CTE; the number's owners as an init plan,
``id = ANY(ARRAY(…))``), to show what the query's shape costs.

Goals: search p95 < 50 ms, customer page p95 < 100 ms, import < 30 s with flat memory (the
peak RSS of the full import within 32 MiB of the tenth's). Prints one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import gc
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from bench.caller_lookup import caller_forms, pg_dsn
from crm_core.audit import SYSTEM
from crm_core.card_access import card_for
from crm_core.cards import OPEN_ORDER, OPEN_REQUEST, customer_card
from crm_core.clock import utc_now
from crm_core.customer_timeline import customer_timeline
from crm_core.customers import CustomerFilters, CustomerService, name_key
from crm_core.db import create_engine, session_factory
from crm_core.demo import load_demo_users
from crm_core.demo_data import (
    CULTURES,
    DemoPlan,
    NumberPool,
    People,
    check_empty,
    load_demo_data,
)
from crm_core.imports import Importer
from crm_core.interactions import customer_history, interaction_json
from crm_core.migrate import upgrade_to_head
from crm_core.models import Base, CallRecord
from crm_core.passwords import Passwords

GOAL_SEARCH_P95_MS = 50.0
GOAL_PAGE_P95_MS = 100.0
GOAL_IMPORT_SECONDS = 30.0
FLAT_MEMORY_MIB = 32  # the full import's peak RSS within this of the tenth's
PAGE_SIZE = 50  # web/views/customers.py asks for one more, to know there are more
REGION = "US"  # the service's default region
NOW = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
ROOT = Path(__file__).resolve().parent.parent


def _progress(message: str) -> None:
    if os.environ.get("BENCH_QUIET") != "1":
        print(message, file=sys.stderr, flush=True)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0}

    def at(share: float) -> float:
        return round(
            ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] * 1000, 3
        )

    return {
        "count": len(ordered),
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


# --- the service's side ----------------------------------------------------------------------


async def service_search(
    sessions: async_sessionmaker, query: str, filters: CustomerFilters | None
) -> int:
    """As web/views/customers.py ``_search``, with the rows the API renders of each."""
    async with sessions() as db:
        service = CustomerService(db, clock=utc_now, region=REGION)
        found = await service.search(query, filters=filters, limit=PAGE_SIZE + 1)
        rows = [(c.id, c.name, [n.e164 for n in c.numbers]) for c in found[:PAGE_SIZE]]
    return len(rows)


async def service_page(
    sessions: async_sessionmaker, customer_id: int, permissions: frozenset[str]
) -> dict[str, Any]:
    """What web/views/customers.py ``_customer_view`` gathers, the same calls in order."""
    async with sessions() as db:
        card = await customer_card(db, customer_id)
        assert card is not None
        history = [interaction_json(i) for i in await customer_history(db, customer_id)]
        calls = await db.scalars(
            select(CallRecord)
            .where(CallRecord.customer_id == customer_id)
            .order_by(CallRecord.ended_at.desc())
            .limit(50)
        )
        call_rows = [
            {
                "call_id": c.linked_id,
                "direction": c.direction,
                "outcome": c.outcome,
                "queue": c.queue,
                "ended_at": c.ended_at.isoformat(),
                "talk_seconds": c.talk_seconds,
                "disposition": c.disposition,
            }
            for c in calls
        ]
        more = await customer_timeline(db, customer_id, permissions)
    return {"card": card_for(card, permissions), "history": history, "calls": call_rows, **more}


# --- the baselines: one statement through the driver -----------------------------------------


def _columns(table: str, alias: str) -> str:
    """SQLite: a row as a JSON object (PostgreSQL's row_to_json does it by itself)."""
    names = [c.name for c in Base.metadata.tables[table].columns]
    return "json_object(" + ", ".join(f"'{n}', {alias}.{n}" for n in names) + ")"


def _list_sql(postgres: bool, table: str, where: str, order: str, limit: int) -> str:
    if postgres:
        return (
            f"(SELECT coalesce(json_agg(x), '[]') FROM (SELECT * FROM {table} WHERE {where} "
            f"ORDER BY {order} LIMIT {limit}) AS x)"
        )
    return (
        f"(SELECT json_group_array({_columns(table, 'x')}) FROM (SELECT * FROM {table} "
        f"WHERE {where} ORDER BY {order} LIMIT {limit}) AS x)"
    )


def raw_sql(postgres: bool) -> dict[str, str]:
    """The baselines' statements: the same WHERE, ORDER BY and LIMIT as the service's."""
    p1, p2 = ("$1", "$2") if postgres else ("?1", "?2")
    numbers = (
        "(SELECT json_agg(p.e164 ORDER BY p.id) FROM phone_numbers p WHERE p.customer_id = c.id)"
        if postgres
        else "(SELECT json_group_array(p.e164) FROM phone_numbers p WHERE p.customer_id = c.id)"
    )
    head = (
        "SELECT c.id, c.name, c.company, c.account_number, c.level, c.region, "
        f"c.account_manager_id, c.churn_flag, {numbers} FROM customers c WHERE "
    )
    tail = f" ORDER BY c.name, c.id LIMIT {PAGE_SIZE + 1}"
    prefix = (
        f"(c.name_key LIKE {p1} ESCAPE '\\' OR c.account_number = {p2})"
        if postgres
        else f"((c.name_key >= {p1} AND c.name_key < {p1} || char(1114111)) "
        f"OR c.account_number = {p2})"
    )
    by_number = (
        f"(c.id IN (SELECT customer_id FROM phone_numbers WHERE e164 = {p1}) "
        f"OR c.account_number = {p2})"
    )
    cid = p1
    open_orders = ", ".join(f"'{s}'" for s in OPEN_ORDER)
    open_requests = ", ".join(f"'{s}'" for s in OPEN_REQUEST)
    lists = [
        _list_sql(postgres, "contacts", f"customer_id = {cid}", "id", 100),
        _list_sql(postgres, "phone_numbers", f"customer_id = {cid}", "id", 100),
        _list_sql(postgres, "addresses", f"customer_id = {cid}", "id", 100),
        _list_sql(
            postgres,
            "orders",
            f"customer_id = {cid} AND status IN ({open_orders})",
            "placed_at DESC, id DESC",
            5,
        ),
        _list_sql(
            postgres,
            "service_requests",
            f"customer_id = {cid} AND status IN ({open_requests})",
            "opened_at DESC, id DESC",
            5,
        ),
        _list_sql(
            postgres, "interactions", f"customer_id = {cid}", "created_at DESC, id DESC", 100
        ),
        _list_sql(postgres, "call_records", f"customer_id = {cid}", "ended_at DESC", 50),
        _list_sql(postgres, "orders", f"customer_id = {cid}", "placed_at DESC, id DESC", 50),
        _list_sql(
            postgres, "service_requests", f"customer_id = {cid}", "opened_at DESC, id DESC", 50
        ),
        _list_sql(postgres, "opportunities", f"customer_id = {cid}", "created_at DESC", 50),
        _list_sql(
            postgres, "churn_warnings", f"customer_id = {cid}", "flagged_at DESC, id DESC", 1
        ),
        _list_sql(
            postgres,
            "churn_measures",
            f"warning_id = (SELECT id FROM churn_warnings WHERE customer_id = {cid} "
            "ORDER BY flagged_at DESC, id DESC LIMIT 1)",
            "created_at",
            100,
        ),
    ]
    customer = (
        f"(SELECT row_to_json(c) FROM customers c WHERE c.id = {cid})"
        if postgres
        else f"(SELECT {_columns('customers', 'c')} FROM customers c WHERE c.id = {cid})"
    )
    manager = (
        "(SELECT u.display_name FROM users u JOIN customers c ON c.account_manager_id = u.id "
        f"WHERE c.id = {cid})"
    )
    alternatives = {}
    if postgres:
        # The number's owners fetched first (an init plan: the OR then takes two indexes), and
        # the name's matches first (MATERIALIZED: the planner may not walk the name index in
        # order, hoping to meet 51 matches early): for comparison with the service's shape.
        alternatives = {
            "search_name_prefix_alternative": (
                f"WITH m AS MATERIALIZED (SELECT * FROM customers c WHERE {prefix}) "
                f"SELECT c.id, c.name, c.company, c.account_number, c.level, c.region, "
                f"c.account_manager_id, c.churn_flag, {numbers} FROM m AS c" + tail
            ),
            "search_number_other_format_alternative": head
            + f"(c.id = ANY(ARRAY(SELECT customer_id FROM phone_numbers WHERE e164 = {p1})) "
            f"OR c.account_number = {p2})" + tail,
        }
    return {
        **alternatives,
        "search_name_prefix": head + prefix + tail,
        "search_number_other_format": head + by_number + tail,
        "search_region_level": head + f"c.region = {p1} AND c.level = {p2}" + tail,
        "customer_page": f"SELECT {customer}, {manager}, " + ", ".join(lists),
    }


class Raw:
    """The driver alone on a connection of its own: asyncpg, or sqlite3 on the loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith("postgresql")
        self.sql = raw_sql(self.postgres)
        self.conn: Any = None

    async def open(self) -> None:
        if self.postgres:
            import asyncpg

            self.conn = await asyncpg.connect(pg_dsn(self.url))
        else:
            import sqlite3

            self.conn = sqlite3.connect(make_url(self.url).database or "")

    async def close(self) -> None:
        if self.postgres:
            await self.conn.close()
        else:
            self.conn.close()

    async def rows(self, page: str, *params: Any) -> list[Any]:
        found = (
            await self.conn.fetch(self.sql[page], *params)
            if self.postgres
            else self.conn.execute(self.sql[page], params).fetchall()
        )
        # Decode the JSON columns (a search's numbers, every part of the page but the account
        # manager's name), as the service decodes its card: like for like.
        wanted = {1} if page == "customer_page" else None
        return [
            [
                json.loads(v) if v is not None and (i != 1 if wanted else i == len(row) - 1) else v
                for i, v in enumerate(row)
            ]
            for row in found
        ]

    def prefix_params(self, prefix: str) -> tuple[Any, ...]:
        key = name_key(prefix)
        if self.postgres:
            escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return escaped + "%", prefix
        return key, prefix

    async def plan(self, page: str, *params: Any) -> dict[str, list[str]]:
        """How the statement reaches its rows (EXPLAIN), for reading a slow page. On
        PostgreSQL also the generic plan: what a prepared statement (asyncpg prepares every
        statement, the service's too) settles on after five runs, if it looks no dearer."""
        if not self.postgres:
            sql = "EXPLAIN QUERY PLAN " + self.sql[page]
            return {"plan": [str(row[-1]) for row in self.conn.execute(sql, params)]}
        plans = {}
        for mode in ("force_custom_plan", "force_generic_plan"):
            await self.conn.execute(f"SET plan_cache_mode = {mode}")
            rows = await self.conn.fetch("EXPLAIN " + self.sql[page], *params)
            plans[mode.split("_")[1]] = [
                r[0].strip() for r in rows if any(w in r[0] for w in ("Scan", "Limit", "Sort"))
            ]
        await self.conn.execute("RESET plan_cache_mode")
        return plans


# --- what to ask ------------------------------------------------------------------------------


def typed_prefix(name: str, rng: random.Random) -> str:
    """The start of a name as an agent types it: two characters of a CJK or Hangul name,
    else 3–6 letters, in lower case one time in three."""
    first = name[:1]
    wide = first and unicodedata.name(first, "").startswith(("CJK", "HANGUL", "HIRAGANA"))
    prefix = name[:2] if wide else name[: rng.randint(3, 6)].rstrip()
    return prefix.lower() if rng.random() < 0.33 else prefix


@dataclass
class Asks:
    prefixes: list[str]
    numbers: list[tuple[str, str]]  # as typed, E.164
    filters: list[tuple[str, str]]  # region, level
    pages: list[int]


async def plan_asks(
    engine: AsyncEngine, customers: int, count: int, heavy: tuple[int, ...], seed: int
) -> Asks:
    """``count`` customers picked at random: the start of each one's name, one of its numbers
    as typed; random regions and levels; the customers with a long history in turn."""
    rng = random.Random(seed + 1)
    names: dict[int, str] = {}
    numbers: dict[int, list[str]] = {}
    async with engine.connect() as conn:
        first = int(await conn.scalar(text("SELECT min(id) FROM customers")))
        picked = [first + rng.randrange(customers) for _ in range(count)]
        for start in range(0, count, 500):
            ids = ",".join(str(i) for i in picked[start : start + 500])  # our own integers
            for cid, name in await conn.execute(
                text(f"SELECT id, name FROM customers WHERE id IN ({ids})")
            ):
                names[cid] = name
            for cid, e164 in await conn.execute(
                text(f"SELECT customer_id, e164 FROM phone_numbers WHERE customer_id IN ({ids})")
            ):
                numbers.setdefault(cid, []).append(e164)
        levels = sorted(
            r[0]
            for r in await conn.execute(
                text("SELECT code FROM dictionary_entries WHERE category = 'customer_level'")
            )
        )
        regions = sorted(
            r[0]
            for r in await conn.execute(
                text("SELECT code FROM dictionary_entries WHERE category = 'region'")
            )
        )
    typed = []
    for cid in picked:
        e164 = rng.choice(sorted(numbers[cid]))
        forms = [form for name, form in caller_forms(e164, "1") if name != "plus"]
        typed.append((rng.choice(forms), e164))
    return Asks(
        prefixes=[typed_prefix(names[cid], rng) for cid in picked],
        numbers=typed,
        filters=[(rng.choice(regions), rng.choice(levels)) for _ in picked],
        pages=[heavy[n % len(heavy)] for n in range(count)],
    )


# --- measuring --------------------------------------------------------------------------------

Step = Callable[[int], Awaitable[object]]


async def measure(
    sides: dict[str, Step], count: int, warmup: int
) -> dict[str, list[tuple[float, int]]]:
    """Each ask through every side (the service, the driver, …), interleaved (the order
    turns every time), so that the machine's noise falls on all alike. Per side: (seconds,
    which ask)."""
    times: dict[str, list[tuple[float, int]]] = {name: [] for name in sides}
    steps = list(sides.items())
    gc.collect()
    for n in range(-warmup, count):
        index = n % count
        turn = n % len(steps)
        for name, step in steps[turn:] + steps[:turn]:
            started = time.perf_counter()
            await step(index)
            took = time.perf_counter() - started
            if n >= 0:
                times[name].append((took, index))
    return times


@dataclass
class Page:
    name: str
    goal_ms: float
    asks: list[Any]  # what each ask is (the slowest are shown)
    service: Step
    raw: Step
    params: Callable[[int], tuple[Any, ...]]  # the raw statement's, for ask i
    # PostgreSQL: the same search written so that an index serves it (for comparison only).
    alternative: Step | None = None


def _page_result(
    page: Page, times: dict[str, list[tuple[float, int]]], plan: dict[str, list[str]]
) -> dict[str, Any]:
    measured = {side: percentiles([t for t, _ in found]) for side, found in times.items()}
    service, raw = measured["service"], measured["raw"]
    slowest = sorted(times["service"], reverse=True)[:3]
    return {
        **measured,
        "service_over_raw_p95": round(service["p95_ms"] / raw["p95_ms"], 2)
        if service.get("p95_ms") and raw.get("p95_ms")
        else None,
        "service_minus_raw_p95_ms": round(service["p95_ms"] - raw["p95_ms"], 3),
        "goal_p95_ms": page.goal_ms,
        "goal_met": service["p95_ms"] < page.goal_ms,
        "examples": [str(ask) for ask in page.asks[:5]],
        "slowest": [{"ask": str(page.asks[i]), "ms": round(t * 1000, 1)} for t, i in slowest],
        "plan_of_the_slowest": plan,
    }


async def measure_pages(
    url: str, asks: Asks, samples: int, warmup: int, permissions: frozenset[str]
) -> dict[str, Any]:
    engine = create_engine(url)  # the service's engine, as the app makes it
    sessions = session_factory(engine)
    raw = Raw(url)
    await raw.open()

    def service(query: Callable[[int], str], filters: Callable[[int], Any]) -> Step:
        return lambda i: service_search(sessions, query(i), filters(i))

    def driver(page: str, params: Callable[[int], tuple[Any, ...]]) -> Step:
        return lambda i: raw.rows(page, *params(i))

    def by_name(i: int) -> tuple[Any, ...]:
        return raw.prefix_params(asks.prefixes[i])

    def by_number(i: int) -> tuple[Any, ...]:
        typed, e164 = asks.numbers[i]
        return e164, typed

    def by_filter(i: int) -> tuple[Any, ...]:
        return asks.filters[i]

    def by_page(i: int) -> tuple[Any, ...]:
        return (asks.pages[i],)

    alternative = raw.postgres  # SQLite's plans are index-driven already
    pages = [
        Page(
            "search_name_prefix",
            GOAL_SEARCH_P95_MS,
            asks.prefixes,
            service(lambda i: asks.prefixes[i], lambda i: None),
            driver("search_name_prefix", by_name),
            by_name,
            driver("search_name_prefix_alternative", by_name) if alternative else None,
        ),
        Page(
            "search_number_other_format",
            GOAL_SEARCH_P95_MS,
            [typed for typed, _ in asks.numbers],
            service(lambda i: asks.numbers[i][0], lambda i: None),
            driver("search_number_other_format", by_number),
            by_number,
            driver("search_number_other_format_alternative", by_number) if alternative else None,
        ),
        Page(
            "search_region_level",
            GOAL_SEARCH_P95_MS,
            asks.filters,
            service(
                lambda i: "",
                lambda i: CustomerFilters(region=asks.filters[i][0], level=asks.filters[i][1]),
            ),
            driver("search_region_level", by_filter),
            by_filter,
        ),
        Page(
            "customer_page",
            GOAL_PAGE_P95_MS,
            asks.pages,
            lambda i: service_page(sessions, asks.pages[i], permissions),
            driver("customer_page", by_page),
            by_page,
        ),
    ]
    results: dict[str, Any] = {}
    try:
        for page in pages:
            _progress(f"  measuring {page.name}: {samples} asks after {warmup} to warm up")
            sides = {"service": page.service, "raw": page.raw}
            if page.alternative is not None:
                sides["raw_indexed_alternative"] = page.alternative
            times = await measure(sides, samples, warmup)
            _, slowest = max(times["service"])
            plan = await raw.plan(page.name, *page.params(slowest))
            results[page.name] = _page_result(page, times, plan)
        results["customer_page"]["customers"] = await page_sizes(engine, sorted(set(asks.pages)))
    finally:
        await raw.close()
        await engine.dispose()
    return results


async def page_sizes(engine: AsyncEngine, customer_ids: list[int]) -> list[dict[str, int]]:
    out = []
    async with engine.connect() as conn:
        for cid in customer_ids:
            counts = {"id": cid}
            for table in ("orders", "interactions", "call_records", "service_requests"):
                counts[table] = await conn.scalar(
                    text(f"SELECT count(*) FROM {table} WHERE customer_id = :c"), {"c": cid}
                )
            out.append(counts)
    return out


# --- the import --------------------------------------------------------------------------------

IMPORT_COLUMNS = ("name", "numbers", "account_number", "company", "level", "region")


def write_import_csv(path: Path, rows: int, seed: int, tag: str) -> None:
    """Customers as a CRM export holds them: names in several scripts, numbers as typed (one or
    two, ";" between), account numbers of their own, dictionary levels and regions; one row in
    two hundred is bad (a number that is not one, or a level the dictionary lacks)."""
    rng = random.Random(seed)
    levels = (("standard", 6), ("silver", 2), ("gold", 1), ("vip", 1))
    people = People(
        rng, NumberPool(), levels=levels, regions=("north", "south", "east", "west", "central")
    )
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(IMPORT_COLUMNS)
        for n in range(rows):
            person = people.make(n + 1, rng.choice((1, 1, 2)), created_at=NOW)
            customer = person.customer
            numbers = ";".join(number[3] for number in person.numbers)
            level = customer[6]
            if n % 200 == 199:
                if rng.random() < 0.5:
                    numbers = "call me maybe"
                else:
                    level = "platinum"
            out.writerow((customer[1], numbers, f"{tag}-{n:07d}", customer[3], level, customer[7]))


def import_child(argv: list[str] | None = None) -> None:
    """In a child process: import (``service``) or write unchecked (``raw``) the CSV, then
    print the time, the counts and the peak RSS as JSON."""
    mode, url, path = (argv or sys.argv[1:])[:3]
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if mode == "service":
        result = asyncio.run(_service_import(url, Path(path)))
    else:
        result = asyncio.run(_raw_import(url, Path(path)))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                **result,
                "seconds": round(seconds, 2),
                "rss_before_mib": round(start_rss / 1024, 1),
                "peak_rss_mib": round(peak / 1024, 1),
            }
        )
    )


async def _service_import(url: str, path: Path) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        importer = Importer(session_factory(engine), clock=utc_now, region=REGION)
        result = await importer.run("customers", path, path.name, SYSTEM)
        return {"imported": result.imported, "rejected": result.rejected}
    finally:
        await engine.dispose()


async def _raw_import(url: str, path: Path) -> dict[str, Any]:
    """The same rows straight to the tables, unchecked (numbers stored as typed), rolled back:
    the floor of writing them."""
    now = datetime.now(UTC)
    customers: list[tuple[Any, ...]] = []
    numbers: list[tuple[Any, ...]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for n, row in enumerate(reader):
            cid = 10**9 + n
            customers.append(
                (cid, row["name"], name_key(row["name"]), row["company"], row["account_number"],
                 row["level"], row["region"], False, now, now)
            )  # fmt: skip
            numbers += [(cid, raw, raw[:20], "") for raw in row["numbers"].split(";") if raw]
    customer_columns = ["id", "name", "name_key", "company", "account_number", "level", "region",
                        "churn_flag", "created_at", "updated_at"]  # fmt: skip
    number_columns = ["customer_id", "raw", "e164", "label"]
    if url.startswith("postgresql"):
        import asyncpg

        conn = await asyncpg.connect(pg_dsn(url))
        try:
            transaction = conn.transaction()
            await transaction.start()
            await conn.copy_records_to_table(
                "customers", records=customers, columns=customer_columns
            )
            await conn.copy_records_to_table(
                "phone_numbers", records=numbers, columns=number_columns
            )
            await transaction.rollback()
        finally:
            await conn.close()
    else:
        import sqlite3

        conn = sqlite3.connect(make_url(url).database or "")
        try:
            stamp = now.replace(tzinfo=None).isoformat(" ", "microseconds")
            conn.execute("BEGIN")
            conn.executemany(
                f"INSERT INTO customers ({', '.join(customer_columns)})"
                f" VALUES ({', '.join('?' * 10)})",
                [(*c[:8], stamp, stamp) for c in customers],
            )
            conn.executemany(
                "INSERT INTO phone_numbers (customer_id, raw, e164, label) VALUES (?, ?, ?, ?)",
                numbers,
            )
            conn.rollback()
        finally:
            conn.close()
    return {"written": len(customers), "numbers": len(numbers)}


# Runs commands for the benchmark: one JSON list of arguments in, [returncode, stdout, stderr]
# out, per line.
LAUNCHER = """
import json, subprocess, sys
for line in sys.stdin:
    done = subprocess.run(json.loads(line), capture_output=True, text=True)
    print(json.dumps([done.returncode, done.stdout, done.stderr]), flush=True)
"""


class Launcher:
    """A bare Python started before the data is loaded, which starts the import children.
    Linux carries a process's peak RSS (ru_maxrss) over fork and exec, so a child started
    from the loaded benchmark would report the benchmark's; started from this one, each child
    reports its own."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(argv) + "\n")
        self.process.stdin.flush()
        code, out, err = json.loads(self.process.stdout.readline())
        return code, out, err

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(10)


def _child(launcher: Launcher, mode: str, url: str, path: Path) -> dict[str, Any]:
    code, out, err = launcher.run(
        [
            sys.executable,
            "-c",
            "from bench.crm_core import import_child; import_child()",
            mode,
            url,
            str(path),
        ]
    )
    if code != 0:
        raise RuntimeError(f"the {mode} import failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def measure_import(
    launcher: Launcher, url: str, rows: int, seed: int, folder: Path
) -> dict[str, Any]:
    small_rows = max(1, rows // 10)
    full, small = folder / "customers-full.csv", folder / "customers-tenth.csv"
    write_import_csv(full, rows, seed + 2, "IMPF")
    write_import_csv(small, small_rows, seed + 3, "IMPT")
    _progress(f"  import: {rows:,} rows unchecked through the driver (rolled back)")
    raw = _child(launcher, "raw", url, full)
    _progress(f"  import: {small_rows:,} rows through the Importer")
    tenth = _child(launcher, "service", url, small)
    _progress(f"  import: {rows:,} rows through the Importer")
    service = _child(launcher, "service", url, full)
    growth = round(service["peak_rss_mib"] - tenth["peak_rss_mib"], 1)
    flat = growth <= FLAT_MEMORY_MIB
    return {
        "rows": rows,
        "service": service,
        "service_tenth": {"rows": small_rows, **tenth},
        "raw": raw,
        "service_over_raw_seconds": round(service["seconds"] / raw["seconds"], 2)
        if raw["seconds"]
        else None,
        "peak_rss_growth_from_tenth_mib": growth,
        "memory_flat": flat,
        "goal_seconds": GOAL_IMPORT_SECONDS,
        "goal_met": service["seconds"] < GOAL_IMPORT_SECONDS and flat,
    }


# --- one database -------------------------------------------------------------------------------


async def load(
    url: str, customers: int, seed: int
) -> tuple[dict[str, Any], tuple[int, ...], frozenset[str]]:
    """Migrate, the demo users, the data (through its own engine: statements of a big load
    outlast the service engine's 30 s timeout), then VACUUM ANALYZE on PostgreSQL."""
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
        async with engine.connect() as conn:
            await check_empty(conn)
        async with session_factory(engine)() as session:
            passwords = Passwords(time_cost=1, memory_kib=256, parallelism=1)
            await load_demo_users(session, passwords=passwords, clock=utc_now)
            await session.commit()
        async with engine.connect() as conn:
            permissions = frozenset(
                row[0]
                for row in await conn.execute(
                    text(
                        "SELECT rp.permission FROM role_permissions rp JOIN roles r "
                        "ON r.id = rp.role_id WHERE r.name = 'admin'"
                    )
                )
            )
    finally:
        await engine.dispose()
    postgres = url.startswith("postgresql")
    loader = (
        create_async_engine(url, connect_args={"command_timeout": None})
        if postgres
        else create_engine(url)
    )
    plan = DemoPlan(customers=customers, now=NOW, seed=seed)
    try:
        async with loader.begin() as conn:
            report = await load_demo_data(conn, plan, progress=lambda m: _progress(f"  {m}"))
    finally:
        await loader.dispose()
    facts = report.as_dict()
    started = time.perf_counter()
    if postgres:
        import asyncpg

        conn = await asyncpg.connect(pg_dsn(url))
        try:
            await conn.execute("VACUUM ANALYZE", timeout=None)
        finally:
            await conn.close()
        facts["vacuum_analyze_seconds"] = round(time.perf_counter() - started, 1)
    return facts, report.heavy_customer_ids, permissions


async def server_facts(url: str) -> dict[str, Any]:
    if url.startswith("postgresql"):
        import asyncpg

        conn = await asyncpg.connect(pg_dsn(url))
        try:
            facts: dict[str, Any] = {
                "version": await conn.fetchval("SHOW server_version"),
                "shared_buffers": await conn.fetchval("SHOW shared_buffers"),
                "database_mib": round(
                    await conn.fetchval("SELECT pg_database_size(current_database())") / 2**20
                ),
            }
        finally:
            await conn.close()
        return facts
    import sqlite3

    size = await asyncio.to_thread(os.path.getsize, make_url(url).database or "")
    return {"version": sqlite3.sqlite_version, "file_mib": round(size / 2**20)}


async def run_database(
    url: str, args: argparse.Namespace, folder: Path, launcher: Launcher
) -> dict[str, Any]:
    kind = url.split(":")[0].split("+")[0]
    _progress(f"{kind}: loading {args.customers:,} customers")
    loaded, heavy, permissions = await load(url, args.customers, args.seed)
    engine = create_engine(url)
    try:
        asks = await plan_asks(engine, args.customers, args.samples, heavy, args.seed)
    finally:
        await engine.dispose()
    load_before = os.getloadavg()
    pages = await measure_pages(url, asks, args.samples, args.warmup, permissions)
    imported = await asyncio.to_thread(
        measure_import, launcher, url, args.import_rows, args.seed, folder
    )
    load_after = os.getloadavg()
    goal_met = {
        "search_p95": all(pages[p]["goal_met"] for p in pages if p.startswith("search")),
        "page_p95": pages["customer_page"]["goal_met"],
        "import_seconds": imported["service"]["seconds"] < GOAL_IMPORT_SECONDS,
        "import_memory_flat": imported["memory_flat"],
    }
    return {
        "server": await server_facts(url),
        "load": loaded,
        "pages": pages,
        "import": imported,
        "goal_met": goal_met,
        "loadavg_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
    }


@contextlib.contextmanager
def database_urls(args: argparse.Namespace, folder: Path) -> Iterator[dict[str, str]]:
    if args.database_url:
        kind = "postgresql" if args.database_url.startswith("postgresql") else "sqlite"
        yield {kind: args.database_url}
        return
    wanted = ("postgresql", "sqlite") if args.database == "both" else (args.database,)
    with contextlib.ExitStack() as stack:
        urls = {}
        if "postgresql" in wanted:
            from bench.servers import postgres_server

            server = stack.enter_context(postgres_server())
            asyncio.run(_create_database(server.dsn("postgres")))
            urls["postgresql"] = server.url("crm_core")
        if "sqlite" in wanted:
            urls["sqlite"] = f"sqlite+aiosqlite:///{folder}/crm_core.db"
        yield urls


async def _create_database(admin_dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("CREATE DATABASE crm_core")
    finally:
        await conn.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument(
        "--database", choices=("postgresql", "sqlite", "both"), default="postgresql"
    )
    parser.add_argument("--database-url", default="", help="an empty database to load instead")
    parser.add_argument("--samples", type=int, default=300, help="asks measured per page")
    parser.add_argument("--warmup", type=int, default=30, help="asks before measuring")
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.customers < 10 or args.samples < 1 or args.import_rows < 10:
        parser.error("need at least 10 customers, 1 sample and 10 import rows")
    return args


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="cc-crm-"))
    results = {}
    started = time.perf_counter()
    launcher = Launcher()  # first, while this process is small
    try:
        with database_urls(args, folder) as urls:
            for kind, url in urls.items():
                results[kind] = asyncio.run(run_database(url, args, folder, launcher))
    finally:
        launcher.close()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "benchmark": "crm_core",
        "shape": {
            "customers": args.customers,
            "seed": args.seed,
            "as_of": NOW.isoformat(),
            "samples": args.samples,
            "warmup": args.warmup,
            "import_rows": args.import_rows,
            "page_size": PAGE_SIZE + 1,
            "region": REGION,
            "concurrency": 1,
            "cultures": {c.key: c.weight for c in CULTURES},
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "goals": {
            "search_p95_ms": GOAL_SEARCH_P95_MS,
            "page_p95_ms": GOAL_PAGE_P95_MS,
            "import_seconds": GOAL_IMPORT_SECONDS,
            "import_memory": f"flat: the peak RSS of the full import within {FLAT_MEMORY_MIB} "
            "MiB of the tenth's",
        },
        "goal_met": {kind: r["goal_met"] for kind, r in results.items()},
        "seconds": round(time.perf_counter() - started, 1),
        "databases": results,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
