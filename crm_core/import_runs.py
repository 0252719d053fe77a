"""The record of one file import (``ImportRun``): opened before its first row is written,
closed with its counts, the report of its refused rows and an audit row. Customers, products,
call lists and the do-not-call register all keep one. A service: it takes a session and never
commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import Actor
from crm_core.models import ImportRun
from crm_core.tabular import report_csv

Problem = tuple[int, str, dict[str, str]]  # row number, why it was refused, what it held


async def open_run(
    session: AsyncSession, kind: str, filename: str, actor: Actor, at: datetime
) -> ImportRun:
    run = ImportRun(
        kind=kind,
        filename=filename[:255],
        user_id=actor.user_id,
        started_at=at,
        imported=0,
        rejected=0,
        report="",
    )
    session.add(run)
    await session.flush()  # its id names the report and the rows it writes
    return run


def close_run(
    session: AsyncSession,
    run: ImportRun,
    actor: Actor,
    *,
    at: datetime,
    imported: int,
    problems: Sequence[Problem],
    columns: Sequence[str],
    action: str,
    details: dict[str, Any],
) -> None:
    """The run's counts and report of refused rows, and the audit row ``action`` with
    ``details`` beside the file and the rows refused."""
    run.finished_at = at
    run.imported, run.rejected = imported, len(problems)
    run.report = report_csv(problems, columns)
    audit.record(
        session,
        actor,
        at=at,
        action=action,
        entity_type="import",
        entity_id=run.id,
        after={"file": run.filename, **details, "rejected": run.rejected},
    )
