"""Call lists at scale: a CSV of --rows numbers (default 100,000) uploaded to a campaign's list
through ``crm_core.call_lists.CallLists.upload``, beside baselines measured in the same run on
the same file and database:

- ``raw_write``: the same rows written straight to the table by the driver, unchecked (the
  numbers as typed), and rolled back (executemany on SQLite, COPY on PostgreSQL): the floor of
  writing them.
- ``number_checks``: ``crm_core.phones.normalise`` and the validity check on every number of
  the file, in one loop, nothing else: the floor of checking them (phonenumbers is pure
  Python).
- ``orm_row_by_row``: what a straightforward service would do, measured on a sample of
  --orm-sample rows and extrapolated: for each row the same checks, a SELECT of the number in
  the campaign through the ORM, ``session.add`` and a flush.

Also measured: the same file uploaded again into the same list (every row merged), a
do-not-call import of a tenth of the numbers (marking their pending entries), and the reads
the dialer makes on the full list: ``due_entries`` (a page of 50), ``list_summary``, and
``is_listed`` (the check before every dial), p50/p95/p99 each (on PostgreSQL after a VACUUM
ANALYZE of the list, as autovacuum would have made).

    python -m bench.call_lists [--rows 100000] [--database {sqlite,postgresql,both}]
        [--database-url URL] [--orm-sample 2000] [--seed 1]

Without --database-url it makes a SQLite file in a temporary folder, or starts a throw-away
PostgreSQL (bench/servers.py). Goal: the upload of 100,000 rows in under 30 s (the customer
import's goal, docs/benchmarks.md). Prints one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, select

from bench.caller_lookup import pg_dsn
from bench.crm_core import database_urls, percentiles, server_facts
from crm_core.audit import SYSTEM
from crm_core.call_lists import (
    CallLists,
    assigned,
    dialable,
    list_summary,
)
from crm_core.clock import utc_now
from crm_core.db import create_engine, session_factory
from crm_core.dialling import due_entries
from crm_core.do_not_call import DoNotCallService, is_listed
from crm_core.migrate import upgrade_to_head
from crm_core.models import CallListEntry, Campaign
from crm_core.phones import normalise
from crm_core.uow import UnitOfWork

GOAL_UPLOAD_SECONDS = 30.0
REGION = "US"
AREAS = ("212", "312", "415", "617", "713", "305", "206", "404")
GIVEN = ("Ann", "Bob", "Chen Wei", "李娜", "José", "Öztürk", "Александр", "Fatima", "Kim", "王芳")
FAMILY = ("Lee", "Smith", "García", "Müller", "Zhang", "Ivanova", "Nguyen", "O'Brien")
COMPANIES = ("Acme Ltd", "Initech", "北京科技有限公司", "Globex", "", "Umbrella GmbH")
COLUMNS = ("phone", "name", "company", "city", "note")


def _progress(message: str) -> None:
    if os.environ.get("BENCH_QUIET") != "1":
        print(message, file=sys.stderr, flush=True)


def number_as_typed(n: int, rng: random.Random) -> str:
    """The n-th distinct number (NANP, valid), written the way a spreadsheet holds them."""
    area = AREAS[n % len(AREAS)]
    exchange = 200 + (n // len(AREAS) // 10_000) % 800
    line = (n // len(AREAS)) % 10_000
    return rng.choice(
        (
            f"+1 {area} {exchange} {line:04d}",
            f"({area}) {exchange}-{line:04d}",
            f"{area}.{exchange}.{line:04d}",
            f"001{area}{exchange}{line:04d}",
            f"{area}{exchange}{line:04d}",
        )
    )


def write_list_csv(path: Path, rows: int, seed: int) -> dict[str, int]:
    """A marketing list as bought or exported: names in several scripts, companies, a city
    and a note for the script; one row in 200 is no number (words, a digit short), one in 100
    repeats an earlier row's number in another format."""
    rng = random.Random(seed)
    bad = repeated = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(COLUMNS)
        for n in range(rows):
            phone = number_as_typed(n, rng)
            if n % 200 == 199:
                phone = rng.choice(("call me maybe", "+44 20 7946", "12", ""))
                bad += 1
            elif n % 100 == 50 and n > 100:
                phone = number_as_typed(rng.randrange(n - 100), rng)
                repeated += 1
            name = f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"
            out.writerow((phone, name, rng.choice(COMPANIES), rng.choice(AREAS), f"lead {n}"))
    return {"rows": rows, "bad": bad, "repeated": repeated, "bytes": path.stat().st_size}


