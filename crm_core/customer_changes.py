"""Changing customers after they exist: edit, delete (with a reason, when nothing hangs on
them), merge a duplicate into the one kept, and notes written outside a call. Each change is
one audit row, in the same transaction, with what was there before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import Actor
from crm_core.clock import Clock
from crm_core.customers import CustomerService, name_key
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import (
    Address,
    Callback,
    CallRecord,
    ChurnWarning,
    Customer,
    Interaction,
    Opportunity,
    Order,
    ServiceRequest,
)
from crm_core.orders import OPEN_STATUSES as OPEN_ORDERS
from crm_core.schemas import ContactInput, CustomerUpdate, PhoneInput
from crm_core.service_requests import OPEN_STATUSES as OPEN_REQUESTS

# Rows that follow a merged customer to the one kept.
_MOVED_WITH_A_MERGE = (
    Interaction,
    Order,
    ServiceRequest,
    Callback,
    ChurnWarning,
    CallRecord,
    Opportunity,
)


def snapshot(customer: Customer) -> dict[str, Any]:
    """The customer as the audit trail keeps it."""
    return {
        "name": customer.name,
        "account_number": customer.account_number,
        "level": customer.level,
        "region": customer.region,
        "company": customer.company,
        "account_manager_id": customer.account_manager_id,
        "numbers": [n.e164 for n in customer.numbers],
        "contacts": [c.name for c in customer.contacts],
        "addresses": [
            {"label": a.label, "street": a.street, "city": a.city, "country": a.country}
            for a in customer.addresses
        ],
    }


class CustomerChanges:
    def __init__(self, session: AsyncSession, *, clock: Clock, region: str) -> None:
        self.session = session
        self.clock = clock
        self.customers = CustomerService(session, clock=clock, region=region)

    async def _get(self, customer_id: int) -> Customer:
        customer = await self.session.get(Customer, customer_id)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        return customer

    async def update(self, customer_id: int, data: CustomerUpdate, actor: Actor) -> Customer:
        customer = await self._get(customer_id)
        before = snapshot(customer)
        given = data.model_fields_set
        await self.customers.check_account_number(data.account_number, owner=customer.id)
        await self.customers.check_choices(
            data.level if "level" in given else None,
            data.region if "region" in given else None,
            data.account_manager_id if "account_manager_id" in given else None,
        )
        if "name" in given:
            if data.name is None:
                raise InvalidInput("a customer needs a name", field="name")
            customer.name, customer.name_key = data.name, name_key(data.name)
        for field in ("account_number", "level", "region", "account_manager_id"):
            if field in given:
                setattr(customer, field, getattr(data, field))
        if "company" in given:
            customer.company = data.company or ""
        if "numbers" in given or "contacts" in given:
            # Contacts' numbers are the customer's too: both lists are rebuilt together.
            own = [n for n in customer.numbers if n.contact_id is None]
            numbers = data.numbers if data.numbers is not None else _inputs(own)
            contacts = data.contacts if data.contacts is not None else _contact_inputs(customer)
            self.customers.set_numbers_and_contacts(customer, numbers, contacts)
        if data.addresses is not None:
            customer.addresses = [
                Address(**a.model_dump(exclude_none=True)) for a in data.addresses
            ]
        now = self.clock()
        customer.updated_at = now
        await self.session.flush()
        after = snapshot(customer)
        audit.record(
            self.session,
            actor,
            at=now,
            action="customer.update",
            entity_type="customer",
            entity_id=customer.id,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
        return customer

    async def delete(self, customer_id: int, reason: str, actor: Actor) -> None:
        """Delete a customer nothing hangs on (no open order or service request, no
        opportunity that became it); calls keep their records, without the customer."""
        customer = await self._get(customer_id)
        hanging = await self._hanging(customer_id)
        if hanging:
            raise Conflict(
                f"{customer.name} still has {', '.join(hanging)}: close or merge them first",
                field="customer_id",
            )
        before = snapshot(customer)
        audit.record(
            self.session,
            actor,
            at=self.clock(),
            action="customer.delete",
            entity_type="customer",
            entity_id=customer.id,
            before=before,
            after={"reason": reason},
        )
        await self.session.delete(customer)
        await self.session.flush()

    async def _hanging(self, customer_id: int) -> list[str]:
        """What stops a delete: open orders and service requests (business records nobody may
        lose by a delete; a merge moves them), a customer an opportunity became."""
        counts = {
            "open orders": select(func.count())
            .select_from(Order)
            .where(Order.customer_id == customer_id, Order.status.in_(OPEN_ORDERS)),
            "open service requests": select(func.count())
            .select_from(ServiceRequest)
            .where(
                ServiceRequest.customer_id == customer_id,
                ServiceRequest.status.in_(OPEN_REQUESTS),
            ),
            "a won opportunity": select(func.count())
            .select_from(Opportunity)
            .where(Opportunity.customer_id == customer_id),
        }
        return [what for what, query in counts.items() if await self.session.scalar(query)]

    async def merge(self, keep_id: int, duplicate_id: int, reason: str, actor: Actor) -> Customer:
        """The duplicate's numbers (those the kept customer lacks), contacts, addresses and
        history move to the kept customer; the duplicate goes."""
        if keep_id == duplicate_id:
            raise InvalidInput("a customer cannot be merged into itself", field="duplicate_id")
        keep = await self._get(keep_id)
        duplicate = await self.session.get(Customer, duplicate_id)
        if duplicate is None:
            raise NotFound(f"no customer {duplicate_id}", field="duplicate_id")
        before = {"kept": snapshot(keep), "merged": snapshot(duplicate)}
        for model in _MOVED_WITH_A_MERGE:
            await self.session.execute(
                update(model)
                .where(model.customer_id == duplicate_id)
                .values(customer_id=keep_id)
                .execution_options(synchronize_session=False)
            )
        known = {n.e164 for n in keep.numbers}
        await self._merge_contacts(keep, duplicate)
        for number in list(duplicate.numbers):
            duplicate.numbers.remove(number)
            if number.e164 not in known:
                known.add(number.e164)
                keep.numbers.append(number)
        for address in list(duplicate.addresses):
            duplicate.addresses.remove(address)
            keep.addresses.append(address)
        for field in ("account_number", "level", "region", "account_manager_id"):
            if getattr(keep, field) is None and getattr(duplicate, field) is not None:
                value = getattr(duplicate, field)
                setattr(duplicate, field, None)  # account numbers are unique
                await self.session.flush()
                setattr(keep, field, value)
        keep.company = keep.company or duplicate.company
        keep.churn_flag = keep.churn_flag or duplicate.churn_flag
        now = self.clock()
        keep.updated_at = now
        await self.session.flush()
        await self.session.delete(duplicate)
        await self.session.flush()
        audit.record(
            self.session,
            actor,
            at=now,
            action="customer.merge",
            entity_type="customer",
            entity_id=keep.id,
            before=before,
            after={"merged_id": duplicate_id, "reason": reason, "kept": snapshot(keep)},
        )
        return keep

    async def _merge_contacts(self, keep: Customer, duplicate: Customer) -> None:
        """The duplicate's contacts join the kept customer's; one of the same name (any case)
        is one person: it fills what the kept one lacks and its numbers move to it. One
        primary contact stays primary."""
        same_name = {name_key(c.name): c for c in keep.contacts}
        has_primary = any(c.is_primary for c in keep.contacts)
        for contact in list(duplicate.contacts):
            duplicate.contacts.remove(contact)
            kept = same_name.get(name_key(contact.name))
            if kept is None:
                contact.is_primary = contact.is_primary and not has_primary
                has_primary = has_primary or contact.is_primary
                keep.contacts.append(contact)
                same_name[name_key(contact.name)] = contact
                continue
            kept.title = kept.title or contact.title
            kept.email = kept.email or contact.email
            for number in list(contact.numbers):
                number.contact = kept
            await self.session.delete(contact)

    async def add_note(self, customer_id: int, notes: str, actor: Actor) -> Interaction:
        """A note written outside a call (a visit, an e-mail): it joins the history."""
        await self._get(customer_id)
        now = self.clock()
        item = Interaction(
            customer_id=customer_id,
            call_linked_id=None,
            user_id=actor.user_id,
            kind="note",
            disposition=None,
            notes=notes,
            created_at=now,
        )
        self.session.add(item)
        await self.session.flush()
        audit.record(
            self.session,
            actor,
            at=now,
            action="customer.note",
            entity_type="customer",
            entity_id=customer_id,
            after={"interaction_id": item.id, "length": len(notes)},
        )
        return item


def _inputs(numbers: list[Any]) -> list[PhoneInput]:
    return [PhoneInput(number=n.raw, label=n.label) for n in numbers]


def _contact_inputs(customer: Customer) -> list[ContactInput]:
    return [
        ContactInput(
            name=c.name,
            title=c.title,
            email=c.email,
            is_primary=c.is_primary,
            numbers=_inputs(c.numbers),
        )
        for c in customer.contacts
    ]
