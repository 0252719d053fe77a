"""What the agent's screen shows about a caller: the lookup that decides the pop (IVR account
or customer id first, then the caller's number), and the customer card (who they are, their
contacts and numbers, open orders, open service requests, the last interactions).

One statement per lookup: the customers are picked (by the caller's number, an IVR account or
a customer id) and their card, or the pick list when several customers share the number, is
built as JSON by the database itself (``json_build_object``/``json_agg`` on PostgreSQL,
``json_object``/``json_group_array`` on SQLite), so that a lookup costs one round trip and one
JSON decode. The SQL renders every value as the card has always shown it (ISO times with
``+00:00``, amounts with two decimals); an IVR variable that names nobody costs one statement
more before the number is tried.

The statements are final SQL per database, sent with ``exec_driver_sql`` (nothing to compile
per call; asyncpg prepares each once per connection, sqlite3 caches it): on the caller's
Connection for the session paths, on held autocommit connections for the pop on PostgreSQL,
on SQLite's reader on the event loop."""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from crm_core.db import lookup_engine, sqlite_reader
from crm_core.phones import Number, NumberKind, normalise

# Channel variables the IVR may set (manager.conf channelvars): they decide the pop first.
ACCOUNT_VARIABLE = "CC_ACCOUNT"
CUSTOMER_VARIABLE = "CC_CUSTOMER"
PICK_LIST_LIMIT = 10
CARD_ITEMS = 5  # open orders, open service requests, last interactions shown on the card
NOTE_PREVIEW = 280  # the card shows the start of long notes; the customer page shows all
OPEN_ORDER = ("draft", "awaiting_confirmation", "confirmed", "shipped")  # orders.OPEN_STATUSES
OPEN_REQUEST = ("open", "assigned", "handled")  # not closed (crm_core.service_requests)
# Connections the pop keeps open between lookups on PostgreSQL (the lookup engine's
# pool_size): a pool checkout and check-in cost about as much Python as the statement's own
# round trip (0.1 to 0.15 ms each, measured).
HELD_CONNECTIONS = 4

LookupKind = Literal["customer", "choices", "new", "anonymous"]


@dataclass(frozen=True, slots=True)
class CallerLookup:
    kind: LookupKind
    number: Number
    matched_by: str | None = None  # "account", "customer_id" or "number"
    cards: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "matched_by": self.matched_by,
            "number": {
                "raw": self.number.raw,
                "e164": self.number.e164,
                "kind": str(self.number.kind),
            },
            "cards": self.cards,
        }


# --- the one statement -----------------------------------------------------------------------
#
# Every statement has the same shape: a CTE m(id, contact_id, pos) picks the customers (on a
# number, one row per phone_numbers row, in the pick list's order), and one row comes back:
# (n, cards), n the number of distinct customers picked, cards a JSON array: [the card] when
# n = 1, the pick list when n > 1, NULL when n = 0. Only what is shown is built: no card for a
# pick list, no customer or contact names for a single match.


def _in(values: tuple[str, ...]) -> str:
    # Fixed status names from this module, never user input.
    return ", ".join(f"'{value}'" for value in values)


class _Agg(Protocol):
    def __call__(
        self, element: str, alias: str, rows: str, order: str, limit: int | None = None
    ) -> str: ...


@dataclass(frozen=True)
class _Sql:
    """What differs between the two databases."""

    obj: str  # JSON object from key, value pairs
    array: str  # JSON array from values
    # A JSON array of ``element`` (written over ``alias``) for the rows of the SELECT ``rows``
    # in ``order`` (its output column names), the first ``limit`` of them; [] for none.
    agg: _Agg
    boolean: Callable[[str], str]
    time: Callable[[str], str]  # a stored UTC time as Python's datetime.isoformat() shows it
    amount: Callable[[str], str]  # integer cents as f"{cents / 100:.2f}"
    param: str  # the statement's one parameter (the driver's paramstyle)
    id_param: str  # the same, as a customer id (a bigint on PostgreSQL: 18 digits fit)


def _pg_agg(element: str, alias: str, rows: str, order: str, limit: int | None = None) -> str:
    # The order goes to json_agg itself (a subquery's order is not promised to survive);
    # json_agg of no rows is NULL, the card shows [].
    inner = f"{rows} ORDER BY {order} LIMIT {limit}" if limit else rows
    outer = ", ".join(f"{alias}.{term.strip()}" for term in order.split(","))
    return (
        f"(SELECT coalesce(json_agg({element} ORDER BY {outer}), '[]') FROM ({inner}) AS {alias})"
    )


