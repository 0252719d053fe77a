"""What the agent's screen shows about a caller: the lookup that decides the pop (IVR account
or customer id first, then the caller's number), and the customer card."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.customers import CustomerService
from crm_core.models import Customer
from crm_core.phones import Number, NumberKind, normalise

# Channel variables the IVR may set (manager.conf channelvars): they decide the pop first.
ACCOUNT_VARIABLE = "CC_ACCOUNT"
CUSTOMER_VARIABLE = "CC_CUSTOMER"
PICK_LIST_LIMIT = 10

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


def customer_card(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "account_number": customer.account_number,
        "level": customer.level,
        "region": customer.region,
        "churn_flag": customer.churn_flag,
        "numbers": [{"raw": n.raw, "e164": n.e164, "label": n.label}
                    for n in customer.numbers],
        "contacts": [{"id": c.id, "name": c.name, "title": c.title, "email": c.email,
                      "is_primary": c.is_primary} for c in customer.contacts],
    }


async def lookup_caller(
    session: AsyncSession, customers: CustomerService, *, caller_number: str,
    restricted: bool, variables: Mapping[str, str], region: str,
) -> CallerLookup:
    number = normalise(caller_number, region)
    found = await _by_ivr(session, customers, variables)
    if found is not None:
        customer, how = found
        return CallerLookup("customer", number, how, [customer_card(customer)])
    if restricted or number.kind is NumberKind.WITHHELD:
        return CallerLookup("anonymous", Number(number.raw, NumberKind.WITHHELD))
    if number.kind is NumberKind.INVALID:
        return CallerLookup("anonymous", number)  # the raw value is shown, escaped
    matches = await customers.find_by_number(number.e164, limit=PICK_LIST_LIMIT + 1)
    ids = list(dict.fromkeys(m.customer_id for m in matches))
    if not ids:
        return CallerLookup("new", number)
    if len(ids) == 1:
        customer = await session.get(Customer, ids[0])
        assert customer is not None
        return CallerLookup("customer", number, "number", [customer_card(customer)])
    choices = []
    for match in matches[:PICK_LIST_LIMIT]:
        choices.append({"id": match.customer_id, "name": match.customer_name,
                        "contact": match.contact_name})
    return CallerLookup("choices", number, "number", choices)


async def _by_ivr(
    session: AsyncSession, customers: CustomerService, variables: Mapping[str, str]
) -> tuple[Customer, str] | None:
    account = variables.get(ACCOUNT_VARIABLE, "").strip()
    if account:
        customer = await customers.find_by_account(account)
        if customer is not None:
            return customer, "account"
    customer_id = variables.get(CUSTOMER_VARIABLE, "").strip()
    if customer_id.isdigit():
        customer = await session.get(Customer, int(customer_id))
        if customer is not None:
            return customer, "customer_id"
    return None
