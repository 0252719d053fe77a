"""What the customer page shows beside the card: addresses, the account manager, and the
customer's orders, service requests, opportunities and churn status, each only to those whose
permissions allow it."""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import (
    ChurnMeasure,
    ChurnWarning,
    Customer,
    Opportunity,
    Order,
    ServiceRequest,
    User,
)

LIMIT = 50


async def customer_timeline(
    session: AsyncSession, customer_id: int, permissions: Set[str]
) -> dict[str, Any]:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return {}
    manager = (
        await session.scalar(
            select(User.display_name).where(User.id == customer.account_manager_id)
        )
        if customer.account_manager_id
        else None
    )
    view: dict[str, Any] = {
        "company": customer.company,
        "account_manager": manager,
        "addresses": [
            {
                "label": a.label,
                "street": a.street,
                "city": a.city,
                "postcode": a.postcode,
                "country": a.country,
            }
            for a in customer.addresses
        ],
    }
    if "orders.read" in permissions:
        orders = await session.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .limit(LIMIT)
        )
        view["orders"] = [
            {
                "id": o.id,
                "reference": o.reference,
                "status": o.status,
                "amount": f"{o.amount_cents / 100:.2f}",
                "currency": o.currency,
                "placed_at": o.placed_at.isoformat(),
            }
            for o in orders
        ]
    if "service_requests.read" in permissions:
        requests = await session.scalars(
            select(ServiceRequest)
            .where(ServiceRequest.customer_id == customer_id)
            .order_by(ServiceRequest.opened_at.desc(), ServiceRequest.id.desc())
            .limit(LIMIT)
        )
        view["service_requests"] = [
            {
                "id": r.id,
                "subject": r.subject,
                "type": r.service_type,
                "status": r.status,
                "opened_at": r.opened_at.isoformat(),
                "satisfaction": r.satisfaction,
            }
            for r in requests
        ]
    if "opportunities.read" in permissions:
        opportunities = await session.scalars(
            select(Opportunity)
            .where(Opportunity.customer_id == customer_id)
            .order_by(Opportunity.created_at.desc())
            .limit(LIMIT)
        )
        view["opportunities"] = [
            {"id": o.id, "title": o.title, "stage": o.stage} for o in opportunities
        ]
    if "churn.read" in permissions:
        warning = await session.scalar(
            select(ChurnWarning)
            .where(ChurnWarning.customer_id == customer_id)
            .order_by(ChurnWarning.flagged_at.desc(), ChurnWarning.id.desc())
            .limit(1)
        )
        if warning is not None:
            measures = await session.scalars(
                select(ChurnMeasure)
                .where(ChurnMeasure.warning_id == warning.id)
                .order_by(ChurnMeasure.created_at)
            )
            view["churn"] = {
                "id": warning.id,
                "status": warning.status,
                "flagged_at": warning.flagged_at.isoformat(),
                "reason": warning.reason,
                "measures": [{"measure": m.measure, "note": m.note} for m in measures],
            }
    return view
