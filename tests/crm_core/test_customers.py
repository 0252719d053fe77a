"""Customers and the caller lookups of the screen pop, on both databases."""

from __future__ import annotations

import pytest

from crm_core.audit import SYSTEM
from crm_core.customers import CustomerService
from crm_core.errors import Conflict, InvalidInput
from crm_core.phones import normalise
from crm_core.schemas import CustomerCreate
from web.appkeys import clock_key, db_key


def customer(name: str, *numbers: str, **extra) -> CustomerCreate:
    return CustomerCreate(name=name, numbers=[{"number": n} for n in numbers], **extra)


async def test_a_caller_in_any_form_finds_the_customer_by_number(app, client):
    async with app[db_key]() as db:
        service = CustomerService(db, clock=app[clock_key], region="US")
        acme = await service.create(customer("Acme Ltd", "(555) 123-4567"), SYSTEM)
        await db.commit()
        for caller_id in ("+15551234567", "5551234567", "001 555 123 4567", "1-555-123-4567"):
            matches = await service.find_by_number(normalise(caller_id, "US").e164)
            assert [(m.customer_id, m.customer_name) for m in matches] == [(acme.id, "Acme Ltd")]
        assert acme.numbers[0].raw == "(555) 123-4567"


async def test_a_number_shared_by_two_customers_gives_both_and_a_contact_is_named(app, client):
    async with app[db_key]() as db:
        service = CustomerService(db, clock=app[clock_key], region="GB")
        first = await service.create(customer("First", "020 1234 5678"), SYSTEM)
        second = await service.create(
            CustomerCreate(
                name="Second",
                contacts=[
                    {
                        "name": "Dana Desk",
                        "numbers": [{"number": "+44 20 1234 5678", "label": "desk"}],
                    },
                ],
            ),
            SYSTEM,
        )
        await db.commit()
        matches = await service.find_by_number("+442012345678")
    assert [(m.customer_id, m.contact_name) for m in matches] == [
        (first.id, None),
        (second.id, "Dana Desk"),
    ]


async def test_an_account_number_finds_the_customer(app, client):
    async with app[db_key]() as db:
        service = CustomerService(db, clock=app[clock_key], region="US")
        made = await service.create(customer("Acme", account_number="AC-778"), SYSTEM)
        await db.commit()
        assert (await service.find_by_account("AC-778")).id == made.id
        assert await service.find_by_account("nope") is None
        with pytest.raises(Conflict):
            await service.create(customer("Copy", account_number="AC-778"), SYSTEM)


async def test_a_number_that_is_not_one_is_refused_naming_the_field(app, client):
    async with app[db_key]() as db:
        service = CustomerService(db, clock=app[clock_key], region="US")
        with pytest.raises(InvalidInput) as refused:
            await service.create(customer("Bad", "5551234567", "<script>"), SYSTEM)
    assert refused.value.field == "numbers.1.number"
