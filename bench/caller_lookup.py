"""Caller lookup at scale: the screen pop's lookup (``CallerLookups.lookup``: normalise the
caller ID, find the customers by number and build the card, one statement) against a database
holding N customers with two numbers each, one lookup at a time, as desk/pops.py makes it (on
PostgreSQL the pop's autocommit engine, whose connections it holds between lookups; on SQLite
the synchronous reader on the event loop). In the same run, interleaved lookup by lookup, the
floors: the bare indexed query `SELECT customer_id FROM phone_numbers WHERE e164 = …` along the path
the lookup takes (the floor the goal is judged on: on PostgreSQL a held connection of the
pop's engine, as a text() statement and as final SQL with exec_driver_sql as the lookup sends
its statement; on SQLite the reader's held sqlite3 connection), and through the driver alone
(asyncpg on one connection for PostgreSQL, sqlite3 for SQLite).

    python -m bench.caller_lookup [--customers 1000000] [--numbers-per-customer 2]
        [--lookups 20000] [--warmup 2000] [--database {postgresql,sqlite,both}]
        [--database-url postgresql+asyncpg://…|sqlite+aiosqlite:///…] [--region US]
        [--phases] [--seed 7]

Without --database-url it starts a throw-away PostgreSQL (bench/servers.py) and/or makes a
SQLite file in a temporary folder; with it, that database (which must hold no customers) is
migrated to head and loaded. The set-up (COPY through asyncpg on PostgreSQL, executemany in
large transactions on SQLite, then ANALYZE) is timed apart from the lookups; 1,000,000
customers take about a minute per database. Lookups: 85% numbers customers have (in national,
+, 00 and spaced or dashed forms; one in fifty of them shared by two customers: the pick list),
12% numbers nobody has, 3% withheld.

--phases adds a second pass over (up to 5,000 of) the same lookups that splits each into its
steps with engine and pool events (pool checkout, the statement on phone_numbers.e164 (which
builds the card too since the card became one statement), any other statements, Python, the
end) and counts the statements it sends.

The goal (per database, in "goal" and "goal_met"): the lookup's p99 within 1.5x the p99 of the
bare indexed query through the same engine, measured in the same run.

Prints one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.cards import CallerLookup, CallerLookups, lookup_sql
from crm_core.db import create_engine, lookup_engine, sqlite_reader
from crm_core.demo_data import (
    CONTACT_COLUMNS,
    COUNTRIES,
    CUM_WEIGHTS,
    CUSTOMER_COLUMNS,
    NUMBER_COLUMNS,
    SHARE_EVERY,
    NumberPool,
    People,
    sqlite_converter,
)
from crm_core.migrate import upgrade_to_head

# The lookup's p99 against the bare indexed query's p99 through the same engine, same run
# (interleaved lookup by lookup, so that the machine's noise falls on both alike).
GOAL_P99_RATIO = 1.5
PHASE_LOOKUPS = 5000  # the --phases pass takes the first of the measured lookups
FLOOR_SQL = "SELECT customer_id FROM phone_numbers WHERE e164 = {}"
CHUNK_CUSTOMERS = 50_000
STAMP = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
HIT, MISS, WITHHELD = 0.85, 0.12, 0.03
WITHHELD_FORMS = (
    ("anonymous", False),
    ("", True),
    ("Restricted", False),
    ("unknown", True),
    ("+15550100", True),
)  # the last: a number, but presentation restricted
# The people's levels and regions (the numbers, names and companies: crm_core.demo_data).
LEVELS = (("standard", 3), ("silver", 1), ("gold", 1), ("vip", 1))
REGIONS = ("north", "south", "east", "west", "central")


@dataclass(frozen=True)
class Shape:
    customers: int
    per_customer: int
    seed: int

    @property
    def rows(self) -> int:
        return self.customers * self.per_customer

    def shared_row(self, row: int) -> bool:
        """Whether this phone_numbers row holds a number two customers have."""
        if self.per_customer < 2:
            return False
        customer, slot = row // self.per_customer + 1, row % self.per_customer
        if slot == 1:
            return customer > 1 and customer % SHARE_EVERY == 0
        return slot == 0 and (customer + 1) % SHARE_EVERY == 0 and customer < self.customers


@dataclass
class Dataset:
    """What the generator tells the lookups: the numbers of the sampled rows, and how many
    numbers each country used (unused indices make numbers nobody has)."""

    wanted: dict[int, str]  # row -> e164
    used: Counter[str]


Chunk = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def generate(shape: Shape, wanted_rows: set[int], dataset: Dataset) -> Iterator[Chunk]:
    """Customers, contacts and phone numbers in chunks of CHUNK_CUSTOMERS customers, made by
    the demo data's generator of people (crm_core.demo_data.People); the same rows for the
    same seed. Each customer has a primary contact (its mobile is the first number); the other
    numbers are the customer's (work, home; one in ten abroad); every 50th customer's home
    line is the previous customer's mobile."""
    rng = random.Random(shape.seed)
    people = People(rng, NumberPool(dataset.used), levels=LEVELS, regions=REGIONS)
    customers: list[tuple[Any, ...]] = []
    contacts: list[tuple[Any, ...]] = []
    numbers: list[tuple[Any, ...]] = []
    for cid in range(1, shape.customers + 1):
        churned = rng.random() < 0.05
        person = people.make(cid, shape.per_customer, created_at=STAMP, churn_flag=churned)
        customers.append(person.customer)
        contacts.append(person.contact)
        for number in person.numbers:
            row = number[0] - 1
            if row in wanted_rows:
                dataset.wanted[row] = number[4]
        numbers += person.numbers
        if len(customers) == CHUNK_CUSTOMERS:
            yield customers, contacts, numbers
            customers, contacts, numbers = [], [], []
    if customers:
        yield customers, contacts, numbers


