"""The do-not-call register: numbers nobody may dial, added by hand, by a CSV import, or by a
call whose result was "do not call"; removed by hand, with the reason in the audit trail.

``is_listed`` is the check made immediately before every dial: one look-up by the table's
primary key. Listing is also done early, where it saves a dial slot: adding a number marks its
pending entries in every campaign ``dnc`` (each an audit row), and an entry listed after its
number was registered is written ``dnc`` from the start (crm_core.call_lists). Removing a
number re-opens nothing: a team lead lists it again on purpose.

Services take the caller's session and never commit."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import bindparam, exists, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import Actor
from crm_core.call_lists import (
    BATCH,
    DNC,
    PENDING,
    UNNESTED_NUMBERS,
    UPLOAD_ALIASES,
    Rejected,
    check_all,
    indexed_entries,
    listed_numbers,
    read_list,
)
from crm_core.clock import Clock
from crm_core.errors import InvalidInput, NotFound
from crm_core.import_runs import close_run, open_run
from crm_core.models import AuditEntry, CallListEntry, Campaign, DoNotCall, User
from crm_core.phones import normalise
from crm_core.schemas import Input
from crm_core.text import Line

Source = Literal["manual", "import", "call_result"]
SOURCES: tuple[str, ...] = ("manual", "import", "call_result")
DNC_ALIASES = {
    **{k: v for k, v in UPLOAD_ALIASES.items() if v in ("phone", "reason")},
    "备注": "reason",
}

# Built once: it runs before every dial. Execute with {"e164": ...}.
IS_LISTED = select(DoNotCall.number_e164).where(DoNotCall.number_e164 == bindparam("e164"))


async def is_listed(session: AsyncSession, e164: str) -> bool:
    """True when the number (E.164) may not be dialled."""
    return await session.scalar(IS_LISTED, {"e164": e164}) is not None


class DncCreate(Input):
    number: Line(64)  # type: ignore[valid-type]
    reason: Line(255, min_length=0) = ""  # type: ignore[valid-type]


@dataclass(frozen=True, slots=True)
class DncAdded:
    entry: DoNotCall
    added: bool  # False: the number was listed already (the register is unchanged)
    marked: int  # pending list entries now dnc


@dataclass(frozen=True, slots=True)
class DncRow:
    entry: DoNotCall
    added_by_name: str | None

    def as_dict(self) -> dict[str, Any]:
        e = self.entry
        return {
            "number": e.number_e164,
            "reason": e.reason,
            "source": e.source,
            "added_by": e.added_by,
            "added_by_name": self.added_by_name,
            "added_at": e.added_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class DncPage:
    rows: list[DncRow]
    total: int
    page: int
    per_page: int

    @property
    def more(self) -> bool:
        return self.page * self.per_page < self.total


@dataclass(slots=True)
class DncImport:
    run_id: int
    added: int = 0
    already: int = 0  # listed before, or twice in the file
    marked: int = 0  # pending list entries now dnc
    problems: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.run_id,
            "added": self.added,
            "already": self.already,
            "marked": self.marked,
            "rejected": self.rejected,
            "first_rejections": [
                {"row": number, "reason": reason} for number, reason, _ in self.problems[:20]
            ],
            "report": f"/api/v1/imports/{self.run_id}/report",
        }


class DoNotCallService:
    """Commands and queries over one session; never commits. ``region``: what a national
    number means."""

    def __init__(self, session: AsyncSession, *, clock: Clock, region: str) -> None:
        self.session = session
        self.clock = clock
        self.region = region

    async def add(self, data: DncCreate, actor: Actor, *, source: Source = "manual") -> DncAdded:
        """List a number (any format); listing one already there changes nothing."""
        if source not in SOURCES:
            raise InvalidInput(f"{source!r} is not a source", field="source")
        e164 = self._number(data.number)
        now = self.clock()
        entry = await self.session.get(DoNotCall, e164)
        added = entry is None
        if entry is None:
            entry = DoNotCall(
                number_e164=e164,
                reason=data.reason,
                source=source,
                added_by=actor.user_id,
                added_at=now,
            )
            self.session.add(entry)
            await self.session.flush()
            audit.record(
                self.session,
                actor,
                at=now,
                action="dnc.add",
                entity_type="do_not_call",
                entity_id=e164,
                after={"reason": entry.reason, "source": source},
            )
        # Also when listed already: an entry written meanwhile by another path is caught.
        marked = await mark_entries(self.session, [e164], actor=actor, now=now)
        return DncAdded(entry, added, marked)

    async def remove(self, number: str, actor: Actor, *, reason: str = "") -> DoNotCall:
        """Take a number off the register; NotFound when it is not on it."""
        e164 = self._number(number)
        entry = await self.session.get(DoNotCall, e164)
        if entry is None:
            raise NotFound(f"{e164} is not on the do-not-call register", field="number")
        if len(reason) > 255 or not reason.isprintable():
            raise InvalidInput("one line of at most 255 characters", field="reason")
        before = {
            "reason": entry.reason,
            "source": entry.source,
            "added_by": entry.added_by,
            "added_at": entry.added_at.isoformat(),
        }
        await self.session.delete(entry)
        await self.session.flush()
        audit.record(
            self.session,
            actor,
            at=self.clock(),
            action="dnc.remove",
            entity_type="do_not_call",
            entity_id=e164,
            before=before,
            after={"reason": reason},
        )
        return entry

    async def search(
        self,
        query: str = "",
        *,
        source: str | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> DncPage:
        """The register, newest first: one number (any format), numbers starting with the
        digits typed, or entries whose reason has the words."""
        if source is not None and source not in SOURCES:
            raise InvalidInput(f"{source!r} is not a source", field="source")
        if page < 1 or not 1 <= per_page <= 500:
            raise InvalidInput("page from 1, 1 to 500 per page", field="page")
        conditions = []
        text = query.strip()
        if text:
            number = normalise(text, self.region)
            digits = text.lstrip("+")
            if number.usable:
                conditions.append(DoNotCall.number_e164 == number.e164)
            elif digits.isdigit():
                conditions.append(DoNotCall.number_e164.like(f"+{digits}%"))
            else:
                escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                conditions.append(func.lower(DoNotCall.reason).like(f"%{escaped}%", escape="\\"))
        if source is not None:
            conditions.append(DoNotCall.source == source)
        total = await self.session.scalar(
            select(func.count()).select_from(DoNotCall).where(*conditions)
        )
        rows = await self.session.execute(
            select(DoNotCall, User.display_name)
            .outerjoin(User, User.id == DoNotCall.added_by)
            .where(*conditions)
            .order_by(DoNotCall.added_at.desc(), DoNotCall.number_e164)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        return DncPage([DncRow(*row) for row in rows.all()], total or 0, page, per_page)

    async def import_file(self, path: Path, filename: str, actor: Actor) -> DncImport:
        """A CSV or xlsx of numbers (a phone column: phone, number, 电话, 号码, …; optionally a
        reason). Each row is checked on its own, refused rows go to the report (``ImportRun``
        kind "dnc"); then every pending list entry of a listed number is marked dnc.
        InvalidInput for a file that cannot be used at all: the whole file is read and checked
        before anything is written (crm_core.call_lists.check_all)."""
        listing = await asyncio.to_thread(read_list, path, filename, DNC_ALIASES, "phone")
        try:
            checks = await asyncio.to_thread(check_all, listing, _check_rows, self.region)
        finally:
            await asyncio.to_thread(listing.close)
        try:
            now = self.clock()
            run = await open_run(self.session, "dnc", filename, actor, now)
            outcome = DncImport(run.id)
            default_reason = f"List {filename}"[:255]
            for good, bad in checks:
                outcome.problems.extend(bad)
                await self._store(good, default_reason, actor, now, outcome)
        finally:
            checks.close()
        # One pass over the pending entries, not one per batch: no index leads with the number.
        outcome.marked = await mark_entries(self.session, None, actor=actor, now=now)
        close_run(
            self.session,
            run,
            actor,
            at=self.clock(),
            imported=outcome.added + outcome.already,
            problems=outcome.problems,
            columns=listing.columns,
            action="dnc.import",
            details={"added": outcome.added, "already": outcome.already, "marked": outcome.marked},
        )
        return outcome

    async def _store(
        self,
        good: list[tuple[str, str]],
        default_reason: str,
        actor: Actor,
        now: datetime,
        outcome: DncImport,
    ) -> None:
        wanted: dict[str, str] = {}
        for e164, reason in good:
            if e164 in wanted:
                outcome.already += 1
            else:
                wanted[e164] = reason
        listed = await listed_numbers(self.session, wanted)
        outcome.already += len(listed)
        fresh = [
            {
                "number_e164": e164,
                "reason": reason or default_reason,
                "source": "import",
                "added_by": actor.user_id,
                "added_at": now,
            }
            for e164, reason in wanted.items()
            if e164 not in listed
        ]
        if fresh:
            await self.session.execute(insert(DoNotCall.__table__), fresh)
            outcome.added += len(fresh)

    def _number(self, raw: str) -> str:
        number = normalise(raw, self.region)
        if not number.usable:
            raise InvalidInput(f"{raw.strip()[:40]!r} is not a phone number", field="number")
        return number.e164


def _check_rows(
    rows: list[tuple[int, dict[str, str]]], region: str
) -> tuple[list[tuple[str, str]], list[tuple[int, str, dict[str, str]]]]:
    """(number, reason) of the good rows; the others with why (run in a thread)."""
    good, bad = [], []
    for row, cells in rows:
        try:
            good.append(_checked(cells, region))
        except Rejected as exc:
            bad.append((row, str(exc), cells))
    return good, bad


def _checked(cells: dict[str, str], region: str) -> tuple[str, str]:
    raw = cells.get("phone", "")
    if not raw:
        raise Rejected("phone: empty")
    number = normalise(raw, region)
    if not number.usable:
        raise Rejected(f"phone: {raw[:40]!r} is not a phone number")
    reason = cells.get("reason", "")
    if len(reason) > 255 or not reason.isprintable():
        raise Rejected("reason: one line of at most 255 characters")
    return number.e164, reason


async def mark_entries(
    session: AsyncSession, numbers: Collection[str] | None, *, actor: Actor, now: datetime
) -> int:
    """Mark ``dnc`` the pending entries, in every campaign, of ``numbers`` (None: of every
    number on the register); each an audit row. Returns how many."""
    c = CallListEntry
    marked = 0
    postgres = session.bind.dialect.name == "postgresql"
    for condition, params in _conditions(numbers, postgres):
        rows = await session.execute(
            update(c)
            .where(c.state == PENDING, condition)
            .values(state=DNC, updated_at=now)
            .returning(c.id, c.campaign_id, c.number_e164)
            .execution_options(synchronize_session="fetch"),
            params,
        )
        changed = rows.all()
        if not changed:
            continue
        marked += len(changed)
        # Core: a big import may mark thousands at once.
        await session.execute(
            insert(AuditEntry.__table__),
            [
                {
                    "at": now,
                    "actor_id": actor.user_id,
                    "actor_name": actor.name[:64],
                    "action": "call_list_entry.dnc",
                    "entity_type": "call_list_entry",
                    "entity_id": str(entry_id),
                    "before": {"state": PENDING},
                    "after": {"state": DNC, "campaign_id": campaign_id, "number": number},
                    "client_ip": actor.client_ip,
                    "request_id": actor.request_id,
                }
                for entry_id, campaign_id, number in changed
            ],
        )
    return marked


def _conditions(
    numbers: Collection[str] | None, postgres: bool
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Which entries to mark, with the parameters that go with it: every campaign's entry of
    each number, found through the (campaign_id, number_e164) unique index."""
    c = CallListEntry
    if numbers is None:
        yield exists().where(DoNotCall.number_e164 == c.number_e164), {}
        return
    wanted = sorted(set(numbers))
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start : start + BATCH]
        if postgres:  # one probe per campaign and number (see indexed_entries)
            probe = indexed_entries(Campaign.id, UNNESTED_NUMBERS, "id")
            found = (
                select(probe.c.id)
                .select_from(Campaign)
                .join(UNNESTED_NUMBERS, true())
                .join(probe, true())
            )
            yield c.id.in_(found), {"numbers": chunk}
        else:
            yield c.campaign_id.in_(select(Campaign.id)) & c.number_e164.in_(chunk), {}