async def _campaign(sessions: Any, name: str) -> int:
    async with sessions() as db:
        now = utc_now()
        campaign = Campaign(
            name=name, mode="predictive", status="running", created_at=now, updated_at=now
        )
        db.add(campaign)
        await db.commit()
        return campaign.id


async def upload(sessions: Any, campaign_id: int, path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    async with UnitOfWork(sessions) as uow:
        result = await CallLists(uow.session, clock=utc_now, region=REGION).upload(
            campaign_id, path, path.name, SYSTEM
        )
        await uow.commit()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        **result.result.as_dict(),
        "rejected": result.rejected,
        "rows_per_second": round(
            (result.result.added + result.result.merged + result.rejected) / seconds
        ),
    }


def number_checks(path: Path) -> dict[str, Any]:
    """normalise and the validity check alone, on every number of the file."""
    with path.open(encoding="utf-8", newline="") as handle:
        phones = [row["phone"] for row in csv.DictReader(handle)]
    started = time.perf_counter()
    usable = 0
    for raw in phones:
        number = normalise(raw, REGION)
        if number.usable and assigned(number.e164):
            usable += 1
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "numbers": len(phones),
        "valid": usable,
        "microseconds_per_number": round(seconds / len(phones) * 1e6, 1),
    }


async def orm_row_by_row(sessions: Any, campaign_id: int, path: Path, sample: int) -> dict:
    """The sample's rows one by one through the ORM (checked the same way), extrapolated."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row for _, row in zip(range(sample), csv.DictReader(handle), strict=False)]
    started = time.perf_counter()
    written = 0
    async with sessions() as db:
        for row in rows:
            try:
                e164 = dialable(row["phone"], REGION)
            except ValueError:
                continue
            found = await db.scalar(
                select(CallListEntry).where(
                    CallListEntry.campaign_id == campaign_id, CallListEntry.number_e164 == e164
                )
            )
            if found is not None:
                continue
            now = utc_now()
            db.add(
                CallListEntry(
                    campaign_id=campaign_id,
                    number_e164=e164,
                    number_raw=row["phone"],
                    name=row["name"],
                    reason_kind="upload",
                    reason_text=f"List {path.name}",
                    fields=json.dumps({k: row[k] for k in ("company", "city", "note")}),
                    state="pending",
                    created_at=now,
                    updated_at=now,
                )
            )
            await db.flush()
            written += 1
        await db.commit()
    seconds = time.perf_counter() - started
    return {"sample_rows": len(rows), "written": written, "sample_seconds": round(seconds, 2)}


async def raw_write(url: str, campaign_id: int, path: Path) -> dict[str, Any]:
    """The rows as typed straight into the table, unchecked, rolled back."""
    stamp = datetime.now(UTC)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [
            (campaign_id, f"+raw{n}", row["phone"], row["name"], "upload",
             json.dumps({"company": row["company"], "city": row["city"], "note": row["note"]}),
             "pending")
            for n, row in enumerate(csv.DictReader(handle))
        ]  # fmt: skip
    columns = ["campaign_id", "number_e164", "number_raw", "name", "reason_kind", "fields",
               "state"]  # fmt: skip
    fixed = {"reason_ref": "", "reason_text": "raw", "attempts": 0, "last_outcome": ""}
    started = time.perf_counter()
    if url.startswith("postgresql"):
        import asyncpg

        conn = await asyncpg.connect(pg_dsn(url))
        try:
            transaction = conn.transaction()
            await transaction.start()
            await conn.copy_records_to_table(
                "call_list_entries",
                records=[(*r, *fixed.values(), stamp, stamp) for r in rows],
                columns=[*columns, *fixed, "created_at", "updated_at"],
            )
            await transaction.rollback()
        finally:
            await conn.close()
    else:
        import sqlite3

        conn = sqlite3.connect(make_url(url).database or "", isolation_level=None)
        try:
            text = stamp.replace(tzinfo=None).isoformat(" ", "microseconds")
            names = [*columns, *fixed, "created_at", "updated_at"]
            conn.execute("BEGIN")
            conn.executemany(
                f"INSERT INTO call_list_entries ({', '.join(names)}) "
                f"VALUES ({', '.join('?' * len(names))})",
                [(*r, *fixed.values(), text, text) for r in rows],
            )
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    return {"seconds": round(time.perf_counter() - started, 2), "rows": len(rows)}


async def dnc_import(sessions: Any, path: Path, folder: Path) -> dict[str, Any]:
    """A tenth of the list's numbers onto the register, as a file."""
    part = folder / "dnc.csv"
    with path.open(encoding="utf-8", newline="") as source, part.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("phone", "reason"))
        for n, row in enumerate(csv.DictReader(source)):
            if n % 10 == 3:
                writer.writerow((row["phone"], "asked not to be called"))
    started = time.perf_counter()
    async with UnitOfWork(sessions) as uow:
        result = await DoNotCallService(uow.session, clock=utc_now, region=REGION).import_file(
            part, part.name, SYSTEM
        )
        await uow.commit()
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "added": result.added,
        "already": result.already,
        "rejected": result.rejected,
        "entries_marked_dnc": result.marked,
    }