# --- loading ---------------------------------------------------------------------------------


@dataclass
class Loaded:
    seconds: float
    generate_seconds: float
    write_seconds: float
    analyze_seconds: float
    method: str
    notes: dict[str, Any]


def pg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def load_postgresql(url: str, shape: Shape, wanted: set[int], dataset: Dataset) -> Loaded:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(url))
    started = time.perf_counter()
    generating = writing = 0.0
    notes: dict[str, Any] = {}
    try:
        async with conn.transaction():
            try:  # the rows are consistent by construction: skip the per-row FK triggers
                async with conn.transaction():
                    await conn.execute("SET LOCAL session_replication_role = replica")
                notes["fk_checks_during_load"] = False
            except asyncpg.PostgresError:
                notes["fk_checks_during_load"] = True
            chunks = generate(shape, wanted, dataset)
            while True:
                t0 = time.perf_counter()
                chunk = next(chunks, None)
                t1 = time.perf_counter()
                generating += t1 - t0
                if chunk is None:
                    break
                customers, contacts, numbers = chunk
                for table, columns, records in (
                    ("customers", CUSTOMER_COLUMNS, customers),
                    ("contacts", CONTACT_COLUMNS, contacts),
                    ("phone_numbers", NUMBER_COLUMNS, numbers),
                ):
                    await conn.copy_records_to_table(table, records=records, columns=list(columns))
                writing += time.perf_counter() - t1
                _progress(f"postgresql: {customers[-1][0]:,} customers loaded")
            for table in ("customers", "contacts", "phone_numbers"):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        t2 = time.perf_counter()
        await conn.execute("VACUUM ANALYZE customers, contacts, phone_numbers")
        analyzing = time.perf_counter() - t2
    finally:
        await conn.close()
    return Loaded(
        round(time.perf_counter() - started, 1),
        round(generating, 1),
        round(writing, 1),
        round(analyzing, 1),
        "COPY (asyncpg copy_records_to_table), one transaction; VACUUM ANALYZE",
        notes,
    )


def load_sqlite(path: str, shape: Shape, wanted: set[int], dataset: Dataset) -> Loaded:
    import sqlite3

    conn = sqlite3.connect(path)
    started = time.perf_counter()
    generating = writing = 0.0
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        chunks = generate(shape, wanted, dataset)
        while True:
            t0 = time.perf_counter()
            chunk = next(chunks, None)
            t1 = time.perf_counter()
            generating += t1 - t0
            if chunk is None:
                break
            customers, contacts, numbers = chunk
            with conn:  # one transaction per chunk of 50,000 customers
                for table, columns, records in (
                    ("customers", CUSTOMER_COLUMNS, customers),
                    ("contacts", CONTACT_COLUMNS, contacts),
                    ("phone_numbers", NUMBER_COLUMNS, numbers),
                ):
                    convert = sqlite_converter(table, columns)
                    conn.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)})"
                        f" VALUES ({', '.join('?' * len(columns))})",
                        [convert(record) for record in records],
                    )
            writing += time.perf_counter() - t1
            _progress(f"sqlite: {customers[-1][0]:,} customers loaded")
        t2 = time.perf_counter()
        conn.execute("ANALYZE")
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # lookups read the file, not a big WAL
        analyzing = time.perf_counter() - t2
    finally:
        conn.close()
    return Loaded(
        round(time.perf_counter() - started, 1),
        round(generating, 1),
        round(writing, 1),
        round(analyzing, 1),
        "sqlite3 executemany, a transaction per 50,000 customers; ANALYZE",
        {"fk_checks_during_load": False},
    )


