"""What the agent's screen shows about a caller: the lookup that decides the pop (IVR account
or customer id first, then the caller's number), and the customer card (who they are, their
contacts and numbers, open orders, open service requests, the last interactions).

Written against a synchronous Session and run with ``AsyncSession.run_sync``: the same queries
serve every database, and the whole lookup is one trip into the driver's context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from crm_core.customers import number_matches
from crm_core.models import Customer, Interaction, Order, ServiceRequest, User
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


def load_card(session: Session, customer: Customer | int) -> dict[str, Any] | None:
    if isinstance(customer, int):
        found = session.get(Customer, customer)
        if found is None:
            return None
        customer = found
    orders = session.scalars(
        select(Order).where(Order.customer_id == customer.id, Order.status.in_(OPEN_ORDER))
        .order_by(Order.placed_at.desc()).limit(CARD_ITEMS))
    requests = session.scalars(
        select(ServiceRequest)
        .where(ServiceRequest.customer_id == customer.id,
               ServiceRequest.status.in_(OPEN_REQUEST))
        .order_by(ServiceRequest.opened_at.desc()).limit(CARD_ITEMS))
    interactions = session.execute(
        select(Interaction, User.display_name)
        .outerjoin(User, User.id == Interaction.user_id)
        .where(Interaction.customer_id == customer.id)
        .order_by(Interaction.created_at.desc(), Interaction.id.desc()).limit(CARD_ITEMS))
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
        "open_orders": [{"reference": o.reference, "status": o.status, "summary": o.summary,
                         "amount": f"{o.amount_cents / 100:.2f}", "currency": o.currency,
                         "placed_at": _iso(o.placed_at)} for o in orders],
        "open_service_requests": [{"id": r.id, "subject": r.subject, "status": r.status,
                                   "service_type": r.service_type,
                                   "opened_at": _iso(r.opened_at)} for r in requests],
        "last_interactions": [{"at": _iso(i.created_at), "kind": i.kind,
                               "disposition": i.disposition, "agent": agent,
                               "notes": i.notes[:NOTE_PREVIEW],
                               "call_id": i.call_linked_id} for i, agent in interactions],
    }


def lookup(
    session: Session, *, caller_number: str, restricted: bool, variables: Mapping[str, str],
    region: str,
) -> CallerLookup:
    number = normalise(caller_number, region)
    found = _by_ivr(session, variables)
    if found is not None:
        customer, how = found
        return CallerLookup("customer", number, how, [load_card(session, customer) or {}])
    if restricted or number.kind is NumberKind.WITHHELD:
        return CallerLookup("anonymous", Number(number.raw, NumberKind.WITHHELD))
    if number.kind is NumberKind.INVALID:
        return CallerLookup("anonymous", number)  # the raw value is shown, escaped
    matches = session.execute(number_matches(number.e164, PICK_LIST_LIMIT + 1)).all()
    ids = list(dict.fromkeys(customer_id for customer_id, *_ in matches))
    if not ids:
        return CallerLookup("new", number)
    if len(ids) == 1:
        return CallerLookup("customer", number, "number", [load_card(session, ids[0]) or {}])
    choices = [{"id": customer_id, "name": name, "contact": contact}
               for customer_id, name, _contact_id, contact in matches[:PICK_LIST_LIMIT]]
    return CallerLookup("choices", number, "number", choices)


def _by_ivr(session: Session, variables: Mapping[str, str]) -> tuple[Customer, str] | None:
    account = variables.get(ACCOUNT_VARIABLE, "").strip()
    if account:
        customer = session.scalar(select(Customer).where(Customer.account_number == account))
        if customer is not None:
            return customer, "account"
    customer_id = variables.get(CUSTOMER_VARIABLE, "").strip()
    if customer_id.isdigit() and len(customer_id) < 19:
        customer = session.get(Customer, int(customer_id))
        if customer is not None:
            return customer, "customer_id"
    return None


async def lookup_caller(
    session: AsyncSession, *, caller_number: str, restricted: bool,
    variables: Mapping[str, str], region: str,
) -> CallerLookup:
    return await session.run_sync(lambda sync: lookup(
        sync, caller_number=caller_number, restricted=restricted, variables=variables,
        region=region))


async def customer_card(session: AsyncSession, customer_id: int) -> dict[str, Any] | None:
    return await session.run_sync(load_card, customer_id)