async def settle(url: str) -> None:
    """PostgreSQL: VACUUM ANALYZE the list, as autovacuum would have by the time a campaign
    runs: the rolled-back raw write and the merges left as many dead rows as live ones."""
    if not url.startswith("postgresql"):
        return
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(url))
    try:
        await conn.execute("VACUUM ANALYZE call_list_entries", timeout=None)
    finally:
        await conn.close()


async def latency(
    sessions: Any, asks: int, ask: Callable[[Any, int], Awaitable[object]]
) -> dict[str, float]:
    times = []
    async with sessions() as db:
        for i in range(asks + 10):
            started = time.perf_counter()
            await ask(db, i)
            if i >= 10:  # after a warm-up
                times.append(time.perf_counter() - started)
    return percentiles(times)


async def run_database(url: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    kind = url.split(":")[0].split("+")[0]
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
        sessions = session_factory(engine)
        path = folder / "list.csv"
        shape = write_list_csv(path, args.rows, args.seed)
        _progress(f"{kind}: {args.rows:,} rows ({shape['bytes'] / 2**20:.1f} MB)")
        spring = await _campaign(sessions, "bench spring")
        _progress("  raw write (rolled back)")
        raw = await raw_write(url, spring, path)
        _progress("  number checks alone")
        checks = await asyncio.to_thread(number_checks, path)
        _progress(f"  ORM row by row, {args.orm_sample:,} rows")
        orm = await orm_row_by_row(
            sessions, await _campaign(sessions, "bench orm"), path, args.orm_sample
        )
        per_row = orm["sample_seconds"] / max(1, orm["sample_rows"])
        orm["extrapolated_seconds"] = round(per_row * args.rows, 1)
        _progress("  upload")
        first = await upload(sessions, spring, path)
        _progress("  the same file again (every row merged)")
        again = await upload(sessions, spring, path)
        _progress("  do-not-call import")
        dnc = await dnc_import(sessions, path, folder)
        now = utc_now()
        _progress("  reads")
        await settle(url)
        numbers = [number_as_typed(n, random.Random(n)) for n in range(0, args.rows, 97)]
        e164s = [normalise(n, REGION).e164 for n in numbers]
        reads = {
            "due_entries_50": await latency(
                sessions, 200, lambda db, i: due_entries(db, spring, now, 50)
            ),
            "list_summary": await latency(
                sessions, 50, lambda db, i: list_summary(db, spring, now=now)
            ),
            "is_listed": await latency(
                sessions, 1000, lambda db, i: is_listed(db, e164s[i % len(e164s)])
            ),
        }
        async with sessions() as db:
            summary = (await list_summary(db, spring, now=now)).as_dict()
    finally:
        await engine.dispose()
    return {
        "server": await server_facts(url),
        "file": shape,
        "upload": first,
        "upload_again_all_merged": again,
        "baselines": {
            "raw_write": raw,
            "number_checks": checks,
            "orm_row_by_row": orm,
            "upload_over_raw_write": round(first["seconds"] / raw["seconds"], 1)
            if raw["seconds"]
            else None,
            "orm_over_upload": round(orm["extrapolated_seconds"] / first["seconds"], 1),
        },
        "dnc_import": dnc,
        "reads_on_the_list": reads,
        "list": summary,
        "goal_met": first["seconds"] < GOAL_UPLOAD_SECONDS,
        "loadavg": round(os.getloadavg()[0], 2),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database", choices=("postgresql", "sqlite", "both"), default="sqlite")
    parser.add_argument("--database-url", default="", help="an empty database to use instead")
    parser.add_argument("--orm-sample", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.rows < 100 or args.orm_sample < 10:
        parser.error("need at least 100 rows and an ORM sample of 10")
    return args


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="cc-lists-"))
    started = time.perf_counter()
    results = {}
    try:
        with database_urls(args, folder) as urls:
            for kind, url in urls.items():
                results[kind] = asyncio.run(run_database(url, args, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "benchmark": "call_lists",
        "shape": {"rows": args.rows, "orm_sample": args.orm_sample, "seed": args.seed},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "goals": {"upload_seconds": GOAL_UPLOAD_SECONDS},
        "goal_met": {kind: r["goal_met"] for kind, r in results.items()},
        "seconds": round(time.perf_counter() - started, 1),
        "databases": results,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
