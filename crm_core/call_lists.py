"""Call lists (CallBack List): the numbers a campaign calls, each with the reason for the call.

A number is on a campaign's list once (``uq_call_list_entries_number``): a second reason to
call it is merged into the entry already there (``merge``, pure). The merge keeps the earlier
entry, adds the new reason's text and the script fields it lacks, fills a customer or a name it
did not know, and leaves its state and attempts alone, with two exceptions, each an audit row:

- a reason that asks for a call about something new (an order to confirm, a promised
  callback) re-opens an entry that is ``done`` as ``pending`` (attempts from 0: it is a new
  call about a new thing; its last outcome is kept);
- a personal callback re-times a ``pending`` entry to the callback's time and agent.

A reason naming something the call's result acts on (the order to confirm, the callback) takes
over the entry's ``reason_kind`` and ``reason_ref`` from a marketing one; the others' keys
stay in the entry's fields.

A reason is new when its key (``reason_key``: kind and reference) is not among those the entry
has taken (kept in its fields under ``_reasons``): merging the same reason twice changes
nothing, so every generator, and the standing rules, can run any number of times.

Entries come from generators, each one batch: orders awaiting confirmation, a segment of
customers, abandoned inbound calls, personal callbacks coming due, and CSV/xlsx uploads.
Standing rules (``ListRule``) re-run the first three (``run_rules``). Rows are written in
batches of ``BATCH`` straight to the driver, the numbers already listed read per batch: 100,000
uploaded rows take about 20 s here (two shared cores), nearly half of it phonenumbers' checks
(bench/call_lists.py), made before the caller's transaction writes anything (``check_all``).
Everything is written in the caller's transaction: a refused file leaves nothing.

A number on the do-not-call register is listed as ``dnc`` (and never re-opened): the register
is checked again before every dial (``crm_core.do_not_call.is_listed``).

Abandoned calls: a call record's ``callback_needed`` means "waiting for a list". Once a call is
on a list (or needs no callback: it has no number, or the customer got through since) the flag
is cleared, so each abandoned call goes onto one list once, and the flagged calls stay few."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import pickle
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

import phonenumbers
from pydantic import AwareDatetime, Field, StringConstraints, ValidationError
from sqlalchemy import (
    ARRAY,
    Select,
    String,
    any_,
    bindparam,
    case,
    exists,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import SYSTEM, Actor
from crm_core.clock import Clock, utc_now
from crm_core.customers import CustomerFilters
from crm_core.dial_rules import DEFAULT_FICTIONAL_PREFIXES
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.import_runs import close_run, open_run
from crm_core.models import (
    Callback,
    CallListEntry,
    CallRecord,
    Campaign,
    Customer,
    DoNotCall,
    ListRule,
    Order,
    OrderLine,
    PhoneNumber,
    Product,
)
from crm_core.money import money
from crm_core.orders import COMPLETED, CONFIRMED, SHIPPED, orders_awaiting_confirmation
from crm_core.phones import normalise
from crm_core.schemas import Input
from crm_core.tabular import read_sheet

T = TypeVar("T")

BATCH = 1000  # entries per insert, and numbers per look-up of those already listed
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # 100,000 rows of a list fit in about 6 MB
MAX_FIELD = 1000  # characters of one uploaded cell kept for the script
MAX_REASONS = 100  # reason keys an entry remembers
REASONS_KEY = "_reasons"

PENDING, DIALLING, DONE, FAILED, DNC, CANCELLED_ENTRY = (
    "pending",
    "dialling",
    "done",
    "failed",
    "dnc",
    "cancelled",
)
STATES = (PENDING, DIALLING, DONE, FAILED, DNC, CANCELLED_ENTRY)
KINDS = ("order_confirmation", "segment", "abandoned_call", "callback", "upload", "manual")
RULE_KINDS = ("order_confirmation", "segment", "abandoned_call")
OPEN_CAMPAIGNS = ("draft", "running", "paused")  # a stopped campaign's list is closed
RULE_CAMPAIGNS = ("running", "paused")
# A reason naming something to act on takes over an entry's kind and reference from a weaker
# one, so that the result of the call acts on it (an order confirmed is the order listed).
_WEIGHT = {"order_confirmation": 3, "callback": 2, "abandoned_call": 1}
# Reasons that re-open an entry already done: a new order to confirm, a new promised call.
REOPENING = frozenset({"order_confirmation", "callback"})
_BOUGHT = (CONFIRMED, SHIPPED, COMPLETED)  # orders whose products the customer has bought

# Upload columns by what people call them (headers are lower-cased by crm_core.tabular).
UPLOAD_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        (
            "phone", "number", "numbers", "telephone", "tel", "mobile", "phone_number",
            "phone number", "电话", "号码", "电话号码", "手机", "手机号", "手机号码", "联系电话",
        ),
        "phone",
    ),
    **dict.fromkeys(("name", "姓名", "名字", "客户名称", "客户姓名", "联系人"), "name"),
    **dict.fromkeys(
        ("account_number", "account", "account number", "客户编号", "账号"), "account_number"
    ),
    **dict.fromkeys(("customer_id", "customer id", "客户id"), "customer_id"),
    **dict.fromkeys(("reason", "原因", "事由"), "reason"),
    **dict.fromkeys(("first_name", "first name", "名"), "first_name"),
    **dict.fromkeys(("last_name", "last name", "姓"), "last_name"),
    **dict.fromkeys(("company", "公司", "单位"), "company"),
}  # fmt: skip
_ACCOUNT = re.compile(r"^[A-Za-z0-9-]{1,64}$")

CallListTable = CallListEntry.__table__
# The look-ups made for every batch, built once ("numbers": a batch's).
_NUMBERS = bindparam("numbers", expanding=True)
_READ_FOR_MERGE = (
    "id", "number_e164", "number_raw", "customer_id", "name", "reason_kind", "reason_ref",
    "reason_text", "fields", "state", "attempts", "next_attempt_at", "owner_user_id",
)  # fmt: skip
_EXISTING = select(*(CallListTable.c[name] for name in _READ_FOR_MERGE)).where(
    CallListTable.c.campaign_id == bindparam("campaign_id"),
    CallListTable.c.number_e164.in_(_NUMBERS),
)


def indexed_entries(campaign: Any, numbers: Any, *columns: str) -> Any:
    """PostgreSQL: the entries of ``numbers`` (a set-returning function's ``number``) in the
    campaigns ``campaign`` names, each found by its own probe of the (campaign_id,
    number_e164) unique index. As "campaign_id = :c AND number_e164 IN (…)" the planner may
    read every entry of the campaign instead, testing each against the list (a generic plan
    cannot hash a list of parameters): during a big upload, whose rows the table's statistics
    do not count yet, a second a batch. LIMIT 1 keeps each probe a probe (the key is
    unique)."""
    c = CallListTable.alias("probed").c  # an alias: never taken for an UPDATE's own table
    return (
        select(*(c[name] for name in columns))
        .where(c.campaign_id == campaign, c.number_e164 == numbers.c.number)
        .limit(1)
        .lateral()
    )


UNNESTED_NUMBERS = (
    func.unnest(bindparam("numbers", type_=ARRAY(String))).table_valued("number").render_derived()
)
_PG_EXISTING_PROBE = indexed_entries(bindparam("campaign_id"), UNNESTED_NUMBERS, *_READ_FOR_MERGE)
_PG_EXISTING = (
    select(_PG_EXISTING_PROBE).select_from(UNNESTED_NUMBERS).join(_PG_EXISTING_PROBE, true())
)
# PostgreSQL takes the batch as one array ("= ANY($1)") rather than a thousand parameters,
# each rendered and cast by SQLAlchemy at every execution.
_NUMBER_ARRAY = any_(bindparam("numbers", type_=ARRAY(String)))
_LISTED = {
    postgres: select(DoNotCall.number_e164).where(
        DoNotCall.number_e164 == _NUMBER_ARRAY if postgres else DoNotCall.number_e164.in_(_NUMBERS)
    )
    for postgres in (False, True)
}
_OWNERS = {
    postgres: select(PhoneNumber.e164, Customer.id, Customer.name)
    .join(Customer, Customer.id == PhoneNumber.customer_id)
    .where(PhoneNumber.e164 == _NUMBER_ARRAY if postgres else PhoneNumber.e164.in_(_NUMBERS))
    for postgres in (False, True)
}
# What a new entry is written with (last_attempt_at stays NULL).
_INSERTED = (
    "campaign_id", "customer_id", "number_e164", "number_raw", "name", "reason_kind",
    "reason_ref", "reason_text", "fields", "state", "attempts", "last_outcome",
    "next_attempt_at", "owner_user_id", "created_at", "updated_at", "fence",
)  # fmt: skip


_UNTYPED = sa_table(CallListTable.name, *(sa_column(c.name) for c in CallListTable.c))
# Written straight to the driver, with the parameters in the order named.
_INSERT = (insert(_UNTYPED).values({name: bindparam(name) for name in _INSERTED}), _INSERTED)
_MERGED_COLUMNS = (
    "customer_id", "name", "reason_kind", "reason_ref", "reason_text", "fields", "updated_at",
)  # fmt: skip
_MERGED = (
    update(_UNTYPED)
    .where(_UNTYPED.c.id == bindparam("entry_id"))
    .values({name: bindparam(name) for name in _MERGED_COLUMNS}),
    (*_MERGED_COLUMNS, "entry_id"),
)


@functools.lru_cache(maxsize=32)
def _driver_sql(statement: Any, dialect: Any) -> tuple[str, tuple[str, ...] | None]:
    """A statement in the driver's own parameter style, and the order of its parameters
    (None: by name)."""
    compiled = statement.compile(dialect=dialect)
    order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
    return str(compiled), order


async def _executemany(
    connection: Any, statement: tuple[Any, tuple[str, ...]], rows: list[tuple[Any, ...]]
) -> None:
    """Rows (values in the order ``statement`` names) straight to the driver's executemany:
    at 100,000 rows, SQLAlchemy's converting and arranging each row's parameters cost more
    than the database's writing them. The statement's table is untyped, so values go as given:
    times converted by the column's type first (``_times``)."""
    sql, order = _driver_sql(statement[0], connection.dialect)
    names = statement[1]
    if order is None:
        await connection.exec_driver_sql(sql, [dict(zip(names, v, strict=True)) for v in rows])
    elif order != names:
        at = [names.index(name) for name in order]
        await connection.exec_driver_sql(sql, [tuple(v[i] for i in at) for v in rows])
    else:
        await connection.exec_driver_sql(sql, rows)


def _postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


def _times(dialect: Any) -> Callable[[datetime], Any]:
    """A time as the database driver takes it for the table's time columns."""
    convert = CallListTable.c.created_at.type.bind_processor(dialect)
    return convert if convert is not None else (lambda value: value)


class Rejected(ValueError):
    """A row refused, and why (one line of the report)."""


# --- what is added, and the merge (pure) -------------------------------------------------------


@dataclass(slots=True)  # not frozen: 100,000 are made per upload, and frozen costs twice
class NewEntry:
    """A number to add to a campaign's list, and why."""

    number_e164: str
    reason_kind: str
    reason_ref: str = ""
    reason_text: str = ""
    number_raw: str = ""
    customer_id: int | None = None
    name: str = ""
    fields: dict[str, Any] = field(default_factory=dict)  # the script's: name, order, ...
    next_attempt_at: datetime | None = None  # None: due now
    owner_user_id: int | None = None  # a personal callback's agent


def reason_key(entry: NewEntry) -> str:
    """What makes a reason the same reason: its kind and what it refers to (the order, the
    call, the rule, the import), or its words when it refers to nothing."""
    return f"{entry.reason_kind}:{entry.reason_ref or entry.reason_text}"[:200]


@dataclass(slots=True)
class Entry:
    """An entry as the merge sees it: one of the table's (``id`` set) or one to insert."""

    id: int | None
    number_e164: str
    number_raw: str
    customer_id: int | None
    name: str
    reason_kind: str
    reason_ref: str
    reason_text: str
    fields: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime | None
    owner_user_id: int | None
    changed: bool = False  # reason, fields, customer or name: written back
    state_read: str = ""  # the state when read: a re-time or re-open is written only if so


def promised_callbacks(fields: str) -> list[int]:
    """The callbacks (their ids) an entry was listed for, from its stored fields."""
    try:
        reasons = json.loads(fields or "{}").get(REASONS_KEY, [])
    except (ValueError, AttributeError):
        return []
    refs = (key.removeprefix("callback:") for key in reasons if isinstance(key, str))
    return [int(ref) for ref in refs if ref.isdigit()]


def new_entry(entry: NewEntry, *, listed: bool) -> Entry:
    return Entry(
        id=None,
        number_e164=entry.number_e164,
        number_raw=entry.number_raw[:64],
        customer_id=entry.customer_id,
        name=entry.name[:200],
        reason_kind=entry.reason_kind,
        reason_ref=entry.reason_ref[:64],
        reason_text=entry.reason_text[:500],
        fields={**entry.fields, REASONS_KEY: [reason_key(entry)]},
        state=DNC if listed else PENDING,
        attempts=0,
        next_attempt_at=entry.next_attempt_at,
        owner_user_id=entry.owner_user_id,
    )


def merge(entry: Entry, new: NewEntry, *, listed: bool) -> str | None:
    """Fold a second reason to call the number into the entry. Returns "reopened" when a done
    entry is pending again, "retimed" when a pending one takes a callback's time and agent,
    else None (the state is left alone). ``listed``: the number is on the do-not-call register
    (nothing is re-opened then)."""
    if entry.customer_id is None and new.customer_id is not None:
        entry.customer_id, entry.changed = new.customer_id, True
    if not entry.name and new.name:
        entry.name, entry.changed = new.name[:200], True
    if not entry.number_raw and new.number_raw:
        entry.number_raw = new.number_raw[:64]
    for name, value in new.fields.items():
        if name not in entry.fields:
            entry.fields[name], entry.changed = value, True
    key = reason_key(new)
    reasons = entry.fields.get(REASONS_KEY)
    if not isinstance(reasons, list):
        reasons = entry.fields[REASONS_KEY] = []
    if key in reasons:
        return None
    entry.changed = True
    reasons.append(key)
    del reasons[:-MAX_REASONS]
    if new.reason_text and new.reason_text not in entry.reason_text:
        joined = f"{entry.reason_text}; {new.reason_text}" if entry.reason_text else new.reason_text
        entry.reason_text = joined if len(joined) <= 500 else joined[:499] + "…"
    takes_over = _WEIGHT.get(new.reason_kind, 0) > _WEIGHT.get(entry.reason_kind, 0)
    event = None
    if entry.state == DONE and new.reason_kind in REOPENING and not listed:
        entry.state, entry.attempts, takes_over, event = PENDING, 0, True, "reopened"
        entry.next_attempt_at, entry.owner_user_id = new.next_attempt_at, new.owner_user_id
    elif entry.state == PENDING and new.reason_kind == "callback":
        entry.next_attempt_at, entry.owner_user_id, event = (
            new.next_attempt_at,
            new.owner_user_id,
            "retimed",
        )
    if takes_over:
        entry.reason_kind, entry.reason_ref = new.reason_kind, new.reason_ref[:64]
    return event


@dataclass(slots=True)
class AddResult:
    """What one generator (or upload) did to a list."""

    added: int = 0  # new entries (``dnc`` among them)
    merged: int = 0  # numbers already on the list (or twice in the batch): merged
    updated: int = 0  # entries already listed that took a new reason (or customer, name)
    reopened: int = 0  # done entries pending again
    retimed: int = 0  # pending entries that took a callback's time
    dnc: int = 0  # new entries listed as dnc: the number is on the register
    skipped: int = 0  # sources with no number to call (a customer without one)
    cleared: int = 0  # abandoned calls whose flag was cleared (listed or not needed)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(slots=True)
class ListImport:
    """An uploaded list: what it added, and every refused row (the report)."""

    run_id: int
    result: AddResult = field(default_factory=AddResult)
    problems: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.run_id,
            **self.result.as_dict(),
            "rejected": self.rejected,
            # The first refusals inline; all of them in the report.
            "first_rejections": [
                {"row": number, "reason": reason} for number, reason, _ in self.problems[:20]
            ],
            "report": f"/api/v1/imports/{self.run_id}/report",
        }