def _pg_time(column: str) -> str:
    # PostgreSQL's own JSON rendering trims the fraction's trailing zeros, isoformat() does
    # not: six digits, or none when the fraction is zero. NULL stays NULL.
    return (
        f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
        f"|| CASE WHEN date_trunc('second', {column}) = {column} THEN '' "
        f"ELSE to_char({column} AT TIME ZONE 'UTC', '.US') END || '+00:00'"
    )


def _sqlite_agg(element: str, alias: str, rows: str, order: str, limit: int | None = None) -> str:
    # SQLite before 3.44 has no ORDER BY inside an aggregate: the rows come ordered from a
    # subquery (one with ORDER BY under an aggregate is not flattened, so the order holds).
    # The subquery's JSON text loses its JSON subtype on the way out: json() gives it back.
    inner = f"{rows} ORDER BY {order}" + (f" LIMIT {limit}" if limit else "")
    return f"json((SELECT json_group_array({element}) FROM ({inner}) AS {alias}))"


def _sqlite_time(column: str) -> str:
    # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC, no zone); isoformat() shows the
    # fraction only when it is not zero.
    return (
        f"substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || "
        f"CASE WHEN rtrim(substr({column}, 21), '0') = '' THEN '' "
        f"ELSE '.' || substr(substr({column}, 21) || '000000', 1, 6) END || '+00:00'"
    )


POSTGRESQL = _Sql(
    obj="json_build_object",
    array="json_build_array",
    agg=_pg_agg,
    boolean=lambda column: column,
    time=_pg_time,
    # numeric arithmetic: exact, and round(..., 2) keeps two decimals ('129.50', '-0.05').
    amount=lambda column: f"round({column} / 100.0, 2)::text",
    param="$1",
    id_param="CAST($1 AS bigint)",
)
SQLITE = _Sql(
    obj="json_object",
    array="json_array",
    agg=_sqlite_agg,
    boolean=lambda column: f"json(CASE WHEN {column} THEN 'true' ELSE 'false' END)",
    time=_sqlite_time,
    # integer arithmetic: exact, whatever printf's float rounding would do.
    amount=lambda column: (
        f"CASE WHEN {column} < 0 THEN '-' ELSE '' END || "
        f"(abs({column}) / 100) || '.' || "
        f"substr('0' || (abs({column}) % 100), -2)"
    ),
    param="?",
    id_param="?",
)


