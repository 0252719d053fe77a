"""Customers after they exist, through the API and the pages: search with filters, edit,
delete with a reason, merge two, notes outside a call; each change on the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from crm_core.models import AuditEntry, Customer, Interaction, Order, PhoneNumber
from tests.conftest import add_user, api_login, csrf_from
from tests.web.telephony import add_customer
from web.appkeys import db_key


async def _signed_in(client, app, role: str = "inbound_agent") -> str:
    await add_user(app, "ann", role)
    return await api_login(client, "ann")


async def _call(client, method: str, path: str, token: str, body=None, status: int = 200):
    response = await client.request(method, path, headers={"X-CSRF-Token": token}, json=body)
    assert response.status == status, await response.text()
    return await response.json()


async def _audit(app, action: str) -> list[AuditEntry]:
    async with app[db_key]() as db:
        return list(await db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


async def test_a_search_finds_by_name_start_in_any_case_and_script_and_by_any_number_form(
    client, app
):
    token = await _signed_in(client, app)
    wang = await add_customer(app, "王小明", "+1 555 000 1111")
    await add_customer(app, "Émile Zola", "+1 555 000 2222")
    await add_customer(app, "emily stone", "+1 555 000 3333")
    assert token

    async def names(**query) -> list[str]:
        found = await (await client.get("/api/v1/customers", params=query)).json()
        return [c["name"] for c in found["customers"]]

    assert await names(q="王") == ["王小明"]
    assert await names(q="ÉMI") == ["Émile Zola"]
    assert await names(q="EMI") == ["emily stone"]
    assert await names(q="(555) 000-1111") == ["王小明"]
    assert await names(q="zz") == []
    found = await (await client.get("/api/v1/customers", params={"q": "王"})).json()
    assert found["customers"][0]["id"] == wang


async def test_filters_narrow_the_list_and_bad_filters_are_refused(client, app):
    token = await _signed_in(client, app, "account_manager")
    acme = await add_customer(app, "Acme North", "+1 555 000 1111")
    await add_customer(app, "Acme South", "+1 555 000 2222")
    await _call(
        client,
        "PATCH",
        f"/api/v1/customers/{acme}",
        token,
        {"region": "north", "level": "gold", "company": "Acme Holdings"},
    )
    found = await (
        await client.get("/api/v1/customers", params={"region": "north", "level": "gold"})
    ).json()
    assert [c["name"] for c in found["customers"]] == ["Acme North"]
    found = await (await client.get("/api/v1/customers", params={"company": "acme h"})).json()
    assert [c["id"] for c in found["customers"]] == [acme]
    for bad in ({"page": "0"}, {"page": "x"}, {"churn": "maybe"}, {"account_manager_id": "me"}):
        assert (await client.get("/api/v1/customers", params=bad)).status == 422, bad


async def test_an_edit_takes_dictionary_values_addresses_contacts_and_numbers(client, app):
    token = await _signed_in(client, app)
    acme = await add_customer(app, "Acme Ltd", "+1 555 000 1111")
    card = await _call(
        client,
        "PATCH",
        f"/api/v1/customers/{acme}",
        token,
        {
            "name": "Acme Limited",
            "level": "vip",
            "region": "east",
            "numbers": [{"number": "+1 555 000 9999", "label": "office"}],
            "contacts": [{"name": "Jo Buyer", "numbers": [{"number": "(555) 000-7777"}]}],
            "addresses": [
                {"label": "office", "street": "1 Main St", "city": "Springfield", "country": "US"}
            ],
        },
    )
    assert (card["name"], card["level"], card["region"]) == ("Acme Limited", "vip", "east")
    assert sorted(n["e164"] for n in card["numbers"]) == ["+15550007777", "+15550009999"]
    view = await (await client.get(f"/api/v1/customers/{acme}")).json()
    assert view["addresses"][0]["city"] == "Springfield"
    (entry,) = await _audit(app, "customer.update")
    assert entry.before["name"] == "Acme Ltd" and entry.after["name"] == "Acme Limited"
    # A call from the contact's number pops the customer.
    found = await (await client.get("/api/v1/customers", params={"number": "5550007777"})).json()
    assert found["cards"][0]["id"] == acme


async def test_an_edit_with_a_made_up_level_or_a_bad_number_changes_nothing(client, app):
    token = await _signed_in(client, app)
    acme = await add_customer(app, "Acme Ltd", "+1 555 000 1111")
    for body, field in (
        ({"level": "platinum", "name": "Changed"}, "level"),
        ({"region": "atlantis"}, "region"),
        ({"numbers": [{"number": "not a number"}], "name": "Changed"}, "numbers.0.number"),
        ({"account_manager_id": 999999}, "account_manager_id"),
        ({"addresses": [{"country": "USA"}]}, "addresses.0.country"),
    ):
        response = await client.patch(
            f"/api/v1/customers/{acme}", headers={"X-CSRF-Token": token}, json=body
        )
        assert response.status == 422, body
        assert field in (await response.json())["fields"], body
    async with app[db_key]() as db:
        customer = await db.get(Customer, acme)
        assert (customer.name, customer.level, customer.region) == ("Acme Ltd", None, None)
        assert [n.e164 for n in customer.numbers] == ["+15550001111"]
    assert await _audit(app, "customer.update") == []


async def test_a_customer_with_an_open_order_cannot_be_deleted_one_without_can(client, app):
    token = await _signed_in(client, app)
    acme = await add_customer(app, "Acme Ltd", "+1 555 000 1111")
    gone = await add_customer(app, "Old Co", "+1 555 000 2222")
    async with app[db_key]() as db:
        db.add(
            Order(
                customer_id=acme, reference="SO-1", status="confirmed", placed_at=datetime.now(UTC)
            )
        )
        await db.commit()
    response = await client.post(
        f"/api/v1/customers/{acme}/delete",
        headers={"X-CSRF-Token": token},
        json={"reason": "duplicate"},
    )
    assert response.status == 409
    assert "open orders" in (await response.json())["message"]
    missing_reason = await client.post(
        f"/api/v1/customers/{gone}/delete", headers={"X-CSRF-Token": token}, json={"reason": ""}
    )
    assert missing_reason.status == 422
    await _call(
        client, "POST", f"/api/v1/customers/{gone}/delete", token, {"reason": "closed down"}
    )
    assert (await client.get(f"/api/v1/customers/{gone}")).status == 404
    assert (await client.get(f"/api/v1/customers/{acme}")).status == 200
    # The page's form answers with the refusal's own status: a conflict, or bad input.
    form = csrf_from(await (await client.get(f"/customers/{acme}")).text())
    refused = await client.post(
        f"/customers/{acme}/delete", data={"csrf_token": form, "reason": "duplicate"}
    )
    assert refused.status == 409 and "open orders" in await refused.text()
    empty = await client.post(f"/customers/{acme}/delete", data={"csrf_token": form, "reason": ""})
    assert empty.status == 422
    (entry,) = await _audit(app, "customer.delete")
    assert entry.after == {"reason": "closed down"} and entry.before["name"] == "Old Co"


async def test_a_merge_moves_numbers_contacts_and_history_and_removes_the_duplicate(client, app):
    token = await _signed_in(client, app)
    keep = await add_customer(app, "Acme Ltd", "+1 555 000 1111")
    duplicate = await add_customer(app, "ACME Limited", "+1 555 000 1111", "+1 555 000 2222")
    await _call(
        client,
        "POST",
        f"/api/v1/customers/{duplicate}/notes",
        token,
        {"notes": "met at the fair"},
        status=201,
    )
    await _call(
        client,
        "PATCH",
        f"/api/v1/customers/{duplicate}",
        token,
        {"contacts": [{"name": "Jo Buyer"}], "account_number": "AC-9"},
    )
    card = await _call(
        client,
        "POST",
        f"/api/v1/customers/{keep}/merge",
        token,
        {"duplicate_id": duplicate, "reason": "same company"},
    )
    assert sorted(n["e164"] for n in card["numbers"]) == ["+15550001111", "+15550002222"]
    assert [c["name"] for c in card["contacts"]] == ["Jo Buyer"]
    assert card["account_number"] == "AC-9"
    assert (await client.get(f"/api/v1/customers/{duplicate}")).status == 404
    async with app[db_key]() as db:
        notes = list(await db.scalars(select(Interaction.customer_id)))
        numbers = await db.scalar(select(func.count()).select_from(PhoneNumber))
    assert notes == [keep] and numbers == 2
    (entry,) = await _audit(app, "customer.merge")
    assert entry.after["merged_id"] == duplicate and entry.after["reason"] == "same company"
    for body in ({"duplicate_id": keep, "reason": "x"}, {"duplicate_id": 424242, "reason": "x"}):
        response = await client.post(
            f"/api/v1/customers/{keep}/merge", headers={"X-CSRF-Token": token}, json=body
        )
        assert response.status in (404, 422), body


async def test_a_merge_folds_a_contact_of_the_same_name_into_one_person(client, app):
    token = await _signed_in(client, app)
    keep = await add_customer(app, "Acme Ltd", "+1 555 000 1111")
    duplicate = await add_customer(app, "ACME Limited", "+1 555 000 2222")
    await _call(
        client,
        "PATCH",
        f"/api/v1/customers/{keep}",
        token,
        {"contacts": [{"name": "Jo Buyer", "is_primary": True}]},
    )
    await _call(
        client,
        "PATCH",
        f"/api/v1/customers/{duplicate}",
        token,
        {
            "contacts": [
                {
                    "name": "JO BUYER",
                    "email": "jo@acme-example.com",
                    "is_primary": True,
                    "numbers": [{"number": "+1 555 000 3333"}],
                },
                {"name": "Sam Other", "is_primary": True},
            ]
        },
    )
    card = await _call(
        client,
        "POST",
        f"/api/v1/customers/{keep}/merge",
        token,
        {"duplicate_id": duplicate, "reason": "same company"},
    )
    contacts = {c["name"]: c for c in card["contacts"]}
    assert sorted(contacts) == ["Jo Buyer", "Sam Other"]
    jo = contacts["Jo Buyer"]
    assert jo["email"] == "jo@acme-example.com" and jo["is_primary"]
    async with app[db_key]() as db:
        moved = await db.scalar(select(PhoneNumber).where(PhoneNumber.e164 == "+15550003333"))
    assert (moved.customer_id, moved.contact_id) == (keep, jo["id"])
    assert not contacts["Sam Other"]["is_primary"]  # one primary contact


async def test_a_team_lead_may_read_customers_but_not_change_them(client, app):
    await add_user(app, "tl", "team_lead")
    token = await api_login(client, "tl")
    acme = await add_customer(app, "Acme Ltd", "+1 555 000 1111")
    assert (await client.get(f"/api/v1/customers/{acme}")).status == 200
    for method, path, body in (
        ("PATCH", f"/api/v1/customers/{acme}", {"name": "x"}),
        ("POST", f"/api/v1/customers/{acme}/delete", {"reason": "x"}),
        ("POST", f"/api/v1/customers/{acme}/notes", {"notes": "x"}),
    ):
        response = await client.request(method, path, headers={"X-CSRF-Token": token}, json=body)
        assert response.status == 403, path
    page = await (await client.get(f"/customers/{acme}")).text()
    assert "/edit" not in page and "Delete the customer" not in page


async def test_the_edit_page_saves_and_shows_a_bad_number_again_with_its_message(client, app):
    await add_user(app, "ann", "inbound_agent")
    await api_login(client, "ann")
    acme = await add_customer(app, "Acme Ltd", "+1 555 000 1111")
    form = await (await client.get(f"/customers/{acme}/edit")).text()
    token = csrf_from(form)
    assert "+1 555 000 1111" in form or "(555) 000-1111" in form
    bad = await client.post(
        f"/customers/{acme}/edit",
        data={"csrf_token": token, "name": "Acme Ltd", "numbers": "banana"},
    )
    assert bad.status == 422 and "banana" in await bad.text()
    saved = await client.post(
        f"/customers/{acme}/edit",
        data={
            "csrf_token": token,
            "name": "Acme Ltd",
            "numbers": "+1 555 000 4444 mobile",
            "city": "Springfield",
            "region": "west",
        },
        allow_redirects=False,
    )
    assert saved.status == 303
    view = await (await client.get(f"/api/v1/customers/{acme}")).json()
    assert [n["e164"] for n in view["card"]["numbers"]] == ["+15550004444"]
    assert view["card"]["region"] == "west" and view["addresses"][0]["city"] == "Springfield"
