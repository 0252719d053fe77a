"""A card cut down to what its user may see."""

from __future__ import annotations

from crm_core.card_access import card_for, lookup_for

CARD = {
    "id": 7,
    "name": "Acme",
    "open_orders": [{"reference": "SO-1"}],
    "open_service_requests": [{"subject": "Broken"}],
    "last_interactions": [],
}
LOOKUP = {"kind": "customer", "matched_by": "number", "number": {"raw": "555"}, "cards": [CARD]}


def test_an_agent_with_every_permission_sees_the_whole_card() -> None:
    held = {"customers.read", "orders.read", "service_requests.read"}
    assert card_for(CARD, held) == CARD


def test_without_orders_read_the_orders_are_not_on_the_card() -> None:
    card = card_for(CARD, {"customers.read", "service_requests.read"})
    assert "open_orders" not in card and card["open_service_requests"] == [{"subject": "Broken"}]


def test_without_service_requests_read_the_requests_are_not_on_the_card() -> None:
    card = card_for(CARD, {"customers.read", "orders.read"})
    assert "open_service_requests" not in card and card["open_orders"]


def test_without_customers_read_only_the_callers_number_remains() -> None:
    seen = lookup_for(LOOKUP, {"calls.handle"})
    assert (seen["kind"], seen["cards"], seen["number"]) == ("hidden", [], {"raw": "555"})


def test_a_lookup_cuts_every_card_it_carries() -> None:
    seen = lookup_for({**LOOKUP, "cards": [CARD, CARD]}, {"customers.read"})
    assert all("open_orders" not in c and "open_service_requests" not in c for c in seen["cards"])