def _progress(message: str) -> None:
    if os.environ.get("BENCH_QUIET") != "1":
        print(message, file=sys.stderr, flush=True)


# --- the lookups -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    caller: str
    restricted: bool
    e164: str  # what the number normalises to ("" when withheld)
    expected: str  # "customer", "choices", "new" or "anonymous"
    form: str


def caller_forms(e164: str, home_code: str) -> list[tuple[str, str]]:
    """The ways a PBX or a carrier presents this number to us."""
    parsed = phonenumbers.parse(e164)
    international = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    forms = [
        ("plus", e164),
        ("plus_spaced", international),
        ("double_zero", "00" + international[1:].replace(" ", "")),
        ("double_zero_dashes", "00" + international[1:].replace(" ", "-")),
    ]
    if str(parsed.country_code) == home_code:
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        forms += [
            ("national", national),
            ("national_digits", "".join(ch for ch in national if ch.isdigit())),
        ]
    return forms


def plan_lookups(shape: Shape, count: int, rng: random.Random) -> tuple[list[int], list[str]]:
    """Which rows the hits will be, and the kind of each lookup, in order."""
    kinds = rng.choices(("hit", "miss", "withheld"), weights=(HIT, MISS, WITHHELD), k=count)
    hits = kinds.count("hit")
    rows = rng.sample(range(shape.rows), min(hits, shape.rows))
    rows += [rng.randrange(shape.rows) for _ in range(hits - len(rows))]
    return rows, kinds


def make_lookups(
    shape: Shape,
    dataset: Dataset,
    rows: list[int],
    kinds: list[str],
    region: str,
    rng: random.Random,
) -> list[Lookup]:
    home_code = str(phonenumbers.country_code_for_region(region))
    lookups = []
    rows_left = iter(rows)
    for kind in kinds:
        if kind == "withheld":
            caller, restricted = rng.choice(WITHHELD_FORMS)
            lookups.append(Lookup(caller, restricted, "", "anonymous", "withheld"))
            continue
        if kind == "hit":
            row = next(rows_left)
            e164 = dataset.wanted[row]
            expected = "choices" if shape.shared_row(row) else "customer"
        else:
            country = rng.choices(COUNTRIES, cum_weights=CUM_WEIGHTS)[0]
            e164, _ = country.number(dataset.used[country.region] + rng.randrange(10**6))
            expected = "new"
        form, caller = rng.choice(caller_forms(e164, home_code))
        lookups.append(Lookup(caller, False, e164, expected, form))
    return lookups


def pop_lookups(engine: AsyncEngine, reader: Engine | None) -> CallerLookups:
    """The lookups the pop makes (crm_core.cards.caller_lookups builds the same): on SQLite
    through the synchronous reader on the event loop, else through the pop's autocommit
    engine (``engine`` is that engine there)."""
    return CallerLookups(sqlite=reader) if reader is not None else CallerLookups(remote=engine)


async def pop_lookup(lookups: CallerLookups, item: Lookup, region: str) -> CallerLookup:
    """As desk/pops.py calls it, with no IVR variables."""
    return await lookups.lookup(
        caller_number=item.caller, restricted=item.restricted, variables={}, region=region
    )


