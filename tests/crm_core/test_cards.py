"""The pop's card: who the caller is and what is open for them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from crm_core.audit import SYSTEM
from crm_core.cards import (
    NOTE_PREVIEW,
    OPEN_ORDER,
    PICK_LIST_LIMIT,
    caller_lookups,
    customer_card,
    lookup_caller,
    lookup_sql,
)
from crm_core.customers import CustomerService
from crm_core.models import (
    ChurnMeasure,
    ChurnWarning,
    Contact,
    Customer,
    Interaction,
    Order,
    ServiceRequest,
    User,
)
from crm_core.schemas import CustomerCreate
from tests.web.telephony import add_customer
from web.appkeys import clock_key, db_key


async def test_the_card_shows_open_orders_and_requests_and_not_closed_ones(app, client):
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    now = app[clock_key]()
    async with app[db_key]() as db:
        db.add_all(
            [
                Order(
                    customer_id=acme,
                    reference="SO-1",
                    status="confirmed",
                    summary="2 chairs",
                    amount_cents=12_950,
                    currency="USD",
                    placed_at=now - timedelta(days=2),
                ),
                Order(
                    customer_id=acme,
                    reference="SO-0",
                    status="closed",
                    summary="old",
                    amount_cents=100,
                    currency="USD",
                    placed_at=now - timedelta(days=90),
                ),
                ServiceRequest(
                    customer_id=acme,
                    subject="Broken leg",
                    status="open",
                    service_type="repair",
                    opened_at=now - timedelta(days=1),
                ),
                ServiceRequest(
                    customer_id=acme,
                    subject="Done",
                    status="closed",
                    opened_at=now - timedelta(days=30),
                    closed_at=now,
                ),
            ]
        )
        await db.commit()
        found = await lookup_caller(
            db, caller_number="0015551234567", restricted=False, variables={}, region="US"
        )
    card = found.cards[0]
    assert found.kind == "customer" and card["id"] == acme
    assert [(o["reference"], o["amount"]) for o in card["open_orders"]] == [("SO-1", "129.50")]
    assert [r["subject"] for r in card["open_service_requests"]] == ["Broken leg"]
    assert card["last_interactions"] == [] and card["churn_flag"] is False


async def test_an_ivr_customer_id_decides_the_pop_before_the_caller_id(app, client):
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    other = await add_customer(app, "Other Inc", "+1 555 999 0000")
    async with app[db_key]() as db:
        found = await lookup_caller(
            db,
            caller_number="+15551234567",
            restricted=False,
            variables={"CC_CUSTOMER": str(other)},
            region="US",
        )
        assert (found.kind, found.matched_by, found.cards[0]["id"]) == (
            "customer",
            "customer_id",
            other,
        )
        garbage = await lookup_caller(
            db,
            caller_number="+15551234567",
            restricted=False,
            variables={"CC_CUSTOMER": "9" * 40},
            region="US",
        )
        assert garbage.cards[0]["id"] == acme  # a nonsense id falls back to the number


# --- the lookup's output, exactly -----------------------------------------------------------
# The expected values below were taken from the lookup as it was before the card became one
# statement (a query per part of the card): the pop and the customer page depend on them, key
# order included.

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
LONG_NOTE = "Rappel: le client préfère l'après-midi. 📞 " * 12  # > NOTE_PREVIEW characters
CROWDED = "+1 555 777 0000"  # on more customers than the pick list shows


async def _scenario(app) -> dict[str, int]:
    """Customers with everything a card shows; returns the ids the cards show, by name."""
    async with app[db_key]() as db:
        service = CustomerService(db, clock=app[clock_key], region="US")
        acme = await service.create(
            CustomerCreate(
                name="Acme Ltd",
                account_number="A-1001",
                level="gold",
                region="north",
                numbers=[{"number": "+1 555 123 4567", "label": "work"}],
                contacts=[
                    {
                        "name": "Jane Roe",
                        "title": "Buyer",
                        "email": "jane@acme.example.com",
                        "is_primary": True,
                        "numbers": [{"number": "+1 555 123 4500", "label": "mobile"}],
                    },
                    {"name": "Bob Stone"},
                ],
            ),
            SYSTEM,
        )
        home = await service.create(
            CustomerCreate(name="Home & Co", numbers=[{"number": "+44 20 7946 0000"}]), SYSTEM
        )
        other = await service.create(
            CustomerCreate(  # the shared number twice: own, contact's
                name="Other Co",
                numbers=[{"number": "+44 20 7946 0000", "label": "home"}],
                contacts=[
                    {"name": "Olga", "numbers": [{"number": "+44 20 7946 0000", "label": "desk"}]}
                ],
            ),
            SYSTEM,
        )
        crowd = [
            (
                await service.create(
                    CustomerCreate(name=f"Crowd {n:02d}", numbers=[{"number": CROWDED}]), SYSTEM
                )
            ).id
            for n in range(PICK_LIST_LIMIT + 2)
        ]
        agent = User(
            username="ann",
            display_name="Ann Agent",
            password_hash="x",
            created_at=T0,
            updated_at=T0,
            password_changed_at=T0,
        )
        db.add(agent)
        await db.flush()
        await db.execute(update(Customer).where(Customer.id == acme.id).values(churn_flag=True))
        # What was done against the churn in question shows; a settled warning's does not.
        active = ChurnWarning(customer_id=acme.id, status="postponed", flagged_at=T0)
        settled = ChurnWarning(customer_id=acme.id, status="churned", flagged_at=T0)
        db.add_all([active, settled])
        await db.flush()
        db.add_all(
            [
                ChurnMeasure(warning_id=active.id, measure="call", note="", created_at=T0),
                ChurnMeasure(
                    warning_id=active.id,
                    measure="discount",
                    note="10% <off>",
                    created_at=T0 + timedelta(hours=1),
                ),
                ChurnMeasure(warning_id=settled.id, measure="visit", note="", created_at=T0),
            ]
        )
        # The five newest open orders: exact amounts of every sign and size, times with and
        # without microseconds; a newer closed order is left out. Written out of order: the
        # card's order must come from the times, not from the ids.
        amounts = (0, 5, 100_000_000, -250, 12_950, 199, 7)
        db.add_all(
            [
                Order(
                    customer_id=acme.id,
                    reference=f"SO-{n}",
                    summary=f"order {n}",
                    status=OPEN_ORDER[n % 3],
                    amount_cents=amounts[n],
                    currency="EUR" if n % 2 else "USD",
                    placed_at=T0 - timedelta(days=n, microseconds=123_456 * (n % 2)),
                )
                for n in (3, 0, 6, 1, 5, 2, 4)
            ]
        )
        db.add(
            Order(
                customer_id=acme.id,
                reference="SO-old",
                status="closed",
                summary="",
                amount_cents=1,
                currency="USD",
                placed_at=T0 + timedelta(days=1),
            )
        )
        requests = {
            n: ServiceRequest(
                customer_id=acme.id,
                subject=f"request {n}",
                status=("open", "assigned")[n % 2],
                service_type=None if n == 1 else "repair",
                opened_at=T0 - timedelta(hours=n, microseconds=100_000 * n),
            )
            for n in (2, 0, 1)
        }
        db.add_all(requests.values())
        db.add(
            ServiceRequest(
                customer_id=acme.id,
                subject="done",
                status="closed",
                opened_at=T0 + timedelta(hours=1),
                closed_at=T0,
            )
        )
        # Eight interactions, the last five shown; five at the same time: the later ids
        # first.
        db.add_all(
            [
                Interaction(
                    customer_id=acme.id,
                    user_id=agent.id if n % 2 else None,
                    kind=("call", "note")[n % 2],
                    disposition="sale" if n % 3 == 0 else None,
                    notes=LONG_NOTE if n == 2 else f"note {n}",
                    call_linked_id=f"1700000000.{n}" if n % 2 == 0 else None,
                    created_at=T0 - timedelta(minutes=min(n, 3), microseconds=n * (n < 3)),
                )
                for n in range(8)
            ]
        )
        await db.flush()
        contacts = {c.name: c.id for c in (await db.scalars(select(Contact))).all()}
        ids = {
            "acme": acme.id,
            "home": home.id,
            "other": other.id,
            "jane": contacts["Jane Roe"],
            "bob": contacts["Bob Stone"],
            "olga": contacts["Olga"],
            **{f"request{n}": r.id for n, r in requests.items()},
            **{f"crowd{n}": crowd_id for n, crowd_id in enumerate(crowd)},
        }
        await db.commit()
    return ids


def _cases(ids: dict[str, int]) -> list[tuple[str, str, bool, dict[str, str]]]:
    """(name, caller number, presentation restricted, IVR variables)."""
    return [
        ("by_number", "(555) 123-4567", False, {}),
        ("by_contact_number", "+15551234500", False, {}),
        ("by_account", "+19999999999", False, {"CC_ACCOUNT": "A-1001"}),
        ("by_account_withheld", "+15550001111", True, {"CC_ACCOUNT": "A-1001"}),
        ("by_customer_id", "", True, {"CC_CUSTOMER": str(ids["other"])}),
        (
            "unknown_account",
            "+442079460000",
            False,
            {"CC_ACCOUNT": "nobody", "CC_CUSTOMER": "9" * 40},
        ),
        ("shared", "+442079460000", False, {}),
        ("crowded", CROWDED, False, {}),
        ("unknown", "+1 555 000 1111", False, {}),
        ("withheld", "anonymous", False, {}),
        ("restricted", "+15551234567", True, {}),
        ("invalid", "12", False, {}),
    ]


async def _lookups(app, ids: dict[str, int]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    async with app[db_key]() as db:
        for name, caller, restricted, variables in _cases(ids):
            result = await lookup_caller(
                db, caller_number=caller, restricted=restricted, variables=variables, region="US"
            )
            found[name] = result.as_dict()
        found["customer_card"] = await customer_card(db, ids["acme"])
        found["no_card"] = await customer_card(db, 10**6)
    return found


def _acme_card(ids: dict[str, int]) -> dict[str, Any]:
    note_preview = ("Rappel: le client préfère l'après-midi. 📞 " * 7)[:NOTE_PREVIEW]
    return {
        "id": ids["acme"],
        "name": "Acme Ltd",
        "account_number": "A-1001",
        "level": "gold",
        "region": "north",
        "churn_flag": True,
        "churn_measures": [
            {"measure": "discount", "note": "10% <off>", "at": "2026-11-20T09:00:00+00:00"},
            {"measure": "call", "note": "", "at": "2026-11-20T08:00:00+00:00"},
        ],
        "numbers": [
            {"raw": "+1 555 123 4500", "e164": "+15551234500", "label": "mobile"},
            {"raw": "+1 555 123 4567", "e164": "+15551234567", "label": "work"},
        ],
        "contacts": [
            {
                "id": ids["jane"],
                "name": "Jane Roe",
                "title": "Buyer",
                "email": "jane@acme.example.com",
                "is_primary": True,
            },
            {
                "id": ids["bob"],
                "name": "Bob Stone",
                "title": None,
                "email": None,
                "is_primary": False,
            },
        ],
        "open_orders": [
            {
                "reference": "SO-0",
                "status": "draft",
                "summary": "order 0",
                "amount": "0.00",
                "currency": "USD",
                "placed_at": "2026-11-20T08:00:00+00:00",
            },
            {
                "reference": "SO-1",
                "status": "awaiting_confirmation",
                "summary": "order 1",
                "amount": "0.05",
                "currency": "EUR",
                "placed_at": "2026-11-19T07:59:59.876544+00:00",
            },
            {
                "reference": "SO-2",
                "status": "confirmed",
                "summary": "order 2",
                "amount": "1000000.00",
                "currency": "USD",
                "placed_at": "2026-11-18T08:00:00+00:00",
            },
            {
                "reference": "SO-3",
                "status": "draft",
                "summary": "order 3",
                "amount": "-2.50",
                "currency": "EUR",
                "placed_at": "2026-11-17T07:59:59.876544+00:00",
            },
            {
                "reference": "SO-4",
                "status": "awaiting_confirmation",
                "summary": "order 4",
                "amount": "129.50",
                "currency": "USD",
                "placed_at": "2026-11-16T08:00:00+00:00",
            },
        ],
        "open_service_requests": [
            {
                "id": ids["request0"],
                "subject": "request 0",
                "status": "open",
                "service_type": "repair",
                "opened_at": "2026-11-20T08:00:00+00:00",
            },
            {
                "id": ids["request1"],
                "subject": "request 1",
                "status": "assigned",
                "service_type": None,
                "opened_at": "2026-11-20T06:59:59.900000+00:00",
            },
            {
                "id": ids["request2"],
                "subject": "request 2",
                "status": "open",
                "service_type": "repair",
                "opened_at": "2026-11-20T05:59:59.800000+00:00",
            },
        ],
        "last_interactions": [
            {
                "at": "2026-11-20T08:00:00+00:00",
                "kind": "call",
                "disposition": "sale",
                "agent": None,
                "notes": "note 0",
                "call_id": "1700000000.0",
            },
            {
                "at": "2026-11-20T07:58:59.999999+00:00",
                "kind": "note",
                "disposition": None,
                "agent": "Ann Agent",
                "notes": "note 1",
                "call_id": None,
            },
            {
                "at": "2026-11-20T07:57:59.999998+00:00",
                "kind": "call",
                "disposition": None,
                "agent": None,
                "notes": note_preview,
                "call_id": "1700000000.2",
            },
            {
                "at": "2026-11-20T07:57:00+00:00",
                "kind": "note",
                "disposition": None,
                "agent": "Ann Agent",
                "notes": "note 7",
                "call_id": None,
            },
            {
                "at": "2026-11-20T07:57:00+00:00",
                "kind": "call",
                "disposition": "sale",
                "agent": None,
                "notes": "note 6",
                "call_id": "1700000000.6",
            },
        ],
    }


def _expected(ids: dict[str, int]) -> dict[str, Any]:
    acme = _acme_card(ids)

    def number(raw: str, e164: str, kind: str = "e164") -> dict[str, str]:
        return {"raw": raw, "e164": e164, "kind": kind}

    shared = number("+442079460000", "+442079460000")
    other_card = {
        "id": ids["other"],
        "name": "Other Co",
        "account_number": None,
        "level": None,
        "region": None,
        "churn_flag": False,
        "churn_measures": [],
        "numbers": [
            {"raw": "+44 20 7946 0000", "e164": "+442079460000", "label": "desk"},
            {"raw": "+44 20 7946 0000", "e164": "+442079460000", "label": "home"},
        ],
        "contacts": [
            {"id": ids["olga"], "name": "Olga", "title": None, "email": None, "is_primary": False}
        ],
        "open_orders": [],
        "open_service_requests": [],
        "last_interactions": [],
    }
    return {
        "by_number": {
            "kind": "customer",
            "matched_by": "number",
            "number": number("(555) 123-4567", "+15551234567"),
            "cards": [acme],
        },
        "by_contact_number": {
            "kind": "customer",
            "matched_by": "number",
            "number": number("+15551234500", "+15551234500"),
            "cards": [acme],
        },
        "by_account": {
            "kind": "customer",
            "matched_by": "account",
            "number": number("+19999999999", "+19999999999"),
            "cards": [acme],
        },
        # The IVR decides before the presentation: the number is shown as it came.
        "by_account_withheld": {
            "kind": "customer",
            "matched_by": "account",
            "number": number("+15550001111", "+15550001111"),
            "cards": [acme],
        },
        "by_customer_id": {
            "kind": "customer",
            "matched_by": "customer_id",
            "number": number("", "", "withheld"),
            "cards": [other_card],
        },
        "unknown_account": {
            "kind": "choices",
            "matched_by": "number",
            "number": shared,
            "cards": [
                {"id": ids["home"], "name": "Home & Co", "contact": None},
                {"id": ids["other"], "name": "Other Co", "contact": "Olga"},
                {"id": ids["other"], "name": "Other Co", "contact": None},
            ],
        },
        "shared": {
            "kind": "choices",
            "matched_by": "number",
            "number": shared,
            "cards": [
                {"id": ids["home"], "name": "Home & Co", "contact": None},
                {"id": ids["other"], "name": "Other Co", "contact": "Olga"},
                {"id": ids["other"], "name": "Other Co", "contact": None},
            ],
        },
        "crowded": {
            "kind": "choices",
            "matched_by": "number",
            "number": number(CROWDED, "+15557770000"),
            "cards": [
                {"id": ids[f"crowd{n}"], "name": f"Crowd {n:02d}", "contact": None}
                for n in range(PICK_LIST_LIMIT)
            ],
        },
        "unknown": {
            "kind": "new",
            "matched_by": None,
            "number": number("+1 555 000 1111", "+15550001111"),
            "cards": [],
        },
        "withheld": {
            "kind": "anonymous",
            "matched_by": None,
            "number": number("anonymous", "", "withheld"),
            "cards": [],
        },
        "restricted": {
            "kind": "anonymous",
            "matched_by": None,
            "number": number("+15551234567", "", "withheld"),
            "cards": [],
        },
        "invalid": {
            "kind": "anonymous",
            "matched_by": None,
            "number": number("12", "", "invalid"),
            "cards": [],
        },
        "customer_card": acme,
        "no_card": None,
    }


async def test_the_lookup_shows_exactly_what_it_showed_before(app, client):
    ids = await _scenario(app)
    found = await _lookups(app, ids)
    expected = _expected(ids)
    for name, value in expected.items():
        assert found[name] == value, name
    # Key order too: the pop's JSON is built from these dicts.
    assert json.dumps(found) == json.dumps(expected)


async def test_a_lookup_is_one_statement(app, client):
    ids = await _scenario(app)
    engine = app[db_key].kw["bind"].sync_engine
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    async with app[db_key]() as db:
        await db.connection()  # not counted: the session's own BEGIN, if any
        event.listen(engine, "before_cursor_execute", count)
        try:
            for caller, variables, kind in (
                ("+15551234567", {}, "customer"),
                ("+442079460000", {}, "choices"),
                ("+15550001111", {}, "new"),
                ("", {"CC_ACCOUNT": "A-1001"}, "customer"),
                ("", {"CC_CUSTOMER": str(ids["acme"])}, "customer"),
            ):
                sent.clear()
                found = await lookup_caller(
                    db, caller_number=caller, restricted=False, variables=variables, region="US"
                )
                assert (found.kind, len(sent)) == (kind, 1), (caller, variables, sent)
            sent.clear()
            assert await customer_card(db, ids["acme"]) == _acme_card(ids)
            assert len(sent) == 1
        finally:
            event.remove(engine, "before_cursor_execute", count)


async def test_the_pops_own_connections_show_the_same(app, client, database_url):
    # CallerLookups (the pop's reader on SQLite, held autocommit connections on PostgreSQL)
    # against the same expected values; twice, so that held connections are reused.
    ids = await _scenario(app)
    expected = _expected(ids)
    async with caller_lookups(database_url) as pop:
        for _round in range(2):
            for name, caller, restricted, variables in _cases(ids):
                found = await pop.lookup(
                    caller_number=caller, restricted=restricted, variables=variables, region="US"
                )
                assert json.dumps(found.as_dict()) == json.dumps(expected[name]), name


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite holds none
async def test_a_held_connection_the_server_dropped_is_retried_once(
    app, client, backend, database_url
):
    import asyncpg

    ids = await _scenario(app)
    acme = _acme_card(ids)
    async with caller_lookups(database_url) as pop:
        first = await pop.lookup(
            caller_number="+15551234567", restricted=False, variables={}, region="US"
        )
        assert first.cards == [acme] and len(pop._held) == 1
        admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:  # what a server restart or an idle timeout does to the held connection
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        again = await pop.lookup(
            caller_number="+15551234567", restricted=False, variables={}, region="US"
        )
        assert again.as_dict() == first.as_dict() and len(pop._held) == 1


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite holds none
async def test_a_cancelled_lookup_does_not_keep_its_connection(
    app, client, backend, database_url, monkeypatch
):
    import asyncio

    from crm_core import cards

    ids = await _scenario(app)
    async with caller_lookups(database_url) as pop:
        await pop.lookup(caller_number="+15551234567", restricted=False, variables={}, region="US")
        assert len(pop._held) == 1

        async def cancelled(*_: Any) -> None:
            raise asyncio.CancelledError

        with monkeypatch.context() as patch:
            patch.setattr(cards, "_lookup_async", cancelled)
            with pytest.raises(asyncio.CancelledError):
                await pop.lookup(
                    caller_number="+15551234567", restricted=False, variables={}, region="US"
                )
        assert pop._held == []  # interrupted halfway: not handed to the next lookup
        found = await pop.lookup(
            caller_number="+15551234567", restricted=False, variables={}, region="US"
        )
        assert found.cards == [_acme_card(ids)] and len(pop._held) == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL's: in the bench
async def test_no_statement_scans_a_table_on_sqlite(app, client, backend, database_url):
    # Every table is reached by an index from the caller's number, account or customer id (a
    # join the planner may turn round would read every customer: at 1 M, a pop in seconds).
    import sqlite3

    conn = sqlite3.connect(database_url.split("///", 1)[1])
    try:
        for how, sql in lookup_sql("sqlite").items():
            plan = [row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("1",))]
            scans = [
                step
                for step in plan
                if step.startswith("SCAN ")
                and step.split()[1] not in {"m", "s", "n", "k", "r", "q", "i", "p", "w"}
            ]
            assert not scans, (how, scans)
    finally:
        conn.close()
