"""Customers: create them with their contacts and numbers, and find them by a caller's number
or an IVR-collected account number (the screen pop's lookups)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, func, literal_column, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, raiseload

from crm_core import audit
from crm_core.audit import Actor
from crm_core.clock import Clock
from crm_core.errors import Conflict, InvalidInput
from crm_core.models import Address, Contact, Customer, DictionaryEntry, PhoneNumber, User
from crm_core.phones import normalise
from crm_core.schemas import ContactInput, CustomerCreate, PhoneInput


@dataclass(frozen=True, slots=True)
class CustomerFilters:
    """What a customer list can be narrowed by (each None: any)."""

    company: str | None = None  # the start of the company name, any case
    region: str | None = None
    level: str | None = None
    account_manager_id: int | None = None
    churn: bool | None = None

    def apply(self, query: Select[Any], starts_with: Callable[[Any, str], Any]) -> Select[Any]:
        if self.company:
            query = query.where(starts_with(func.lower(Customer.company), self.company.lower()))
        if self.region:
            query = query.where(Customer.region == self.region)
        if self.level:
            query = query.where(Customer.level == self.level)
        if self.account_manager_id is not None:
            query = query.where(Customer.account_manager_id == self.account_manager_id)
        if self.churn is not None:
            query = query.where(Customer.churn_flag.is_(self.churn))
        return query


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
        await self.check_account_number(data.account_number)
        await self.check_choices(data.level, data.region, data.account_manager_id)
        now = self.clock()
        customer = Customer(
            name=data.name,
            name_key=name_key(data.name),
            account_number=data.account_number,
            level=data.level,
            region=data.region,
            company=data.company,
            account_manager_id=data.account_manager_id,
            churn_flag=False,
            created_at=now,
            updated_at=now,
        )
        self.set_numbers_and_contacts(customer, data.numbers, data.contacts)
        customer.addresses = [Address(**a.model_dump(exclude_none=True)) for a in data.addresses]
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

    async def check_account_number(self, account_number: str | None, *, owner: int = 0) -> None:
        if account_number and await self.session.scalar(
            select(Customer.id).where(
                Customer.account_number == account_number, Customer.id != owner
            )
        ):
            raise Conflict(f"account number {account_number!r} is taken", field="account_number")

    async def check_choices(
        self, level: str | None, region: str | None, account_manager_id: int | None
    ) -> None:
        """Level and region come from the data dictionary; the account manager is an active
        user who may handle customers."""
        for category, field, value in (
            ("customer_level", "level", level),
            ("region", "region", region),
        ):
            if value is not None and not await self.session.scalar(
                select(DictionaryEntry.id).where(
                    DictionaryEntry.category == category,
                    DictionaryEntry.code == value,
                    DictionaryEntry.is_active.is_(True),
                )
            ):
                raise InvalidInput(
                    f"{value!r} is not a {field} in the data dictionary", field=field
                )
        if account_manager_id is not None and not await self.session.scalar(
            select(User.id).where(User.id == account_manager_id, User.is_active.is_(True))
        ):
            raise InvalidInput(f"no active user {account_manager_id}", field="account_manager_id")

    def set_numbers_and_contacts(
        self, customer: Customer, numbers: list[PhoneInput], contacts: list[ContactInput]
    ) -> None:
        """The customer's own numbers and its contacts with theirs (all numbers, contacts' too,
        are the customer's: calls from any of them pop it)."""
        customer.numbers = self._numbers(numbers, "numbers")
        customer.contacts = []
        for index, given in enumerate(contacts):
            contact = Contact(
                name=given.name, title=given.title, email=given.email, is_primary=given.is_primary
            )
            contact.numbers = self._numbers(given.numbers, f"contacts.{index}.numbers")
            customer.numbers.extend(contact.numbers)
            customer.contacts.append(contact)

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

    async def search(
        self,
        query: str,
        *,
        filters: CustomerFilters | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Customer]:
        """Customers whose name starts with ``query`` (any case, any script), who own it as a
        number (in any form), or whose account number it is; narrowed by ``filters``; by name.
        Empty: everyone, by name."""
        text = query.strip()
        # What a page of results shows: their numbers, never their contacts or addresses.
        wanted = select(Customer).options(
            raiseload(Customer.contacts), raiseload(Customer.addresses)
        )
        number = normalise(text, self.region) if text else None
        by_name = False
        if number is not None and number.usable and any(c.isdigit() for c in text[:3]):
            # The few owners first, each read by an index: as "id IN (subquery) OR account",
            # PostgreSQL walks every customer in name order (seconds at a million).
            owners = await self.session.scalars(
                select(PhoneNumber.customer_id)
                .where(PhoneNumber.e164 == number.e164)
                .union(select(Customer.id).where(Customer.account_number == text))
            )
            wanted = wanted.where(Customer.id.in_(list(owners)))
        elif text:
            by_name = True
        if filters is not None:
            wanted = filters.apply(wanted, self._starts_with)
        if by_name and self.session.bind.dialect.name == "postgresql":
            return await self._by_name_postgresql(wanted, text, limit, offset)
        if by_name:  # in the order PostgreSQL's pattern index gives (case-folded code points)
            ordered = wanted.where(
                self._starts_with(Customer.name_key, name_key(text))
                | (Customer.account_number == text)
            ).order_by(Customer.name_key, Customer.id)
        else:
            ordered = wanted.order_by(Customer.name, Customer.id)
        return list(await self.session.scalars(ordered.limit(limit).offset(offset)))

    async def _by_name_postgresql(
        self, wanted: Select[Any], text: str, limit: int, offset: int
    ) -> list[Customer]:
        """A name's page read in the order of its pattern index (``~<~``: case-folded, code
        point by code point), which stops after the page however common the prefix (sorting
        every "Marti…" first took 150 ms at a million customers); the account number's owner,
        at most one, joins it in that order."""
        in_index_order = literal_column("name_key USING ~<~"), Customer.id
        names = (
            wanted.where(self._starts_with(Customer.name_key, name_key(text)))
            .order_by(*in_index_order)
            .limit(offset + limit)
        )
        account = wanted.where(Customer.account_number == text)
        page = aliased(Customer, union(names, account).subquery("page"))
        ordered = (
            select(page)
            .options(raiseload(page.contacts), raiseload(page.addresses))
            .order_by(literal_column("page.name_key USING ~<~"), page.id)
            .limit(limit)
            .offset(offset)
        )
        return list(await self.session.scalars(ordered))

    def _starts_with(self, column: Any, prefix: str) -> Any:
        """A prefix match an index serves: LIKE 'prefix%' on PostgreSQL (its pattern_ops
        index), a range of values on SQLite (whose LIKE ignores ASCII case and no index)."""
        if self.session.bind.dialect.name == "postgresql":
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return column.like(escaped + "%", escape="\\")
        return (column >= prefix) & (column < prefix + "\U0010ffff")

    async def find_by_account(self, account_number: str) -> Customer | None:
        return await self.session.scalar(
            select(Customer).where(Customer.account_number == account_number)
        )
