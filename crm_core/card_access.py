"""What of a caller card a user may see: the card is built once for everyone; each user gets
it cut down to their permissions (an agent without ``orders.read`` sees no orders on a pop).

Pure: no I/O; the pop pipeline and the API apply it with the user's permissions."""

from __future__ import annotations

from collections.abc import Set
from typing import Any

# A card's parts and the permission each needs beside customers.read.
_PARTS: dict[str, str] = {
    "open_orders": "orders.read",
    "open_service_requests": "service_requests.read",
}


def card_for(card: dict[str, Any], permissions: Set[str]) -> dict[str, Any]:
    """The card without the parts these permissions do not cover."""
    hidden = [part for part, needed in _PARTS.items() if needed not in permissions]
    if not hidden:
        return card
    return {key: value for key, value in card.items() if key not in hidden}


def lookup_for(lookup: dict[str, Any], permissions: Set[str]) -> dict[str, Any]:
    """A caller lookup (``CallerLookup.as_dict``) as this user may see it: without
    ``customers.read`` no customer at all (the caller's number stays), else each card cut."""
    if "customers.read" not in permissions:
        return {**lookup, "kind": "hidden", "matched_by": None, "cards": []}
    return {**lookup, "cards": [card_for(card, permissions) for card in lookup["cards"]]}
