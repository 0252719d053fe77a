"""Customers: create them with their contacts and numbers, and find them by a caller's number
or an IVR-collected account number (the screen pop's lookups)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import Actor
from crm_core.clock import Clock
from crm_core.errors import Conflict, InvalidInput
from crm_core.models import Contact, Customer, PhoneNumber
from crm_core.phones import normalise
from crm_core.schemas import CustomerCreate, PhoneInput


@dataclass(frozen=True, slots=True)
class NumberMatch:
    customer_id: int
    customer_name: str
    contact_id: int | None
    contact_name: str | None


# Customers (and the contact, if any) owning a number: the caller lookup's one query. Built
# once (it runs on every pop); execute with {"e164": ..., "limit": ...}.
NUMBER_MATCHES: Select[tuple[int, str, int | None, str | None]] = (
    select(Customer.id, Customer.name, Contact.id, Contact.name)
    .join(PhoneNumber, PhoneNumber.customer_id == Customer.id)
    .outerjoin(Contact, Contact.id == PhoneNumber.contact_id)
    .where(PhoneNumber.e164 == bindparam("e164"))
    .order_by(Customer.id)
    .limit(bindparam("limit"))
)


async def customer_exists(session: AsyncSession, customer_id: int) -> bool:
    """Without loading the customer (and its contacts and numbers)."""
    found = await session.scalar(select(Customer.id).where(Customer.id == customer_id))
    return found is not None


def name_key(name: str) -> str:
    """What a name is searched by: case-folded (``Straße`` and ``STRASSE`` alike)."""
    return name.casefold()[:200]


class CustomerService:
    def __init__(self, session: AsyncSession, *, clock: Clock, region: str) -> None:
        self.session = session
        self.clock = clock
        self.region = region

    async def create(self, data: CustomerCreate, actor: Actor) -> Customer:
        if data.account_number and await self.session.scalar(
            select(Customer.id).where(Customer.account_number == data.account_number)
        ):
            raise Conflict(
                f"account number {data.account_number!r} is taken", field="account_number"
            )
        now = self.clock()
        customer = Customer(
            name=data.name,
            name_key=name_key(data.name),
            account_number=data.account_number,
            level=data.level,
            region=data.region,
            churn_flag=False,
            created_at=now,
            updated_at=now,
        )
        customer.numbers = self._numbers(data.numbers, "numbers")
        for index, given in enumerate(data.contacts):
            contact = Contact(
                name=given.name, title=given.title, email=given.email, is_primary=given.is_primary
            )
            contact.numbers = self._numbers(given.numbers, f"contacts.{index}.numbers")
            customer.numbers.extend(contact.numbers)
            customer.contacts.append(contact)
        self.session.add(customer)
        await self.session.flush()
        audit.record(
            self.session,
            actor,
            at=now,
            action="customer.create",
            entity_type="customer",
            entity_id=customer.id,
            after={"name": customer.name, "numbers": [n.e164 for n in customer.numbers]},
        )
        return customer

    def _numbers(self, given: list[PhoneInput], field: str) -> list[PhoneNumber]:
        numbers = []
        for index, item in enumerate(given):
            number = normalise(item.number, self.region)
            if not number.usable:
                raise InvalidInput(
                    f"{item.number!r} is not a phone number", field=f"{field}.{index}.number"
                )
            numbers.append(PhoneNumber(raw=number.raw, e164=number.e164, label=item.label))
        return numbers

    async def find_by_number(self, e164: str, *, limit: int = 20) -> list[NumberMatch]:
        return [
            NumberMatch(*row)
            for row in await self.session.execute(NUMBER_MATCHES, {"e164": e164, "limit": limit})
        ]

    async def search(self, query: str, *, limit: int = 50, offset: int = 0) -> list[Customer]:
        """Customers whose name starts with ``query`` (any case), who own it as a number (in
        any form), or whose account number it is; by name. Empty: everyone, by name."""
        text = query.strip()
        wanted = select(Customer).order_by(Customer.name, Customer.id)
        number = normalise(text, self.region) if text else None
        if number is not None and number.usable and any(c.isdigit() for c in text[:3]):
            owners = select(PhoneNumber.customer_id).where(PhoneNumber.e164 == number.e164)
            wanted = wanted.where(Customer.id.in_(owners) | (Customer.account_number == text))
        elif text:
            # A prefix, any case; LIKE's own wildcards in the query are taken literally.
            escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            wanted = wanted.where(
                func.lower(Customer.name).like(escaped + "%", escape="\\")
                | (Customer.account_number == text)
            )
        return list(await self.session.scalars(wanted.limit(limit).offset(offset)))

    async def find_by_account(self, account_number: str) -> Customer | None:
        return await self.session.scalar(
            select(Customer).where(Customer.account_number == account_number)
        )