def _card(sql: _Sql) -> str:
    """The card of customer ``c`` as one JSON object, keys in the card's order."""
    o = sql.obj
    numbers = sql.agg(
        f"{o}('raw', n.raw, 'e164', n.e164, 'label', n.label)",
        "n",
        "SELECT id, raw, e164, label FROM phone_numbers WHERE customer_id = c.id",
        "id",
    )
    contacts = sql.agg(
        f"{o}('id', k.id, 'name', k.name, 'title', k.title, 'email', k.email, "
        f"'is_primary', {sql.boolean('k.is_primary')})",
        "k",
        "SELECT id, name, title, email, is_primary FROM contacts WHERE customer_id = c.id",
        "id",
    )
    orders = sql.agg(
        f"{o}('reference', r.reference, 'status', r.status, 'summary', r.summary, "
        f"'amount', {sql.amount('r.amount_cents')}, 'currency', r.currency, "
        f"'placed_at', {sql.time('r.placed_at')})",
        "r",
        "SELECT reference, status, summary, amount_cents, currency, placed_at FROM orders "
        f"WHERE customer_id = c.id AND status IN ({_in(OPEN_ORDER)})",
        "placed_at DESC",
        CARD_ITEMS,
    )
    requests = sql.agg(
        f"{o}('id', q.id, 'subject', q.subject, 'status', q.status, "
        f"'service_type', q.service_type, 'opened_at', {sql.time('q.opened_at')})",
        "q",
        "SELECT id, subject, status, service_type, opened_at FROM service_requests "
        f"WHERE customer_id = c.id AND status IN ({_in(OPEN_REQUEST)})",
        "opened_at DESC",
        CARD_ITEMS,
    )
    interactions = sql.agg(
        f"{o}('at', {sql.time('i.created_at')}, 'kind', i.kind, "
        f"'disposition', i.disposition, 'agent', i.agent, 'notes', i.notes, "
        f"'call_id', i.call_linked_id)",
        "i",
        "SELECT x.created_at AS created_at, x.id AS id, x.kind, x.disposition, "
        f"u.display_name AS agent, substr(x.notes, 1, {NOTE_PREVIEW}) AS notes, "
        "x.call_linked_id FROM interactions x LEFT JOIN users u ON u.id = x.user_id "
        "WHERE x.customer_id = c.id",
        "created_at DESC, id DESC",
        CARD_ITEMS,
    )
    # What the account manager has done against a churn still in question: an agent talking
    # to the customer should know of the discount offered.
    measures = sql.agg(
        f"{o}('measure', w.measure, 'note', w.note, 'at', {sql.time('w.created_at')})",
        "w",
        "SELECT m.measure AS measure, m.note AS note, m.created_at AS created_at, m.id AS id "
        "FROM churn_measures m JOIN churn_warnings cw ON cw.id = m.warning_id "
        "WHERE cw.customer_id = c.id AND cw.status IN ('open', 'postponed')",
        "created_at DESC, id DESC",
        CARD_ITEMS,
    )
    return (
        f"{o}('id', c.id, 'name', c.name, 'account_number', c.account_number, "
        f"'level', c.level, 'region', c.region, "
        f"'churn_flag', {sql.boolean('c.churn_flag')}, 'churn_measures', {measures}, "
        f"'numbers', {numbers}, 'contacts', {contacts}, 'open_orders', {orders}, "
        f"'open_service_requests', {requests}, 'last_interactions', {interactions})"
    )


def _statement(sql: _Sql, picked: str) -> str:
    # Names only for the pick list (the card reads its customer itself), by primary key from
    # each picked row: as a join, SQLite may choose to scan every customer instead.
    choices = sql.agg(
        f"{sql.obj}('id', p.id, 'name', p.name, 'contact', p.contact)",
        "p",
        "SELECT m.id AS id, (SELECT name FROM customers WHERE id = m.id) AS name, "
        "(SELECT name FROM contacts WHERE id = m.contact_id) AS contact, "
        "m.pos AS pos FROM m",
        "id, pos",
        PICK_LIST_LIMIT,
    )
    return (
        f"WITH m AS ({picked}), "
        f"s AS (SELECT count(DISTINCT id) AS n, min(id) AS first FROM m) "
        f"SELECT s.n, CASE WHEN s.n = 1 THEN "
        f"(SELECT {sql.array}({_card(sql)}) FROM customers c WHERE c.id = s.first) "
        f"WHEN s.n > 1 THEN {choices} END AS cards FROM s"
    )


def _statements(sql: _Sql) -> dict[str, str]:
    """The statement for each way of picking the customer, by the ``matched_by`` it gives."""
    ivr = "SELECT id, CAST(NULL AS integer) AS contact_id, 0 AS pos FROM customers WHERE"
    return {
        # The indexed match (the benchmark's --phases finds it by "phone_numbers.e164 =");
        # the row past the pick list's length only tells that there are more customers.
        # (Qualified in ORDER BY: a bare "id" would be the output column, the customer id.)
        "number": _statement(
            sql,
            "SELECT customer_id AS id, contact_id, id AS pos "
            f"FROM phone_numbers WHERE phone_numbers.e164 = {sql.param} "
            "ORDER BY phone_numbers.customer_id, phone_numbers.id "
            f"LIMIT {PICK_LIST_LIMIT + 1}",
        ),
        "account": _statement(sql, f"{ivr} account_number = {sql.param}"),
        "customer_id": _statement(sql, f"{ivr} id = {sql.id_param}"),
    }


# Built once, final SQL: sent as they are, prepared once per connection by the driver.
_STATEMENTS = {"postgresql": _statements(POSTGRESQL), "sqlite": _statements(SQLITE)}


def lookup_sql(dialect: str) -> Mapping[str, str]:
    """The lookup's statements on this database by the ``matched_by`` they give (for plans:
    the benchmark's and the tests')."""
    try:
        return _STATEMENTS[dialect]
    except KeyError:
        raise ValueError(f"no caller lookup statement for {dialect}") from None