class StatementClock:
    """Engine and pool events of one lookup (the --phases pass only): when the pool handed the
    connection over (after its pre-ping, if any), the cursor time of the number match (the
    statement on phone_numbers.e164, which also builds the card) and of the other statements
    (an IVR account or customer id), and when the end began (ROLLBACK, or the pool's
    reset)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.match = self.other = 0.0
        self.statements = 0
        self.checked_out = self.closing = 0.0
        self._started = 0.0

    def on_checkout(self, *_: Any) -> None:
        self.checked_out = self.checked_out or time.perf_counter()

    def on_closing(self, *_: Any) -> None:
        self.closing = self.closing or time.perf_counter()

    def before(self, *_: Any) -> None:
        self._started = time.perf_counter()

    def after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        took = time.perf_counter() - self._started
        self.statements += 1
        if "phone_numbers.e164 =" in statement:
            self.match += took
        else:
            self.other += took

    def traced(self, _statement: str) -> None:
        """sqlite3's trace callback: the pop's SQLite lookup runs on the reader's held sqlite3
        connection, where no engine event fires; its statements are counted here, and their
        time stays inside "python"."""
        self.statements += 1

    def trace_sqlite(self, dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_trace_callback(self.traced)

    def listeners(self, *, sqlite: bool = False) -> list[tuple[str, Any]]:
        return [
            *([("checkout", self.trace_sqlite)] if sqlite else []),
            ("checkout", self.on_checkout),
            ("rollback", self.on_closing),
            ("reset", self.on_closing),
            ("before_cursor_execute", self.before),
            ("after_cursor_execute", self.after),
        ]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0}
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


FloorQuery = Callable[[str], Awaitable[object]]
# name -> (the bare query, what it goes through); "engine" is the floor the goal is judged on:
# the bare query along the path the pop's lookup takes (on SQLite, the reader's held sqlite3
# connection; on PostgreSQL, a held connection of the async engine).
Floors = dict[str, tuple[FloorQuery, str]]


@contextlib.asynccontextmanager
async def floors(engine: AsyncEngine, reader: Engine | None, url: str) -> AsyncIterator[Floors]:
    """The bare query along the pop's path ("engine", the goal's floor): on PostgreSQL through
    a held connection of the async engine as a text() statement, and as final SQL with
    exec_driver_sql ("engine_driver_sql": how the lookup sends its statement); on SQLite on
    the reader's held sqlite3 connection, as the lookup sends it (and, as "engine_driver_sql",
    through SQLAlchemy on that reader). And through the driver alone (one connection)."""
    sql = text(FLOOR_SQL.format(":e164"))
    async with contextlib.AsyncExitStack() as stack:
        if reader is not None:  # SQLite: the pop reads on the reader's held sqlite3 connection
            import sqlite3

            held_sync = stack.enter_context(reader.connect())
            held_raw = reader.raw_connection()
            stack.callback(held_raw.close)
            raw = sqlite3.connect(make_url(url).database or "")
            stack.callback(raw.close)
            raw_sql = FLOOR_SQL.format("?")

            async def through_the_pops_path(e164: str) -> object:
                cursor = held_raw.cursor()
                try:
                    return cursor.execute(raw_sql, (e164,)).fetchall()
                finally:
                    cursor.close()

            async def through_engine(e164: str) -> object:
                return held_sync.execute(sql, {"e164": e164}).all()

            async def through_driver(e164: str) -> object:
                return raw.execute(raw_sql, (e164,)).fetchall()

            reader_name = "the pop's SQLite reader's held sqlite3 connection, on the loop"
            yield {
                "engine": (through_the_pops_path, reader_name),
                "engine_driver_sql": (through_engine, "the reader through SQLAlchemy, text()"),
                "driver": (through_driver, "sqlite3, a connection of its own"),
            }
            return
        import asyncpg

        held = await stack.enter_async_context(engine.connect())
        conn = await asyncpg.connect(pg_dsn(url))
        stack.push_async_callback(conn.close)
        raw_sql = FLOOR_SQL.format("$1")

        async def through_async_engine(e164: str) -> object:
            return (await held.execute(sql, {"e164": e164})).all()

        async def through_async_engine_sql(e164: str) -> object:
            return (await held.exec_driver_sql(raw_sql, (e164,))).all()

        async def through_asyncpg(e164: str) -> object:
            return await conn.fetch(raw_sql, e164)

        engine_name = "the async engine (SQLAlchemy, asyncpg)"
        yield {
            "engine": (through_async_engine, engine_name),
            "engine_driver_sql": (through_async_engine_sql, f"{engine_name}, exec_driver_sql"),
            "driver": (through_asyncpg, "asyncpg"),
        }


async def measure(
    engine: AsyncEngine,
    reader: Engine | None,
    url: str,
    lookups: list[Lookup],
    warmup: list[Lookup],
    region: str,
) -> dict[str, Any]:
    """Each lookup and each floor, interleaved (the order rotates), so that the machine's
    noise falls on all alike."""
    pop = pop_lookups(engine, reader)
    times: dict[str, list[float]] = {"full": []}
    by_kind: dict[str, list[float]] = {}
    kinds: Counter[str] = Counter()
    unexpected: Counter[str] = Counter()
    forms: Counter[str] = Counter()

    async def full(item: Lookup) -> str:
        return (await pop_lookup(pop, item, region)).kind

    try:
        async with floors(engine, reader, url) as bare:
            steps: list[tuple[str, Callable[[Lookup], Awaitable[object]]]] = [("full", full)]
            for name, (query, _through) in bare.items():
                times[name] = []
                steps.append((name, lambda item, query=query: query(item.e164)))
            for phase, items in (("warmup", warmup), ("measure", lookups)):
                gc.collect()
                for n, item in enumerate(items):
                    if n and n % 1000 == 0:
                        _progress(f"  {phase}: {n:,} of {len(items):,}")
                    turn = n % len(steps)
                    for name, step in steps[turn:] + steps[:turn]:
                        if name != "full" and not item.e164:
                            continue  # withheld: the pop sends no query
                        started = time.perf_counter()
                        kind = await step(item)
                        took = time.perf_counter() - started
                        if phase == "measure":
                            times[name].append(took)
                            if name == "full":
                                by_kind.setdefault(str(kind), []).append(took)
                                kinds[str(kind)] += 1
                                forms[item.form] += 1
                                if kind != item.expected:
                                    unexpected[f"{item.expected}->{kind}"] += 1
            names = {name: through for name, (_query, through) in bare.items()}
    finally:
        await pop.close()  # the connections it holds between lookups, before the dispose
    return {
        "times": times,
        "by_kind": by_kind,
        "kinds": kinds,
        "unexpected": unexpected,
        "forms": forms,
        "floors": names,
    }


async def phases(
    engine: AsyncEngine, reader: Engine | None, lookups: list[Lookup], region: str
) -> dict[str, Any]:
    """The same lookups again, each split into its steps by engine and pool events, with the
    statements it sends."""
    pop = pop_lookups(engine, reader)
    clock = StatementClock()
    targets = [reader] if reader is not None else [engine.sync_engine]
    sqlite = reader is not None
    for target in targets:
        for name, fn in clock.listeners(sqlite=sqlite):
            event.listen(target, name, fn)
    steps: dict[str, dict[str, list[float]]] = {}
    statements: dict[str, Counter[int]] = {}
    try:
        for item in lookups:
            clock.reset()
            started = time.perf_counter()
            found = await pop_lookup(pop, item, region)
            ended = time.perf_counter()
            checked_out = clock.checked_out or started
            closing = clock.closing or ended
            kind = steps.setdefault(
                found.kind,
                {
                    "total": [],
                    "checkout": [],
                    "match_query": [],
                    "card_queries": [],
                    "python": [],
                    "close": [],
                },
            )
            kind["total"].append(ended - started)
            kind["checkout"].append(checked_out - started)
            kind["match_query"].append(clock.match)
            kind["card_queries"].append(clock.other)
            kind["python"].append(closing - checked_out - clock.match - clock.other)
            kind["close"].append(ended - closing)
            statements.setdefault(found.kind, Counter())[clock.statements] += 1
    finally:
        for target in targets:
            for name, fn in clock.listeners(sqlite=sqlite):
                event.remove(target, name, fn)
        await pop.close()
    result: dict[str, Any] = {
        kind: {
            "statements": dict(statements[kind]),
            **{step: percentiles(values) for step, values in measured.items()},
        }
        for kind, measured in sorted(steps.items())
    }
    result["note"] = (
        f"the first {len(lookups):,} measured lookups again; "
        "statements: {statements sent: lookups}; checkout: from the call until the connection "
        "is there (the caller ID is normalised first; on SQLite the reader's pool checkout, once: "
        "the pop holds its sqlite3 connection, whose statements no engine event sees, so they "
        "are counted by sqlite3's trace callback and their time is in python; on "
        "PostgreSQL the pop holds autocommit connections between lookups, so no checkout "
        "after the first, and none at all for a withheld number); match_query: cursor time "
        "of the phone_numbers.e164 statement, which builds the card (or the pick list) as "
        "JSON too; card_queries: cursor time of any other statements (IVR lookups; none "
        "here); python: the rest until the end begins (binding, the result row, decoding the "
        "card's JSON, and on PostgreSQL the greenlet switches); close: from the ROLLBACK (or "
        "the pool's reset) to the return"
    )
    return result


async def server_facts(engine: AsyncEngine, url: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        if url.startswith("postgresql"):
            facts: dict[str, Any] = {
                "version": (await conn.scalar(text("SHOW server_version"))),
                "shared_buffers": (await conn.scalar(text("SHOW shared_buffers"))),
            }
            sizes = {}
            for table in ("customers", "contacts", "phone_numbers"):
                sizes[table] = round(
                    (await conn.scalar(text(f"SELECT pg_total_relation_size('{table}')")) or 0)
                    / 2**20,
                    1,
                )
            facts["relation_sizes_mb"] = sizes
            facts["e164_index_mb"] = round(
                (await conn.scalar(text("SELECT pg_relation_size('ix_phone_numbers_e164')")) or 0)
                / 2**20,
                1,
            )
            facts["plan"] = [
                row[0]
                for row in await conn.execute(
                    text(
                        "EXPLAIN SELECT customer_id FROM phone_numbers WHERE e164 = '+14155550100'"
                    )
                )
            ]
        else:
            size = await asyncio.to_thread(os.path.getsize, make_url(url).database or "")
            facts = {
                "version": await conn.scalar(text("SELECT sqlite_version()")),
                "file_mb": round(size / 2**20, 1),
            }
            facts["plan"] = [
                str(row[-1])
                for row in await conn.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT customer_id FROM phone_numbers "
                        "WHERE e164 = '+14155550100'"
                    )
                )
            ]
        await conn.rollback()
    facts["lookup_plan"] = await lookup_plan(url)
    return facts


async def lookup_plan(url: str) -> dict[str, list[str]]:
    """How the lookup's statement (by number) reaches each table, as the pop runs it: on
    PostgreSQL the generic plan of the prepared statement (what asyncpg's prepared statement
    settles on after five runs), on SQLite the query plan. "table_scans" should stay empty:
    every table is reached by an index from the number."""
    if url.startswith("postgresql"):
        import asyncpg

        conn = await asyncpg.connect(pg_dsn(url))  # apart: the SET stays on this connection
        try:
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            await conn.execute(f"PREPARE lookup_by_number AS {lookup_sql('postgresql')['number']}")
            plan = [
                row[0]
                for row in await conn.fetch("EXPLAIN EXECUTE lookup_by_number('+14155550100')")
            ]
        finally:
            await conn.close()
        steps = [
            line.strip().removeprefix("->  ").split("  (cost=")[0]
            for line in plan
            if "Scan" in line
        ]
        return {"steps": steps, "table_scans": [s for s in steps if s.startswith("Seq Scan")]}
    import sqlite3

    def explain() -> list[str]:
        conn = sqlite3.connect(make_url(url).database or "")
        try:
            return [
                str(row[-1])
                for row in conn.execute(
                    f"EXPLAIN QUERY PLAN {lookup_sql('sqlite')['number']}", ("+14155550100",)
                )
            ]
        finally:
            conn.close()

    tables = {
        "customers",
        "contacts",
        "phone_numbers",
        "orders",
        "service_requests",
        "interactions",
        "users",
    }
    steps = [
        step for step in await asyncio.to_thread(explain) if step.startswith(("SCAN", "SEARCH"))
    ]
    return {
        "steps": steps,
        "table_scans": [s for s in steps if s.startswith("SCAN ") and s.split()[1] in tables],
    }


async def pg_block_counters(url: str) -> tuple[int, int]:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(url))
    try:
        row = await conn.fetchrow(
            "SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(row["blks_hit"]), int(row["blks_read"])
    finally:
        await conn.close()


async def run_database(url: str, args: argparse.Namespace) -> dict[str, Any]:
    shape = Shape(args.customers, args.numbers_per_customer, args.seed)
    rng = random.Random(args.seed + 1)
    warmup_count = min(args.warmup, args.lookups)
    rows, kinds = plan_lookups(shape, args.lookups + warmup_count, rng)
    wanted = set(rows)
    dataset = Dataset({}, Counter())

    engine = create_engine(url)
    reader = sqlite_reader(url)  # None on PostgreSQL
    try:
        await upgrade_to_head(engine)
        async with engine.connect() as conn:
            if await conn.scalar(
                text("SELECT count(*) FROM (SELECT 1 FROM customers LIMIT 1) AS any_customer")
            ):
                raise SystemExit(
                    f"{url.split('@')[-1]}: the database already holds customers; give an empty one"
                )
            await conn.rollback()
        await engine.dispose()  # the load goes round the engine
        if reader is None:  # PostgreSQL: the pop reads through its own autocommit engine
            engine = lookup_engine(url)
        if url.startswith("postgresql"):
            loaded = await load_postgresql(url, shape, wanted, dataset)
        else:
            loaded = await asyncio.to_thread(
                load_sqlite, make_url(url).database or "", shape, wanted, dataset
            )
        lookups_all = make_lookups(shape, dataset, rows, kinds, args.region, rng)
        warmup, lookups = lookups_all[:warmup_count], lookups_all[warmup_count:]
        facts = await server_facts(engine, url)
        if url.startswith("postgresql"):
            with contextlib.suppress(Exception):  # contrib may be missing; warm-up does it too
                async with engine.begin() as conn:
                    await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
                    # Into shared_buffers, the lookup's own index last: what does not fit
                    # pushes out what came first (the OS cache holds it all after the load).
                    for relation in (
                        "contacts",
                        "customers",
                        "phone_numbers",
                        "ix_phone_numbers_customer_id",
                        "ix_contacts_customer_id",
                        "pk_customers",
                        "ix_phone_numbers_e164",
                    ):
                        await conn.execute(text(f"SELECT pg_prewarm('{relation}')"))
                facts["prewarmed"] = True
            blocks_before = await pg_block_counters(url)
        _progress(f"{url.split(':')[0]}: measuring {len(lookups):,} lookups")
        load_before = os.getloadavg()
        measured = await measure(engine, reader, url, lookups, warmup, args.region)
        load_after = os.getloadavg()
        if url.startswith("postgresql"):
            blocks_after = await pg_block_counters(url)
            hit = blocks_after[0] - blocks_before[0]
            read = blocks_after[1] - blocks_before[1]
            facts["buffer_hit_ratio_during_measure"] = round(hit / max(1, hit + read), 4)
        breakdown = (
            await phases(engine, reader, lookups[:PHASE_LOOKUPS], args.region)
            if args.phases
            else None
        )
    finally:
        if reader is not None:
            reader.dispose()
        await engine.dispose()

    full = percentiles(measured["times"]["full"])
    floor_engine = percentiles(measured["times"]["engine"])
    floor_driver = percentiles(measured["times"]["driver"])
    floor_engine_sql = percentiles(measured["times"]["engine_driver_sql"])
    goal = goal_check(full, floor_engine, floor_engine_sql)
    kinds_seen = measured["kinds"]
    result: dict[str, Any] = {
        "server": facts,
        "load": {
            "seconds": loaded.seconds,
            "generate_seconds": loaded.generate_seconds,
            "write_seconds": loaded.write_seconds,
            "analyze_seconds": loaded.analyze_seconds,
            "method": loaded.method,
            **loaded.notes,
            "customers": shape.customers,
            "contacts": shape.customers,
            "phone_numbers": shape.rows,
            "countries": dict(sorted(dataset.used.items(), key=lambda kv: -kv[1])),
        },
        "lookups": dict(kinds_seen),
        "hits": kinds_seen["customer"] + kinds_seen["choices"],
        "misses": kinds_seen["new"],
        "withheld": kinds_seen["anonymous"],
        "unexpected": dict(measured["unexpected"]),
        "caller_id_forms": dict(sorted(measured["forms"].items())),
        "full_lookup": full,
        "full_lookup_by_kind": {k: percentiles(v) for k, v in sorted(measured["by_kind"].items())},
        "pop_reads_through": "the SQLite reader on the event loop"
        if reader is not None
        else "the pop's autocommit engine, connections held between lookups (asyncpg)",
        "floor_engine_query": floor_engine | {"through": measured["floors"]["engine"]},
        "floor_engine_driver_sql_query": floor_engine_sql
        | {"through": measured["floors"]["engine_driver_sql"]},
        "floor_driver_query": floor_driver | {"through": measured["floors"]["driver"]},
        "ratio_p50_to_engine_floor": _ratio(full, floor_engine, "p50_ms"),
        "ratio_p99_to_engine_floor": _ratio(full, floor_engine, "p99_ms"),
        "ratio_p50_to_driver_floor": _ratio(full, floor_driver, "p50_ms"),
        "ratio_p99_to_driver_floor": _ratio(full, floor_driver, "p99_ms"),
        "goal": goal,
        "goal_met": goal["met"],
        "loadavg_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
    }
    if breakdown is not None:
        result["phases"] = breakdown
    return result


def _ratio(a: dict[str, float], b: dict[str, float], key: str) -> float | None:
    return round(a[key] / b[key], 2) if a.get(key) and b.get(key) else None


def goal_check(
    full: dict[str, float], floor: dict[str, float], floor_sql: dict[str, float]
) -> dict[str, Any]:
    """The lookup against the bare indexed query through the same engine, same run; and, for
    a reader who wants like for like (the lookup sends final SQL with exec_driver_sql), the
    ratio to the bare query sent that way."""
    ratio = full["p99_ms"] / floor["p99_ms"] if full.get("p99_ms") and floor.get("p99_ms") else None
    return {
        "lookup_p50_ms": full.get("p50_ms"),
        "lookup_p99_ms": full.get("p99_ms"),
        "floor_p50_ms": floor.get("p50_ms"),
        "floor_p99_ms": floor.get("p99_ms"),
        "ratio_p50": _ratio(full, floor, "p50_ms"),
        "ratio_p99": None if ratio is None else round(ratio, 2),
        "goal_ratio_p99": GOAL_P99_RATIO,
        "met": ratio is not None and ratio <= GOAL_P99_RATIO,
        "ratio_p50_to_engine_driver_sql_floor": _ratio(full, floor_sql, "p50_ms"),
        "ratio_p99_to_engine_driver_sql_floor": _ratio(full, floor_sql, "p99_ms"),
    }


@contextlib.contextmanager
def database_urls(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    if args.database_url:
        kind = "postgresql" if args.database_url.startswith("postgresql") else "sqlite"
        yield {kind: args.database_url}
        return
    wanted = ("postgresql", "sqlite") if args.database == "both" else (args.database,)
    folder = Path(tempfile.mkdtemp(prefix="cc-lookup-"))
    try:
        with contextlib.ExitStack() as stack:
            urls = {}
            if "postgresql" in wanted:
                from bench.servers import postgres_server

                server = stack.enter_context(postgres_server())
                asyncio.run(_create_database(server.dsn("postgres")))
                urls["postgresql"] = server.url("caller_lookup")
            if "sqlite" in wanted:
                urls["sqlite"] = f"sqlite+aiosqlite:///{folder}/caller_lookup.db"
            yield urls
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _create_database(admin_dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("CREATE DATABASE caller_lookup")
    finally:
        await conn.close()


def code_state() -> dict[str, Any]:
    """Which code was measured: the commit, and the files of the lookup's path changed since."""

    def git(*argv: str) -> str:
        done = subprocess.run(
            ["git", *argv],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,
        )
        return done.stdout.rstrip("\n") if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "crm_core", "desk/pops.py")
    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "uncommitted": [line[3:] for line in changed.splitlines()],
    }