# --- reading an uploaded list (no database; run in a thread) ----------------------------------


@dataclass(frozen=True, slots=True)
class ListFile:
    """An uploaded list opened: its columns (under the names we read them by) and its rows."""

    columns: tuple[str, ...]
    rows: Iterator[tuple[int, dict[str, str]]]
    source: Iterator[tuple[int, dict[str, str]]]  # crm_core.tabular's, holding the file

    def close(self) -> None:
        # Both: closing a generator never started does not run its ``finally``. ValueError:
        # a thread still reads it (its waiter was cancelled); it is closed when collected.
        for rows in (self.rows, self.source):
            with contextlib.suppress(ValueError):
                getattr(rows, "close", lambda: None)()


def read_list(path: Path, filename: str, aliases: dict[str, str], required: str) -> ListFile:
    """Open an uploaded CSV or xlsx (crm_core.tabular: UTF-8, UTF-8 with BOM or GBK). Raises
    InvalidInput, before anything is read further, for a file over MAX_UPLOAD_BYTES, one that
    is no list, or one without the ``required`` column."""
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            f"{filename}: the file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it",
            field="file",
        )
    if size == 0:
        raise InvalidInput(f"{filename}: the file is empty", field="file")
    sheet = read_sheet(path, filename)
    # The first column of each kind is read as that kind; a second "mobile" beside "phone"
    # stays a column of its own (kept for the script).
    names: list[str] = []
    for column in sheet.columns:
        target = aliases.get(column, column)
        names.append(target if target not in names else column)
    if required not in names:
        getattr(sheet.rows, "close", lambda: None)()
        known = ", ".join(sorted(k for k, v in aliases.items() if v == required)[:8])
        raise InvalidInput(
            f"{filename}: no {required} column in the header (one of {known}, …)", field="file"
        )
    renamed = dict(zip(sheet.columns, names, strict=True))

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for number, cells in sheet.rows:
            yield number, {renamed.get(k, k): v for k, v in cells.items()}

    return ListFile(tuple(names), rows(), sheet.rows)