def _statement_for(dialect: str, how: str) -> str:
    return lookup_sql(dialect)[how]


def _decoded(row: Any) -> tuple[int, list[dict[str, Any]]]:
    # SQLAlchemy's asyncpg dialect decodes json in the driver's codec; sqlite3 hands text
    # over. One decode either way, and the dicts go out as they come.
    n, cards = row
    if isinstance(cards, str):
        cards = json.loads(cards)
    return n, cards or []


def _pick(conn: Connection, how: str, value: object) -> tuple[int, list[dict[str, Any]]]:
    return _decoded(conn.exec_driver_sql(_statement_for(conn.dialect.name, how), (value,)).one())


async def _pick_async(
    conn: AsyncConnection,
    how: str,
    value: object,
) -> tuple[int, list[dict[str, Any]]]:
    # Straight on the async connection: no run_sync around a single statement.
    return _decoded(
        (await conn.exec_driver_sql(_statement_for(conn.dialect.name, how), (value,))).one()
    )


def load_card(conn: Connection, customer_id: int) -> dict[str, Any] | None:
    """The card of one customer (None if there is none), in one statement."""
    _n, cards = _pick(conn, "customer_id", customer_id)
    return cards[0] if cards else None


# --- the lookup ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a lookup will ask, decided before any connection is taken."""

    number: Number  # the caller's number, normalised
    steps: tuple[tuple[str, object], ...]  # (matched_by, its parameter), tried in order
    anonymous: Number | None  # shown when nobody is found; None: the number was looked up


def _plan(caller_number: str, restricted: bool, variables: Mapping[str, str], region: str) -> _Plan:
    number = normalise(caller_number, region)
    steps: list[tuple[str, object]] = []
    # The IVR's variables decide the pop first, even for a withheld number.
    account = variables.get(ACCOUNT_VARIABLE, "").strip()
    if account:
        steps.append(("account", account))
    customer_id = variables.get(CUSTOMER_VARIABLE, "").strip()
    if customer_id.isdigit() and len(customer_id) < 19:
        steps.append(("customer_id", int(customer_id)))
    if restricted or number.kind is NumberKind.WITHHELD:
        return _Plan(number, tuple(steps), Number(number.raw, NumberKind.WITHHELD))
    if number.kind is NumberKind.INVALID:
        return _Plan(number, tuple(steps), number)  # the raw value is shown, escaped
    steps.append(("number", number.e164))
    return _Plan(number, tuple(steps), None)


def _found(plan: _Plan, how: str, n: int, cards: list[dict[str, Any]]) -> CallerLookup | None:
    if not n:
        return None
    # An account or a customer id names one customer; a number may be shared (the pick list).
    return CallerLookup("customer" if n == 1 else "choices", plan.number, how, cards)


def _nobody(plan: _Plan) -> CallerLookup:
    if plan.anonymous is not None:
        return CallerLookup("anonymous", plan.anonymous)
    return CallerLookup("new", plan.number)


def lookup(
    conn: Connection,
    *,
    caller_number: str,
    restricted: bool,
    variables: Mapping[str, str],
    region: str,
) -> CallerLookup:
    return _lookup_sync(conn, _plan(caller_number, restricted, variables, region))


def _lookup_sync(conn: Connection, plan: _Plan) -> CallerLookup:
    return _walk(plan, lambda how, value: _pick(conn, how, value))


def _walk(
    plan: _Plan, pick: Callable[[str, object], tuple[int, list[dict[str, Any]]]]
) -> CallerLookup:
    for how, value in plan.steps:
        found = _found(plan, how, *pick(how, value))
        if found is not None:
            return found
    return _nobody(plan)


def _pick_sqlite(raw: Any, how: str, value: object) -> tuple[int, list[dict[str, Any]]]:
    """Straight on sqlite3's connection: no SQLAlchemy around one cached statement."""
    cursor = raw.cursor()
    try:
        return _decoded(cursor.execute(_statement_for("sqlite", how), (value,)).fetchone())
    finally:
        cursor.close()


async def _lookup_async(conn: AsyncConnection, plan: _Plan) -> CallerLookup:
    for how, value in plan.steps:
        found = _found(plan, how, *await _pick_async(conn, how, value))
        if found is not None:
            return found
    return _nobody(plan)


