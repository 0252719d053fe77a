"""The pop's card: who the caller is and what is open for them."""

from __future__ import annotations

from datetime import timedelta

from crm_core.cards import lookup_caller
from crm_core.models import Order, ServiceRequest
from tests.web.telephony import add_customer
from web.appkeys import clock_key, db_key


async def test_the_card_shows_open_orders_and_requests_and_not_closed_ones(app, client):
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    now = app[clock_key]()
    async with app[db_key]() as db:
        db.add_all([
            Order(customer_id=acme, reference="SO-1", status="open", summary="2 chairs",
                  amount_cents=12_950, currency="USD", placed_at=now - timedelta(days=2)),
            Order(customer_id=acme, reference="SO-0", status="closed", summary="old",
                  amount_cents=100, currency="USD", placed_at=now - timedelta(days=90)),
            ServiceRequest(customer_id=acme, subject="Broken leg", status="open",
                           service_type="repair", opened_at=now - timedelta(days=1)),
            ServiceRequest(customer_id=acme, subject="Done", status="closed",
                           opened_at=now - timedelta(days=30), closed_at=now),
        ])
        await db.commit()
        found = await lookup_caller(db, caller_number="0015551234567", restricted=False,
                                    variables={}, region="US")
    card = found.cards[0]
    assert found.kind == "customer" and card["id"] == acme
    assert [(o["reference"], o["amount"]) for o in card["open_orders"]] == [("SO-1", "129.50")]
    assert [r["subject"] for r in card["open_service_requests"]] == ["Broken leg"]
    assert card["last_interactions"] == [] and card["churn_flag"] is False


async def test_an_ivr_customer_id_decides_the_pop_before_the_caller_id(app, client):
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    other = await add_customer(app, "Other Inc", "+1 555 999 0000")
    async with app[db_key]() as db:
        found = await lookup_caller(db, caller_number="+15551234567", restricted=False,
                                    variables={"CC_CUSTOMER": str(other)}, region="US")
        assert (found.kind, found.matched_by, found.cards[0]["id"]) == (
            "customer", "customer_id", other)
        garbage = await lookup_caller(db, caller_number="+15551234567", restricted=False,
                                      variables={"CC_CUSTOMER": "9" * 40}, region="US")
        assert garbage.cards[0]["id"] == acme  # a nonsense id falls back to the number