class CheckedRows(Generic[T]):
    """What ``check_all`` made of a list's rows, batch by batch, kept in an unnamed temporary
    file (memory stays flat whatever the list's length) until read back once."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()
        self._batches = 0

    def add(self, checked: T) -> None:
        pickle.dump(checked, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._batches += 1

    def __iter__(self) -> Iterator[T]:
        self._file.seek(0)
        for _ in range(self._batches):
            yield pickle.load(self._file)  # our own file, written just now

    def close(self) -> None:
        self._file.close()


def check_all(listing: ListFile, check: Callable[..., T], *args: Any) -> CheckedRows[T]:
    """Every row of an opened list, in batches of BATCH, through ``check(rows, *args)`` (run
    it in a thread: a phone number's checks cost some 70 µs). The whole file is read before
    anything is written, so that a file unreadable halfway (a wrong encoding past the part
    the encoding was guessed from) is refused with nothing written, and so that the caller's
    transaction holds SQLite's one write lock only while it writes: checking 100,000 numbers
    takes longer than SQLite's writers wait (15 s)."""
    checked: CheckedRows[T] = CheckedRows()
    try:
        while rows := take(listing.rows, BATCH):
            checked.add(check(rows, *args))
    except BaseException:
        checked.close()
        raise
    return checked


def take(
    rows: Iterator[tuple[int, dict[str, str]]], count: int
) -> list[tuple[int, dict[str, str]]]:
    batch = []
    for item in rows:
        batch.append(item)
        if len(batch) == count:
            break
    return batch


def dialable(raw: str, region: str, fictional: Sequence[str] = DEFAULT_FICTIONAL_PREFIXES) -> str:
    """The E.164 of a number to put on a list, or Rejected: it must be a phone number
    (``normalise``) that its numbering plan assigns (a +44 number a digit short is possible
    but no number), unless it is fictional (+1 555: the demo's and the simulator's)."""
    given = raw.strip()
    if not given:
        raise Rejected("phone: empty")
    number = normalise(given, region)
    if not number.usable:
        raise Rejected(f"phone: {given[:40]!r} is not a phone number")
    if number.e164.startswith(tuple(fictional)) or assigned(number.e164):
        return number.e164
    raise Rejected(f"phone: {given[:40]!r} is no such number (wrong length or prefix)")


def assigned(e164: str) -> bool:
    """``is_valid_number`` of an E.164 from ``normalise``. The number is built from its digits
    (a third of what parsing costs: it counts at 100,000 rows) and parsed only when that says
    no, since parsing may strip a national prefix and find the rest valid."""
    digits = e164[1:]
    for size in (1, 2, 3):
        code = int(digits[:size] or 0)
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            if not national.isdigit():
                break
            number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
            zeros = len(national) - len(national.lstrip("0"))
            if zeros:
                number.italian_leading_zero = True
                if zeros > 1:
                    number.number_of_leading_zeros = zeros
            if phonenumbers.is_valid_number(number):
                return True
            break
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return False


def _text(cells: dict[str, str], name: str, limit: int) -> str:
    value = cells.get(name, "")
    if len(value) > limit or not value.isprintable():
        raise Rejected(f"{name}: one line of at most {limit} characters")
    return value


@dataclass(slots=True)
class _UploadRow:
    row: int
    cells: dict[str, str]
    e164: str
    name: str
    reason: str
    account_number: str
    customer_id: int | None
    fields: dict[str, str]


_UPLOAD_OWN = frozenset({"phone", "name", "reason", "account_number", "customer_id"})


def _check_upload(
    batch: list[tuple[int, dict[str, str]]], region: str, fictional: Sequence[str]
) -> tuple[list[_UploadRow], list[tuple[int, str, dict[str, str]]]]:
    """The rows of a batch as far as they can be checked without the database."""
    good, bad = [], []
    for number, cells in batch:
        try:
            e164 = dialable(cells.get("phone", ""), region, fictional)
            name = _text(cells, "name", 200)
            reason = _text(cells, "reason", 500)
            account = cells.get("account_number", "")
            if account and not _ACCOUNT.match(account):
                raise Rejected("account_number: letters, digits and '-', at most 64")
            given_id = cells.get("customer_id", "")
            if given_id and (not given_id.isdigit() or len(given_id) > 18):
                raise Rejected(f"customer_id: {given_id[:20]!r} is not a customer id")
            fields = {}
            for column, value in cells.items():
                if column in _UPLOAD_OWN or column == REASONS_KEY or not value:
                    continue
                if len(value) > MAX_FIELD:
                    raise Rejected(f"{column}: at most {MAX_FIELD} characters")
                fields[column] = value
            if name:
                fields.setdefault("name", name)
            good.append(
                _UploadRow(
                    number,
                    cells,
                    e164,
                    name,
                    reason,
                    account,
                    int(given_id) if given_id else None,
                    fields,
                )
            )
        except Rejected as exc:
            bad.append((number, str(exc), cells))
    return good, bad


# --- segments and rules ------------------------------------------------------------------------

ProductRef = int | Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Segment(Input):
    """A marketing segment: customers matching every filter given."""

    region: str | None = Field(default=None, max_length=64)
    level: str | None = Field(default=None, max_length=64)
    company: str | None = Field(default=None, max_length=200, description="Start of the name")
    account_manager_id: int | None = Field(default=None, ge=1)
    churn: bool | None = Field(default=None, description="Flagged by the churn check")
    last_order_before: AwareDatetime | None = Field(
        default=None, description="The last order placed before (customers with an order)"
    )
    last_order_after: AwareDatetime | None = None
    products: list[ProductRef] = Field(
        default_factory=list, max_length=100, description="Bought any of: product ids or codes"
    )


class OrderRule(Input):
    waiting_minutes: int = Field(default=0, ge=0, le=60 * 24 * 90)  # give the customer time


class AbandonedRule(Input):
    queues: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=50, description="Only calls abandoned in these"
    )


