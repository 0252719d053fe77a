"""What the agent's screen shows about a caller: the lookup that decides the pop (IVR account
or customer id first, then the caller's number), and the customer card (who they are, their
contacts and numbers, open orders, open service requests, the last interactions).

Written against a synchronous Connection (column queries, no ORM objects: it runs on every
pop) and run with ``run_sync`` on the async connection, or directly on SQLite's reader: the
same queries serve every database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, bindparam, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_core.customers import NUMBER_MATCHES
from crm_core.db import lookup_engine, sqlite_reader
from crm_core.models import (
    Contact,
    Customer,
    Interaction,
    Order,
    PhoneNumber,
    ServiceRequest,
    User,
)
from crm_core.phones import Number, NumberKind, normalise

# Channel variables the IVR may set (manager.conf channelvars): they decide the pop first.
ACCOUNT_VARIABLE = "CC_ACCOUNT"
CUSTOMER_VARIABLE = "CC_CUSTOMER"
PICK_LIST_LIMIT = 10
CARD_ITEMS = 5  # open orders, open service requests, last interactions shown on the card
NOTE_PREVIEW = 280  # the card shows the start of long notes; the customer page shows all
OPEN_ORDER = ("open", "processing", "shipped")
OPEN_REQUEST = ("open", "pending")

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
            "number": {"raw": self.number.raw, "e164": self.number.e164,
                       "kind": str(self.number.kind)},
            "cards": self.cards,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# Built once: building a statement costs more than SQLite takes to run it.
_ID = bindparam("customer_id")
_CUSTOMER = select(Customer.id, Customer.name, Customer.account_number, Customer.level,
                   Customer.region, Customer.churn_flag).where(Customer.id == _ID)
_NUMBERS = (select(PhoneNumber.raw, PhoneNumber.e164, PhoneNumber.label)
            .where(PhoneNumber.customer_id == _ID).order_by(PhoneNumber.id))
_CONTACTS = (select(Contact.id, Contact.name, Contact.title, Contact.email, Contact.is_primary)
             .where(Contact.customer_id == _ID).order_by(Contact.id))
_OPEN_ORDERS = (select(Order.reference, Order.status, Order.summary, Order.amount_cents,
                       Order.currency, Order.placed_at)
                .where(Order.customer_id == _ID, Order.status.in_(OPEN_ORDER))
                .order_by(Order.placed_at.desc()).limit(CARD_ITEMS))
_OPEN_REQUESTS = (select(ServiceRequest.id, ServiceRequest.subject, ServiceRequest.status,
                         ServiceRequest.service_type, ServiceRequest.opened_at)
                  .where(ServiceRequest.customer_id == _ID,
                         ServiceRequest.status.in_(OPEN_REQUEST))
                  .order_by(ServiceRequest.opened_at.desc()).limit(CARD_ITEMS))
_LAST_INTERACTIONS = (select(Interaction.created_at, Interaction.kind, Interaction.disposition,
                             User.display_name,
                             func.substr(Interaction.notes, 1, NOTE_PREVIEW),
                             Interaction.call_linked_id)
                      .outerjoin(User, User.id == Interaction.user_id)
                      .where(Interaction.customer_id == _ID)
                      .order_by(Interaction.created_at.desc(), Interaction.id.desc())
                      .limit(CARD_ITEMS))
_BY_ACCOUNT = select(Customer.id).where(Customer.account_number == bindparam("account"))
_BY_ID = select(Customer.id).where(Customer.id == _ID)


def load_card(conn: Connection, customer_id: int) -> dict[str, Any] | None:
    # Column queries on the connection, no ORM objects: the card is read on every pop.
    key = {"customer_id": customer_id}
    row = conn.execute(_CUSTOMER, key).first()
    if row is None:
        return None
    numbers = conn.execute(_NUMBERS, key)
    contacts = conn.execute(_CONTACTS, key)
    orders = conn.execute(_OPEN_ORDERS, key)
    requests = conn.execute(_OPEN_REQUESTS, key)
    interactions = conn.execute(_LAST_INTERACTIONS, key)
    return {
        "id": row.id,
        "name": row.name,
        "account_number": row.account_number,
        "level": row.level,
        "region": row.region,
        "churn_flag": row.churn_flag,
        "numbers": [{"raw": raw, "e164": e164, "label": label} for raw, e164, label in numbers],
        "contacts": [{"id": i, "name": name, "title": title, "email": email,
                      "is_primary": primary} for i, name, title, email, primary in contacts],
        "open_orders": [{"reference": ref, "status": status, "summary": summary,
                         "amount": f"{cents / 100:.2f}", "currency": currency,
                         "placed_at": _iso(placed)}
                        for ref, status, summary, cents, currency, placed in orders],
        "open_service_requests": [{"id": i, "subject": subject, "status": status,
                                   "service_type": kind, "opened_at": _iso(opened)}
                                  for i, subject, status, kind, opened in requests],
        "last_interactions": [{"at": _iso(at), "kind": kind, "disposition": disposition,
                               "agent": agent, "notes": notes, "call_id": call_id}
                              for at, kind, disposition, agent, notes, call_id in interactions],
    }


def lookup(
    conn: Connection, *, caller_number: str, restricted: bool, variables: Mapping[str, str],
    region: str,
) -> CallerLookup:
    number = normalise(caller_number, region)
    found = _by_ivr(conn, variables)
    if found is not None:
        customer_id, how = found
        return CallerLookup("customer", number, how, [load_card(conn, customer_id) or {}])
    if restricted or number.kind is NumberKind.WITHHELD:
        return CallerLookup("anonymous", Number(number.raw, NumberKind.WITHHELD))
    if number.kind is NumberKind.INVALID:
        return CallerLookup("anonymous", number)  # the raw value is shown, escaped
    matches = conn.execute(NUMBER_MATCHES, {"e164": number.e164,
                                            "limit": PICK_LIST_LIMIT + 1}).all()
    ids = list(dict.fromkeys(customer_id for customer_id, *_ in matches))
    if not ids:
        return CallerLookup("new", number)
    if len(ids) == 1:
        return CallerLookup("customer", number, "number", [load_card(conn, ids[0]) or {}])
    choices = [{"id": customer_id, "name": name, "contact": contact}
               for customer_id, name, _contact_id, contact in matches[:PICK_LIST_LIMIT]]
    return CallerLookup("choices", number, "number", choices)


def _by_ivr(conn: Connection, variables: Mapping[str, str]) -> tuple[int, str] | None:
    account = variables.get(ACCOUNT_VARIABLE, "").strip()
    if account:
        found = conn.scalar(_BY_ACCOUNT, {"account": account})
        if found is not None:
            return found, "account"
    customer_id = variables.get(CUSTOMER_VARIABLE, "").strip()
    if customer_id.isdigit() and len(customer_id) < 19:
        found = conn.scalar(_BY_ID, {"customer_id": int(customer_id)})
        if found is not None:
            return found, "customer_id"
    return None


async def lookup_caller(
    session: AsyncSession, *, caller_number: str, restricted: bool,
    variables: Mapping[str, str], region: str,
) -> CallerLookup:
    conn = await session.connection()
    return await conn.run_sync(lambda sync: lookup(
        sync, caller_number=caller_number, restricted=restricted, variables=variables,
        region=region))


class CallerLookups:
    """Runs the pop's lookup with the fewest trips to the database: on SQLite a synchronous
    reader right on the event loop (``crm_core.db.sqlite_reader``); elsewhere an autocommit
    connection without pre-ping (``crm_core.db.lookup_engine``: no BEGIN, ROLLBACK or ping
    around the queries), retried once if the pool hands over a connection the server dropped.
    The same ``lookup`` either way."""

    def __init__(self, *, sqlite: Engine | None = None, remote: AsyncEngine | None = None,
                 ) -> None:
        if (sqlite is None) == (remote is None):
            raise ValueError("give exactly one of sqlite, remote")
        self.sqlite = sqlite
        self.remote = remote

    async def lookup(self, *, caller_number: str, restricted: bool,
                     variables: Mapping[str, str], region: str) -> CallerLookup:
        def run(conn: Connection) -> CallerLookup:
            return lookup(conn, caller_number=caller_number, restricted=restricted,
                          variables=variables, region=region)

        if self.sqlite is not None:
            with self.sqlite.connect() as conn:
                return run(conn)
        assert self.remote is not None
        for attempt in (1, 2):
            try:
                async with self.remote.connect() as conn:
                    return await conn.run_sync(run)
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def caller_lookups(url: str) -> AsyncIterator[CallerLookups]:
    """The pop's own connection(s) to the database, apart from the service's pool."""
    reader = sqlite_reader(url)
    remote = None if reader is not None else lookup_engine(url)
    try:
        yield CallerLookups(sqlite=reader, remote=remote)
    finally:
        if reader is not None:
            reader.dispose()
        if remote is not None:
            await remote.dispose()


async def customer_card(session: AsyncSession, customer_id: int) -> dict[str, Any] | None:
    conn = await session.connection()
    return await conn.run_sync(load_card, customer_id)