async def main(
    args: argparse.Namespace, urls: dict[str, str], code: dict[str, Any]
) -> dict[str, Any]:
    results = {}
    for kind, url in urls.items():
        results[kind] = await run_database(url, args)
    return {
        "benchmark": "caller_lookup",
        "shape": {
            "customers": args.customers,
            "numbers_per_customer": args.numbers_per_customer,
            "lookups": args.lookups,
            "warmup": min(args.warmup, args.lookups),
            "mix": {"hit": HIT, "miss": MISS, "withheld": WITHHELD},
            "shared_numbers": "every 50th customer's home line is the previous "
            "customer's mobile (pick list of two)",
            "region": args.region,
            "seed": args.seed,
            "concurrency": 1,
        },
        "code": code,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "goal": f"lookup p99 <= {GOAL_P99_RATIO} x p99 of the bare indexed e164 query through "
        "the same engine, same run",
        "goal_p99_ratio_to_engine_floor": GOAL_P99_RATIO,
        "goal_met": {kind: r["goal_met"] for kind, r in results.items()},
        "databases": results,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--numbers-per-customer", type=int, default=2)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--database", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument(
        "--database-url",
        default="",
        help="an empty database to migrate, load and measure (instead of "
        "--database's throw-away ones)",
    )
    parser.add_argument("--region", default="US", help="the pop's default region")
    parser.add_argument(
        "--phases", action="store_true", help="a second pass splitting each lookup into its steps"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.customers < 2 or args.numbers_per_customer < 1 or args.lookups < 1:
        parser.error("need at least 2 customers, 1 number each and 1 lookup")
    return args


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    code = code_state()  # before the run: the code imported is the code measured
    with database_urls(args) as urls:
        return asyncio.run(main(args, urls, code))


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