_RULE_INPUTS: dict[str, type[Input]] = {
    "order_confirmation": OrderRule,
    "segment": Segment,
    "abandoned_call": AbandonedRule,
}


def rule_filters(kind: str, filters: str | dict[str, Any]) -> Input:
    """A rule's filters checked: InvalidInput names what is wrong."""
    model = _RULE_INPUTS.get(kind)
    if model is None:
        raise InvalidInput(f"no standing rule of kind {kind!r}", field="kind")
    try:
        if isinstance(filters, str):
            return model.model_validate_json(filters or "{}")
        return model.model_validate(filters)
    except ValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in problem["loc"]) or "filters"
        raise InvalidInput(f"filters: {where}: {problem['msg']}", field=f"filters.{where}") from exc


@dataclass(frozen=True, slots=True)
class RuleRun:
    rule_id: int
    campaign_id: int
    kind: str
    result: AddResult | None
    error: str = ""  # a rule whose filters no longer hold (a product since deleted, ...)


# --- the service --------------------------------------------------------------------------------


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _json(fields: dict[str, Any]) -> str:
    return _ENCODER.encode(fields)


def _like_prefix(column: Any, prefix: str) -> Any:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped + "%", escape="\\")


class CallLists:
    """Adding to campaigns' lists, over one session; never commits. ``region``: what a
    national number means when the campaign names no region of its own."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        clock: Clock,
        region: str,
        fictional_prefixes: Sequence[str] = DEFAULT_FICTIONAL_PREFIXES,
    ) -> None:
        self.session = session
        self.clock = clock
        self.region = region
        self.fictional = tuple(fictional_prefixes)

    # generators

    async def add(
        self, campaign_id: int, entries: Iterable[NewEntry], actor: Actor, *, source: str = "manual"
    ) -> AddResult:
        """Entries made by the caller (numbers already E.164), in batches."""
        campaign = await self._campaign(campaign_id)

        async def batches() -> AsyncIterator[list[NewEntry]]:
            batch: list[NewEntry] = []
            for entry in entries:
                batch.append(entry)
                if len(batch) == BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch

        return await self._add(campaign, batches(), actor, source, AddResult())

    async def add_number(
        self,
        campaign_id: int,
        number: str,
        actor: Actor,
        *,
        name: str = "",
        customer_id: int | None = None,
        reason: str = "",
        fields: dict[str, Any] | None = None,
    ) -> AddResult:
        """One number typed by the team lead (any format; InvalidInput if it is none)."""
        campaign = await self._campaign(campaign_id)
        try:
            e164 = dialable(number, campaign.region or self.region, self.fictional)
            name = _text({"name": name}, "name", 200)
            reason = _text({"reason": reason}, "reason", 500)
        except Rejected as exc:
            column = str(exc).split(":", 1)[0]
            raise InvalidInput(str(exc), field="number" if column == "phone" else column) from None
        if customer_id is not None and not await self.session.scalar(
            select(Customer.id).where(Customer.id == customer_id)
        ):
            raise InvalidInput(f"no customer {customer_id}", field="customer_id")
        entry = NewEntry(
            number_e164=e164,
            reason_kind="manual",
            reason_text=reason or "Added by hand",
            number_raw=number.strip()[:64],
            customer_id=customer_id,
            name=name,
            fields=dict(fields or {}),
        )

        async def one() -> AsyncIterator[list[NewEntry]]:
            yield [entry]

        return await self._add(campaign, one(), actor, "manual", AddResult())

    async def add_order_confirmations(
        self,
        campaign_id: int,
        actor: Actor,
        *,
        waiting_minutes: int = 0,
        rule_id: int | None = None,
    ) -> AddResult:
        """Every order awaiting the customer's confirmation (that has waited ``waiting_minutes``),
        to the customer's main number; the reference is the order's id."""
        campaign = await self._campaign(campaign_id)
        before = self.clock() - timedelta(minutes=waiting_minutes) if waiting_minutes else None
        result = AddResult()
        return await self._add(
            campaign, self._orders(before, result), actor, "order_confirmation", result, rule_id
        )

    async def add_segment(
        self,
        campaign_id: int,
        segment: Segment,
        actor: Actor,
        *,
        label: str = "",
        rule_id: int | None = None,
    ) -> AddResult:
        """Every customer of the segment, to their main number. ``label`` names the segment
        in the reason (default: its filters)."""
        campaign = await self._campaign(campaign_id)
        products = await self._product_ids(segment.products)
        text = (label or _describe(segment))[:500]
        ref = f"rule:{rule_id}" if rule_id is not None else ""
        result = AddResult()
        batches = self._segment(segment, products, ref, text, result)
        return await self._add(campaign, batches, actor, "segment", result, rule_id)

    async def add_abandoned_calls(
        self,
        campaign_id: int,
        actor: Actor,
        *,
        queues: Sequence[str] = (),
        rule_id: int | None = None,
    ) -> AddResult:
        """Inbound calls abandoned and not yet on a list (``callback_needed``), from
        ``queues`` (default: any), with their time; their flag is cleared."""
        campaign = await self._campaign(campaign_id)
        result = AddResult()
        batches = self._abandoned(tuple(queues), result)
        return await self._add(campaign, batches, actor, "abandoned_call", result, rule_id)

    async def add_callbacks(
        self, campaign_id: int, actor: Actor, *, horizon: timedelta = timedelta(hours=24)
    ) -> AddResult:
        """Personal callbacks still scheduled and due within ``horizon`` (overdue ones too):
        each due at its time (``next_attempt_at``), for its owner."""
        campaign = await self._campaign(campaign_id)
        result = AddResult()
        batches = self._callbacks(self.clock() + horizon, result)
        return await self._add(campaign, batches, actor, "callback", result)

    async def upload(self, campaign_id: int, path: Path, filename: str, actor: Actor) -> ListImport:
        """A CSV or xlsx list: a phone column (phone, number, 电话, 号码, …), optionally name,
        account_number or customer_id, reason; every other column kept for the script. Each
        row is checked on its own; refused rows go to the report (``ImportRun`` kind
        "call_list"); a number twice in the file is one entry. InvalidInput for a file that
        cannot be used at all (too big, no list, no phone column, a wrong encoding anywhere in
        it): the whole file is read and checked before anything is written."""
        campaign = await self._campaign(campaign_id)
        region = campaign.region or self.region
        started = self.clock()
        listing = await asyncio.to_thread(read_list, path, filename, UPLOAD_ALIASES, "phone")
        try:
            checks = await asyncio.to_thread(
                check_all, listing, _check_upload, region, self.fictional
            )
        finally:
            await asyncio.to_thread(listing.close)
        try:
            run = await open_run(self.session, "call_list", filename, actor, started)
            outcome = ListImport(run.id)
            reason = f"List {filename}"[:500]

            async def batches() -> AsyncIterator[list[NewEntry]]:
                for good, bad in checks:
                    outcome.problems.extend(bad)
                    entries = await self._upload_entries(good, run.id, reason, outcome.problems)
                    if entries:
                        yield entries

            stream = batches()
            try:
                await self._add(campaign, stream, actor, "upload", outcome.result)
            finally:
                await stream.aclose()
        finally:
            checks.close()
        outcome.problems.sort(key=lambda p: p[0])
        close_run(
            self.session,
            run,
            actor,
            at=self.clock(),
            # Rows taken: new entries, and those merged into one already listed.
            imported=outcome.result.added + outcome.result.merged,
            problems=outcome.problems,
            columns=listing.columns,
            action="call_list.import",
            details={"campaign_id": campaign.id, **outcome.result.as_dict()},
        )
        return outcome

    # standing rules

    async def add_rule(
        self, campaign_id: int, kind: str, filters: dict[str, Any], actor: Actor
    ) -> ListRule:
        """A standing rule, its filters checked (products resolved) before it is kept."""
        await self._campaign(campaign_id)
        checked = rule_filters(kind, filters)
        if isinstance(checked, Segment):
            await self._product_ids(checked.products)
        now = self.clock()
        rule = ListRule(
            campaign_id=campaign_id,
            kind=kind,
            filters=checked.model_dump_json(exclude_defaults=True),
            enabled=True,
            created_by=actor.user_id,
            created_at=now,
        )
        self.session.add(rule)
        await self.session.flush()
        audit.record(
            self.session,
            actor,
            at=now,
            action="list_rule.create",
            entity_type="list_rule",
            entity_id=rule.id,
            after={"campaign_id": campaign_id, "kind": kind, "filters": json.loads(rule.filters)},
        )
        return rule

    async def switch_rule(
        self, campaign_id: int, rule_id: int, enabled: bool, actor: Actor
    ) -> ListRule:
        """A standing rule turned off (it adds nothing more; what it added stays listed) or
        on again."""
        rule = await self.session.get(ListRule, rule_id)
        if rule is None or rule.campaign_id != campaign_id:
            raise NotFound("no such rule in this campaign")
        if rule.enabled != enabled:
            rule.enabled = enabled
            audit.record(
                self.session,
                actor,
                at=self.clock(),
                action="list_rule.enable" if enabled else "list_rule.disable",
                entity_type="list_rule",
                entity_id=rule.id,
                before={"enabled": not enabled},
                after={"enabled": enabled},
            )
            await self.session.flush()
        return rule

    async def run_rule(self, rule: ListRule, actor: Actor = SYSTEM) -> AddResult:
        checked = rule_filters(rule.kind, rule.filters)
        if isinstance(checked, OrderRule):
            result = await self.add_order_confirmations(
                rule.campaign_id, actor, waiting_minutes=checked.waiting_minutes, rule_id=rule.id
            )
        elif isinstance(checked, Segment):
            result = await self.add_segment(rule.campaign_id, checked, actor, rule_id=rule.id)
        else:
            assert isinstance(checked, AbandonedRule)
            result = await self.add_abandoned_calls(
                rule.campaign_id, actor, queues=checked.queues, rule_id=rule.id
            )
        rule.last_run_at = self.clock()
        return result

    # the batches each generator makes

    async def _orders(
        self, before: datetime | None, result: AddResult
    ) -> AsyncIterator[list[NewEntry]]:
        after_id = 0
        while True:
            orders = await orders_awaiting_confirmation(
                self.session, waiting_since_before=before, after_id=after_id, limit=BATCH
            )
            if not orders:
                return
            after_id = orders[-1].order_id
            people = await self._customers({o.customer_id for o in orders})
            batch = []
            for order in orders:
                person = people.get(order.customer_id)
                if person is None or not person.e164:
                    result.skipped += 1  # a customer without a number
                    continue
                total = f"{money(order.amount_cents)} {order.currency}"
                batch.append(
                    NewEntry(
                        number_e164=person.e164,
                        number_raw=person.raw,
                        reason_kind="order_confirmation",
                        reason_ref=str(order.order_id),
                        reason_text=f"Confirm order {order.reference} ({total}), placed "
                        f"{order.placed_at:%Y-%m-%d}",
                        customer_id=order.customer_id,
                        name=person.name,
                        fields={
                            **person.fields(),
                            "order_id": order.order_id,
                            "order_number": order.reference,
                            "order_total": money(order.amount_cents),
                            "currency": order.currency,
                            "order_placed_at": order.placed_at.isoformat(),
                        },
                    )
                )
            yield batch

    async def _segment(
        self, segment: Segment, products: list[int], ref: str, text: str, result: AddResult
    ) -> AsyncIterator[list[NewEntry]]:
        after_id = 0
        while True:
            query = self._segment_query(segment, products).where(Customer.id > after_id)
            ids = list(await self.session.scalars(query.order_by(Customer.id).limit(BATCH)))
            if not ids:
                return
            after_id = ids[-1]
            people = await self._customers(set(ids))
            batch = []
            for customer_id in ids:
                person = people.get(customer_id)
                if person is None or not person.e164:
                    result.skipped += 1
                    continue
                batch.append(
                    NewEntry(
                        number_e164=person.e164,
                        number_raw=person.raw,
                        reason_kind="segment",
                        reason_ref=ref,
                        reason_text=text,
                        customer_id=customer_id,
                        name=person.name,
                        fields=person.fields(),
                    )
                )
            yield batch

    def _segment_query(self, segment: Segment, products: list[int]) -> Select[Any]:
        query = CustomerFilters(
            company=segment.company,
            region=segment.region,
            level=segment.level,
            account_manager_id=segment.account_manager_id,
            churn=segment.churn,
        ).apply(select(Customer.id), _like_prefix)
        if segment.last_order_before or segment.last_order_after:
            # The customer's last order, as the churn check reads it (any order placed).
            last = (
                select(func.max(Order.placed_at))
                .where(Order.customer_id == Customer.id)
                .scalar_subquery()
            )
            if segment.last_order_before:
                query = query.where(last < segment.last_order_before)
            if segment.last_order_after:
                query = query.where(last >= segment.last_order_after)
        if products:
            query = query.where(
                exists()
                .where(
                    Order.customer_id == Customer.id,
                    Order.status.in_(_BOUGHT),
                    OrderLine.order_id == Order.id,
                    OrderLine.product_id.in_(products),
                )
                .correlate(Customer)
            )
        return query

    async def _abandoned(
        self, queues: tuple[str, ...], result: AddResult
    ) -> AsyncIterator[list[NewEntry]]:
        while True:
            query = (
                select(
                    CallRecord.linked_id,
                    CallRecord.caller_e164,
                    CallRecord.caller_raw,
                    CallRecord.customer_id,
                    CallRecord.queue,
                    CallRecord.ended_at,
                    CallRecord.wait_seconds,
                    Customer.name,
                )
                .outerjoin(Customer, Customer.id == CallRecord.customer_id)
                .where(CallRecord.callback_needed.is_(True))
                .order_by(CallRecord.ended_at, CallRecord.linked_id)
                .limit(BATCH)
            )
            if queues:
                query = query.where(CallRecord.queue.in_(queues))
            calls = (await self.session.execute(query)).all()
            if not calls:
                return
            reached = await self._reached({c.caller_e164 for c in calls if c.caller_e164})
            batch = []
            for call in calls:
                if not call.caller_e164:
                    result.skipped += 1  # withheld: nobody to call back
                    continue
                if reached.get(call.caller_e164, call.ended_at) > call.ended_at:
                    result.skipped += 1  # the customer got through since
                    continue
                wait = round(call.wait_seconds)
                batch.append(
                    NewEntry(
                        number_e164=call.caller_e164,
                        number_raw=call.caller_raw,
                        reason_kind="abandoned_call",
                        reason_ref=call.linked_id,
                        reason_text=f"Abandoned call {call.ended_at:%Y-%m-%d %H:%M} UTC"
                        + (f" in {call.queue}" if call.queue else "")
                        + f" after {wait} s",
                        customer_id=call.customer_id,
                        name=call.name or "",
                        fields={
                            "name": call.name or "",
                            "abandoned_at": call.ended_at.isoformat(),
                            "queue": call.queue,
                            "wait_seconds": wait,
                        },
                    )
                )
            # Cleared in this transaction: if the entries are not written, neither is this.
            await self.session.execute(
                update(CallRecord)
                .where(CallRecord.linked_id.in_([c.linked_id for c in calls]))
                .values(callback_needed=False)
                .execution_options(synchronize_session=False)
            )
            result.cleared += len(calls)
            yield batch

    async def _reached(self, numbers: set[str]) -> dict[str, datetime]:
        """The end of the last answered call with each number."""
        if not numbers:
            return {}
        rows = await self.session.execute(
            select(CallRecord.caller_e164, func.max(CallRecord.ended_at))
            .where(CallRecord.caller_e164.in_(numbers), CallRecord.outcome == "answered")
            .group_by(CallRecord.caller_e164)
        )
        return {number: at for number, at in rows.all() if at is not None}

    async def _callbacks(self, until: datetime, result: AddResult) -> AsyncIterator[list[NewEntry]]:
        after_id = 0
        while True:
            rows = (
                await self.session.execute(
                    select(
                        Callback.id,
                        Callback.customer_id,
                        Callback.number,
                        Callback.due_at,
                        Callback.owner_user_id,
                        Callback.note,
                    )
                    .where(
                        Callback.status == "scheduled",
                        Callback.due_at <= until,
                        Callback.id > after_id,
                    )
                    .order_by(Callback.id)
                    .limit(BATCH)
                )
            ).all()
            if not rows:
                return
            after_id = rows[-1].id
            people = await self._customers({r.customer_id for r in rows})
            batch = []
            for row in rows:
                person = people.get(row.customer_id)
                number = row.number or (person.e164 if person else "")
                if person is None or not number:
                    result.skipped += 1
                    continue
                note = f": {row.note}" if row.note else ""
                batch.append(
                    NewEntry(
                        number_e164=number,
                        number_raw=person.raw if number == person.e164 else number,
                        reason_kind="callback",
                        reason_ref=str(row.id),
                        reason_text=f"Callback promised for {row.due_at:%Y-%m-%d %H:%M} UTC{note}"[
                            :500
                        ],
                        customer_id=row.customer_id,
                        name=person.name,
                        fields={
                            **person.fields(),
                            "callback_id": row.id,
                            "callback_due_at": row.due_at.isoformat(),
                            "callback_note": row.note,
                        },
                        next_attempt_at=row.due_at,
                        owner_user_id=row.owner_user_id,
                    )
                )
            yield batch

    async def _upload_entries(
        self,
        rows: list[_UploadRow],
        run_id: int,
        reason: str,
        problems: list[tuple[int, str, dict[str, str]]],
    ) -> list[NewEntry]:
        """The checked rows of a batch whose customer (by account number or id) exists, as
        entries; a row naming no customer takes the number's one owner, if it has one."""
        accounts = {r.account_number for r in rows if r.account_number}
        ids = {r.customer_id for r in rows if r.customer_id is not None}
        by_account: dict[str, tuple[int, str]] = {}
        by_id: dict[int, str] = {}
        if accounts:
            found = await self.session.execute(
                select(Customer.account_number, Customer.id, Customer.name).where(
                    Customer.account_number.in_(accounts)
                )
            )
            by_account = {a: (i, n) for a, i, n in found.all()}
        if ids:
            found = await self.session.execute(
                select(Customer.id, Customer.name).where(Customer.id.in_(ids))
            )
            by_id = {i: n for i, n in found.all()}
        owners: dict[str, set[tuple[int, str]]] = {}
        found = await self.session.execute(
            _OWNERS[_postgres(self.session)], {"numbers": list({r.e164 for r in rows})}
        )
        for e164, customer_id, name in found.all():
            owners.setdefault(e164, set()).add((customer_id, name))
        entries = []
        for row in rows:
            customer: tuple[int, str] | None = None
            if row.account_number:
                customer = by_account.get(row.account_number)
                if customer is None:
                    problems.append(
                        (row.row, f"account_number: no customer {row.account_number!r}", row.cells)
                    )
                    continue
            elif row.customer_id is not None:
                if row.customer_id not in by_id:
                    problems.append(
                        (row.row, f"customer_id: no customer {row.customer_id}", row.cells)
                    )
                    continue
                customer = (row.customer_id, by_id[row.customer_id])
            elif len(owners.get(row.e164, ())) == 1:
                (customer,) = owners[row.e164]
            name = row.name or (customer[1] if customer else "")
            fields = (
                row.fields if not name or "name" in row.fields else {**row.fields, "name": name}
            )
            entries.append(
                NewEntry(
                    number_e164=row.e164,
                    number_raw=row.cells.get("phone", "")[:64],
                    reason_kind="upload",
                    reason_ref=f"import:{run_id}",
                    reason_text=row.reason or reason,
                    customer_id=customer[0] if customer else None,
                    name=name,
                    fields=fields,
                )
            )
        return entries

    # writing

    async def _add(
        self,
        campaign: Campaign,
        batches: AsyncIterator[list[NewEntry]],
        actor: Actor,
        source: str,
        result: AddResult,
        rule_id: int | None = None,
    ) -> AddResult:
        """Store the batches; one audit row says who added what (the rows themselves carry
        their reason)."""
        async for batch in batches:
            if batch:
                await self._store(campaign.id, batch, actor, result)
        changes = (result.added, result.updated, result.reopened, result.retimed, result.cleared)
        if not any(changes) and source != "upload":
            return result  # a standing rule with nothing new: no audit row every run
        audit.record(
            self.session,
            actor,
            at=self.clock(),
            action="call_list.add",
            entity_type="campaign",
            entity_id=campaign.id,
            after={"source": source, "rule_id": rule_id, **result.as_dict()},
        )
        return result

    async def _store(
        self, campaign_id: int, batch: list[NewEntry], actor: Actor, result: AddResult
    ) -> None:
        numbers = {e.number_e164 for e in batch}
        existing = {e.number_e164: e for e in await self._existing(campaign_id, numbers)}
        listed = await listed_numbers(self.session, numbers)
        # New numbers stay as given unless the batch has them twice (most are once).
        fresh: dict[str, NewEntry | Entry] = {}
        events: list[tuple[Entry, str]] = []
        for new in batch:
            number = new.number_e164
            known = existing.get(number)
            if known is None:
                first = fresh.get(number)
                if first is None:
                    fresh[number] = new
                    continue
                if isinstance(first, NewEntry):
                    first = fresh[number] = new_entry(first, listed=number in listed)
                known = first
            result.merged += 1
            event = merge(known, new, listed=number in listed)
            if event is not None and known.id is not None:
                events.append((known, event))
        now = self.clock()
        if fresh:
            await self._insert(campaign_id, list(fresh.values()), listed, now)
            result.added += len(fresh)
            result.dnc += sum(1 for number in fresh if number in listed)
        changed = [e for e in existing.values() if e.changed]
        result.updated += len(changed)
        if changed:
            # What the merge adds, never the state: the dialer may be moving it meanwhile.
            connection = await self.session.connection()
            moment = _times(connection.dialect)(now)
            await _executemany(
                connection,
                _MERGED,
                [
                    (e.customer_id, e.name, e.reason_kind, e.reason_ref, e.reason_text,
                     _json(e.fields), moment, e.id)
                    for e in changed
                ],
            )  # fmt: skip
        for entry, event in events:
            await self._move(entry, event, actor, now, result)

    async def _insert(
        self,
        campaign_id: int,
        rows: list[NewEntry | Entry],
        listed: set[str],
        now: datetime,
    ) -> None:
        """New entries, through the driver (``_executemany``); ``now``, every row's time, is
        converted once."""
        connection = await self.session.connection()
        stamp = _times(connection.dialect)
        moment = stamp(now)
        values = []
        for row in rows:
            if isinstance(row, Entry):
                fields, state = row.fields, row.state
            else:  # as new_entry makes it, without the object
                fields = {**row.fields, REASONS_KEY: [reason_key(row)]}
                state = DNC if row.number_e164 in listed else PENDING
            # In the order of _INSERTED.
            values.append(
                (
                    campaign_id, row.customer_id, row.number_e164, row.number_raw[:64],
                    row.name[:200], row.reason_kind, row.reason_ref[:64], row.reason_text[:500],
                    _json(fields), state, 0, "",
                    None if row.next_attempt_at is None else stamp(row.next_attempt_at),
                    row.owner_user_id, moment, moment, 0,
                )
            )  # fmt: skip
        await _executemany(connection, _INSERT, values)

    async def _move(
        self, entry: Entry, event: str, actor: Actor, now: datetime, result: AddResult
    ) -> None:
        """A re-open or re-time, written only if the entry is still as read."""
        values: dict[str, Any] = {
            "state": entry.state,
            "next_attempt_at": entry.next_attempt_at,
            "owner_user_id": entry.owner_user_id,
            "updated_at": now,
        }
        if event == "reopened":
            values["attempts"] = 0
        done = await self.session.execute(
            update(CallListTable)
            .where(CallListTable.c.id == entry.id, CallListTable.c.state == entry.state_read)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:
            return
        if event == "reopened":
            result.reopened += 1
        else:
            result.retimed += 1
        audit.record(
            self.session,
            actor,
            at=now,
            action=f"call_list_entry.{event}",
            entity_type="call_list_entry",
            entity_id=entry.id,
            before={"state": entry.state_read},
            after={
                "state": entry.state,
                "reason_kind": entry.reason_kind,
                "reason_ref": entry.reason_ref,
                "next_attempt_at": entry.next_attempt_at.isoformat()
                if entry.next_attempt_at
                else None,
                "owner_user_id": entry.owner_user_id,
            },
        )

    async def _existing(self, campaign_id: int, numbers: set[str]) -> list[Entry]:
        rows = await self.session.execute(
            _PG_EXISTING if _postgres(self.session) else _EXISTING,
            {"campaign_id": campaign_id, "numbers": list(numbers)},
        )
        found = []
        for row in rows.all():
            try:
                fields = json.loads(row.fields or "{}")
            except ValueError:
                fields = {}
            found.append(
                Entry(
                    id=row.id,
                    number_e164=row.number_e164,
                    number_raw=row.number_raw,
                    customer_id=row.customer_id,
                    name=row.name,
                    reason_kind=row.reason_kind,
                    reason_ref=row.reason_ref,
                    reason_text=row.reason_text,
                    fields=fields if isinstance(fields, dict) else {},
                    state=row.state,
                    attempts=row.attempts,
                    next_attempt_at=row.next_attempt_at,
                    owner_user_id=row.owner_user_id,
                    state_read=row.state,
                )
            )
        return found

    # reading what the generators need

    async def _campaign(self, campaign_id: int) -> Campaign:
        campaign = await self.session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id}", field="campaign_id")
        if campaign.status not in OPEN_CAMPAIGNS:
            raise Conflict(f"the campaign is {campaign.status}: its list is closed", field="status")
        return campaign

    async def _customers(self, ids: set[int]) -> dict[int, _Person]:
        """Each customer's name, company, account number and main number: their own first
        number (not a contact's), else their first."""
        if not ids:
            return {}
        people = {
            row.id: _Person(row.name, row.company, row.account_number or "")
            for row in (
                await self.session.execute(
                    select(
                        Customer.id, Customer.name, Customer.company, Customer.account_number
                    ).where(Customer.id.in_(ids))
                )
            ).all()
        }
        numbers = await self.session.execute(
            select(PhoneNumber.customer_id, PhoneNumber.e164, PhoneNumber.raw)
            .where(PhoneNumber.customer_id.in_(ids))
            .order_by(PhoneNumber.customer_id, PhoneNumber.contact_id.is_not(None), PhoneNumber.id)
        )
        for customer_id, e164, raw in numbers.all():
            person = people.get(customer_id)
            if person is not None and not person.e164 and e164:
                person.e164, person.raw = e164, raw
        return people

    async def _product_ids(self, given: Sequence[int | str]) -> list[int]:
        """Product ids of ids or codes; InvalidInput names the first that is neither."""
        if not given:
            return []
        numbers = {g for g in given if isinstance(g, int)}
        codes = {g.upper() for g in given if isinstance(g, str)}  # codes are kept upper-case
        found = await self.session.execute(
            select(Product.id, Product.code).where(
                Product.id.in_(numbers) | Product.code.in_(codes)
            )
        )
        ids, known_codes = set(), set()
        for product_id, code in found.all():
            ids.add(product_id)
            known_codes.add(code)
        for item in given:
            if (isinstance(item, int) and item not in ids) or (
                isinstance(item, str) and item.upper() not in known_codes
            ):
                raise InvalidInput(f"no product {item!r}", field="products")
        return sorted(ids)


