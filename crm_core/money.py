"""Money: Decimal at the edges (inputs, API, pages), integer cents in the database and in sums.

A price is given with at most two decimals (``"19.99"``, ``19.9``, ``20``); a third decimal is
refused, never rounded away, so that what is stored is what was typed."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, WithJsonSchema

# Amounts are stored in 32-bit integer columns (cents): no stored amount may exceed this.
MAX_CENTS = 2**31 - 1
# A unit price: up to 9,999,999.99, so that it fits; a line's or an order's total is checked
# against MAX_CENTS where it is computed (orders).
Price = Annotated[
    Decimal,
    Field(ge=0, max_digits=9, decimal_places=2),
    # Documented as the decimal string the API sends back (a JSON number is taken too).
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,7}([.][0-9]{1,2})?$",
            "description": 'An amount with at most two decimals, e.g. "19.99"',
            "examples": ["19.99"],
        }
    ),
]
Currency = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. USD"),
]
CENT = Decimal("0.01")


def cents(amount: Decimal) -> int:
    """Whole cents of an amount already checked to two decimals."""
    value = amount * 100
    if value != value.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(value)


def to_decimal(amount_cents: int) -> Decimal:
    return (Decimal(amount_cents) * CENT).quantize(CENT)


def money(amount_cents: int) -> str:
    """How an amount is shown and sent: ``"1234.50"`` (no thousands separator)."""
    return str(to_decimal(amount_cents))