async def lookup_caller(
    session: AsyncSession,
    *,
    caller_number: str,
    restricted: bool,
    variables: Mapping[str, str],
    region: str,
) -> CallerLookup:
    conn = await session.connection()
    return await conn.run_sync(
        lambda sync: lookup(
            sync,
            caller_number=caller_number,
            restricted=restricted,
            variables=variables,
            region=region,
        )
    )


class CallerLookups:
    """Runs the pop's lookup with the fewest trips to the database, and the least Python
    around them: on SQLite one held sqlite3 connection of a synchronous reader, right on the
    event loop (``crm_core.db.sqlite_reader``; outside a transaction each statement sees the
    latest commit); elsewhere autocommit connections of
    ``crm_core.db.lookup_engine`` (no BEGIN, ROLLBACK or ping around the statement), up to
    HELD_CONNECTIONS of them kept open between lookups. A lookup that finds its connection
    dropped by the server is retried once, on a fresh connection from the pool, and the other
    held connections are let go (they likely went with it). A withheld number with no IVR
    variable needs no connection at all."""

    def __init__(
        self,
        *,
        sqlite: Engine | None = None,
        remote: AsyncEngine | None = None,
    ) -> None:
        if (sqlite is None) == (remote is None):
            raise ValueError("give exactly one of sqlite, remote")
        self.sqlite = sqlite
        self.remote = remote
        self._held: list[AsyncConnection] = []
        self._sqlite_held: Any = None  # the reader's DBAPI connection, once opened

    async def lookup(
        self, *, caller_number: str, restricted: bool, variables: Mapping[str, str], region: str
    ) -> CallerLookup:
        plan = _plan(caller_number, restricted, variables, region)
        if not plan.steps:
            return _nobody(plan)
        if self.sqlite is not None:
            return self._lookup_sqlite(plan)
        assert self.remote is not None
        for attempt in (1, 2):
            conn = self._held.pop() if self._held and attempt == 1 else await self.remote.connect()
            try:
                found = await _lookup_async(conn, plan)
            except DBAPIError as exc:
                await conn.close()  # an invalidated one is discarded by the pool
                if attempt == 2 or not exc.connection_invalidated:
                    raise
                await self.close()
                continue
            except BaseException:
                # Cancelled (or worse) halfway through a statement: let the connection go
                # rather than hand it to the next lookup in an unknown state.
                with contextlib.suppress(Exception):
                    await conn.invalidate()
                with contextlib.suppress(Exception):
                    await conn.close()
                raise
            if len(self._held) < HELD_CONNECTIONS:
                self._held.append(conn)
            else:
                await conn.close()
            return found
        raise AssertionError("unreachable")

    def _lookup_sqlite(self, plan: _Plan) -> CallerLookup:
        assert self.sqlite is not None
        for attempt in (1, 2):
            if self._sqlite_held is None:
                self._sqlite_held = self.sqlite.raw_connection()
            try:
                return _walk(plan, functools.partial(_pick_sqlite, self._sqlite_held))
            except sqlite3.Error:
                self._close_sqlite()  # a file replaced or a connection gone bad: a fresh one
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _close_sqlite(self) -> None:
        held, self._sqlite_held = self._sqlite_held, None
        if held is not None:
            with contextlib.suppress(Exception):
                held.close()

    async def close(self) -> None:
        """Back to the pool with the held connections (before the engine is disposed)."""
        self._close_sqlite()
        held, self._held = self._held, []
        for conn in held:
            with contextlib.suppress(Exception):
                await conn.close()


@contextlib.asynccontextmanager
async def caller_lookups(url: str) -> AsyncIterator[CallerLookups]:
    """The pop's own connection(s) to the database, apart from the service's pool."""
    reader = sqlite_reader(url)
    remote = None if reader is not None else lookup_engine(url)
    lookups = CallerLookups(sqlite=reader, remote=remote)
    try:
        yield lookups
    finally:
        await lookups.close()
        if reader is not None:
            reader.dispose()
        if remote is not None:
            await remote.dispose()


async def customer_card(session: AsyncSession, customer_id: int) -> dict[str, Any] | None:
    conn = await session.connection()
    return await conn.run_sync(load_card, customer_id)