@dataclass(slots=True)
class _Person:
    name: str
    company: str
    account_number: str
    e164: str = ""
    raw: str = ""

    def fields(self) -> dict[str, Any]:
        return {"name": self.name, "company": self.company, "account_number": self.account_number}


def _describe(segment: Segment) -> str:
    given = segment.model_dump(exclude_defaults=True, mode="json")
    words = ", ".join(f"{k}={v}" for k, v in given.items())
    return f"Segment: {words}" if words else "Segment: every customer"


async def listed_numbers(session: AsyncSession, numbers: Iterable[str]) -> set[str]:
    """Which of the numbers are on the do-not-call register (point look-ups by its key)."""
    wanted = list(set(numbers))
    found: set[str] = set()
    for start in range(0, len(wanted), BATCH):
        found.update(
            await session.scalars(
                _LISTED[_postgres(session)], {"numbers": wanted[start : start + BATCH]}
            )
        )
    return found


# --- standing rules ----------------------------------------------------------------------------


async def run_rules(
    session: AsyncSession,
    now: datetime,
    *,
    actor: Actor = SYSTEM,
    region: str = "US",
    campaign_id: int | None = None,
) -> list[RuleRun]:
    """Run every enabled rule of every running or paused campaign (or of ``campaign_id``):
    what is new goes onto the lists, what is there already merges (no change). Each rule's
    ``last_run_at`` is set. A rule whose filters no longer hold (a product deleted since) is
    reported with its error and the others run. The caller commits."""
    query = (
        select(ListRule)
        .join(Campaign, Campaign.id == ListRule.campaign_id)
        .where(ListRule.enabled.is_(True), Campaign.status.in_(RULE_CAMPAIGNS))
        .order_by(ListRule.campaign_id, ListRule.id)
    )
    if campaign_id is not None:
        query = query.where(ListRule.campaign_id == campaign_id)
    lists = CallLists(session, clock=lambda: now, region=region)
    runs = []
    for rule in list(await session.scalars(query)):
        try:
            result = await lists.run_rule(rule, actor)
        except InvalidInput as exc:
            rule.last_run_at = now
            runs.append(RuleRun(rule.id, rule.campaign_id, rule.kind, None, exc.message))
            continue
        runs.append(RuleRun(rule.id, rule.campaign_id, rule.kind, result))
    await session.flush()
    return runs


# --- what the dialer and the pages read ---------------------------------------------------------


async def campaign_rules(session: AsyncSession, campaign_id: int) -> list[dict[str, Any]]:
    """A campaign's standing rules, as the campaign page and the API show them."""
    rows = await session.scalars(
        select(ListRule).where(ListRule.campaign_id == campaign_id).order_by(ListRule.id)
    )
    return [
        {
            "id": rule.id,
            "kind": rule.kind,
            "filters": json.loads(rule.filters or "{}"),
            "enabled": rule.enabled,
            "created_at": rule.created_at.isoformat(),
            "last_run_at": rule.last_run_at.isoformat() if rule.last_run_at else None,
        }
        for rule in rows
    ]


@dataclass(frozen=True, slots=True)
class ListSummary:
    by_state: dict[str, int]  # every state, 0 where none
    due_now: int  # pending and due
    scheduled: int  # pending, due later (callbacks, retries)

    @property
    def total(self) -> int:
        return sum(self.by_state.values())

    @property
    def remaining(self) -> int:
        """Still to be called: pending or being dialled (the list's exhaustion)."""
        return self.by_state[PENDING] + self.by_state[DIALLING]

    def as_dict(self) -> dict[str, Any]:
        return {
            "by_state": self.by_state,
            "total": self.total,
            "remaining": self.remaining,
            "due_now": self.due_now,
            "scheduled": self.scheduled,
        }


async def list_summary(
    session: AsyncSession, campaign_id: int, *, now: datetime | None = None
) -> ListSummary:
    """Counts of a campaign's list by state, and of the pending entries due ``now`` (default:
    the wall clock)."""
    moment = now or utc_now()
    by_state = dict.fromkeys(STATES, 0)
    # One pass over the list: each state's count, and of the pending how many are due.
    due_now = (CallListEntry.state == PENDING) & (
        CallListEntry.next_attempt_at.is_(None) | (CallListEntry.next_attempt_at <= moment)
    )
    rows = await session.execute(
        select(CallListEntry.state, func.count(), func.sum(case((due_now, 1), else_=0)))
        .where(CallListEntry.campaign_id == campaign_id)
        .group_by(CallListEntry.state)
    )
    due = 0
    for state, count, due_in_state in rows.all():
        by_state[state] = count
        due += int(due_in_state or 0)
    return ListSummary(by_state, due, by_state[PENDING] - due)


@dataclass(frozen=True, slots=True)
class EntryPage:
    rows: list[CallListEntry]
    total: int
    page: int
    per_page: int

    @property
    def more(self) -> bool:
        return self.page * self.per_page < self.total


async def entries_page(
    session: AsyncSession,
    campaign_id: int,
    *,
    state: str | None = None,
    reason_kind: str | None = None,
    number: str = "",
    region: str = "US",
    page: int = 1,
    per_page: int = 50,
) -> EntryPage:
    """A page of a campaign's list in the order it was built; narrowed by state, reason kind,
    or one number (in any format)."""
    if state is not None and state not in STATES:
        raise InvalidInput(f"{state!r} is not a list state", field="state")
    if reason_kind is not None and reason_kind not in KINDS:
        raise InvalidInput(f"{reason_kind!r} is not a reason", field="reason_kind")
    if page < 1 or not 1 <= per_page <= 500:
        raise InvalidInput("page from 1, 1 to 500 per page", field="page")
    conditions = [CallListEntry.campaign_id == campaign_id]
    if state is not None:
        conditions.append(CallListEntry.state == state)
    if reason_kind is not None:
        conditions.append(CallListEntry.reason_kind == reason_kind)
    if number.strip():
        parsed = normalise(number, region)
        if not parsed.usable:
            raise InvalidInput(f"{number.strip()[:40]!r} is not a phone number", field="number")
        conditions.append(CallListEntry.number_e164 == parsed.e164)
    total = await session.scalar(select(func.count()).select_from(CallListEntry).where(*conditions))
    rows = await session.scalars(
        select(CallListEntry)
        .where(*conditions)
        .order_by(CallListEntry.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return EntryPage(list(rows), total or 0, page, per_page)


def entry_json(entry: CallListEntry) -> dict[str, Any]:
    try:
        fields = json.loads(entry.fields or "{}")
    except ValueError:
        fields = {}
    return {
        "id": entry.id,
        "campaign_id": entry.campaign_id,
        "customer_id": entry.customer_id,
        "number": entry.number_e164,
        "number_raw": entry.number_raw,
        "name": entry.name,
        "reason_kind": entry.reason_kind,
        "reason_ref": entry.reason_ref,
        "reason": entry.reason_text,
        "fields": {k: v for k, v in fields.items() if k != REASONS_KEY},
        "state": entry.state,
        "attempts": entry.attempts,
        "last_outcome": entry.last_outcome,
        "last_attempt_at": entry.last_attempt_at.isoformat() if entry.last_attempt_at else None,
        "next_attempt_at": entry.next_attempt_at.isoformat() if entry.next_attempt_at else None,
        "owner_user_id": entry.owner_user_id,
    }
