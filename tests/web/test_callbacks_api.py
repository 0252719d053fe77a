"""Personal callbacks through HTTP: scheduled for a customer's number, listed when due, done or
cancelled once by their owner (or who scheduled them); refusals change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm_core.models import AuditEntry, Callback
from tests.conftest import add_user, api_login, page_csrf, web_login
from tests.web.telephony import add_customer
from web.appkeys import clock_key, db_key

API = "/api/v1/callbacks"


async def post(client, token: str, path: str, body: dict | None = None):
    return await client.post(path, json=body, headers={"X-CSRF-Token": token})


def at(client, **delta: float) -> str:
    return (client.app[clock_key]() + timedelta(**delta)).isoformat()


async def scheduled(client, token: str, customer_id: int, **extra) -> dict:
    body = {"customer_id": customer_id, "due_at": at(client, hours=2), **extra}
    response = await post(client, token, API, body)
    assert response.status == 201, await response.text()
    return await response.json()


async def listed(client, **params) -> list[tuple[int, str, bool]]:
    response = await client.get(API, params=params)
    assert response.status == 200, await response.text()
    return [(c["id"], c["status"], c["due"]) for c in (await response.json())["callbacks"]]


async def snapshot(client) -> tuple:
    async with client.app[db_key]() as db:
        return (
            await db.scalar(select(func.count()).select_from(AuditEntry)),
            [
                (c.id, c.status, c.owner_user_id, c.number, c.due_at)
                for c in await db.scalars(select(Callback).order_by(Callback.id))
            ],
        )


async def switch_to(client, username: str) -> str:
    client.session.cookie_jar.clear()
    return await api_login(client, username)


async def test_an_agent_schedules_a_callback_sees_it_when_due_and_marks_it_done(client, clock):
    ann = await add_user(client.app, "ann", "inbound_agent")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4500", "+1 555 123 4567")
    token = await api_login(client, "ann")
    item = await scheduled(
        client, token, acme, number="(555) 123-4567", note="wants a quote", call_id="1700.3"
    )
    assert (item["number"], item["owner_user_id"], item["status"], item["due"]) == (
        "+15551234567",
        ann.id,
        "scheduled",
        False,
    )
    assert (item["customer_name"], item["call_id"], item["note"]) == (
        "Acme Ltd",
        "1700.3",
        "wants a quote",
    )
    assert await listed(client) == [(item["id"], "scheduled", False)]
    assert await listed(client, due="1") == []

    clock.advance(hours=2)
    token = await switch_to(client, "ann")  # the old session went idle meanwhile
    assert await listed(client, due="1") == [(item["id"], "scheduled", True)]
    done = await post(client, token, f"{API}/{item['id']}/done")
    assert done.status == 200 and (await done.json())["status"] == "done"
    assert await listed(client) == []
    assert await listed(client, status="done") == [(item["id"], "done", False)]
    async with client.app[db_key]() as db:
        audits = [
            (a.action, a.actor_id, a.at)
            for a in await db.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity_type == "callback")
                .order_by(AuditEntry.id)
            )
        ]
    start = clock.now - timedelta(hours=2)
    assert audits == [("callback.schedule", ann.id, start), ("callback.done", ann.id, clock.now)]


async def test_without_a_number_the_customers_first_is_called_the_soonest_listed_first(client):
    await add_user(client.app, "ann", "inbound_agent")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4500", "+1 555 123 4567")
    token = await api_login(client, "ann")
    later = await scheduled(client, token, acme, due_at=at(client, days=2))
    sooner = await scheduled(client, token, acme, due_at=at(client, minutes=5))
    assert later["number"] == "+15551234500"
    assert [c[0] for c in await listed(client)] == [sooner["id"], later["id"]]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"due_at": "now"}, 422, "due_at"),
        ({"due_at": "2026-11-25T12:00:00"}, 422, "due_at"),  # no time zone
        ({"due_at": "PAST"}, 422, "due_at"),
        ({"due_at": "FAR"}, 422, "due_at"),
        ({"number": "+1 555 999 0000"}, 422, "number"),
        ({"number": "not a number"}, 422, "number"),
        ({"customer_id": 999}, 404, "customer_id"),
        ({"owner_user_id": "SOL"}, 422, "owner_user_id"),
        ({"owner_user_id": 9999}, 422, "owner_user_id"),
        ({"note": "x" * 1001}, 422, "note"),
        ({"call_id": "17; DROP"}, 422, "call_id"),
    ],
)
async def test_a_bad_callback_is_refused_naming_the_field_and_changes_nothing(
    client, body, status, field
):
    await add_user(client.app, "ann", "inbound_agent")
    sol = await add_user(client.app, "sol", "service_staff")  # reads customers, calls nobody
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    token = await api_login(client, "ann")
    special = {
        "now": at(client),
        "PAST": at(client, minutes=-1),
        "FAR": at(client, days=400),
        "SOL": sol.id,
    }
    given = {k: special.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    before = await snapshot(client)
    response = await post(
        client, token, API, {"customer_id": acme, "due_at": at(client, hours=1), **given}
    )
    assert response.status == status, await response.text()
    assert field in (await response.json())["fields"]
    assert await snapshot(client) == before


async def test_seeing_needs_customers_read_and_scheduling_a_calling_or_customer_role(client):
    await add_user(client.app, "sol", "service_staff")
    await add_user(client.app, "pat", "pbx_admin")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    token = await api_login(client, "sol")
    before = await snapshot(client)
    assert await listed(client) == []
    response = await post(client, token, API, {"customer_id": acme, "due_at": at(client, hours=1)})
    assert response.status == 403
    await switch_to(client, "pat")
    assert (await client.get(API)).status == 403
    after = await snapshot(client)
    assert after[1] == before[1] == []


async def test_a_callback_is_closed_once_and_only_by_its_owner_or_who_scheduled_it(client):
    ann = await add_user(client.app, "ann", "inbound_agent")
    await add_user(client.app, "amy", "account_manager")
    await add_user(client.app, "bob", "outbound_agent")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    token = await api_login(client, "amy")
    for_ann = await scheduled(client, token, acme, owner_user_id=ann.id)
    assert await listed(client) == []  # amy's own list: she owns none

    token = await switch_to(client, "bob")
    before = await snapshot(client)
    assert (await post(client, token, f"{API}/{for_ann['id']}/done")).status == 403
    assert (await post(client, token, f"{API}/999/done")).status == 404
    assert await snapshot(client) == before

    token = await switch_to(client, "ann")
    assert await listed(client) == [(for_ann["id"], "scheduled", False)]
    assert (await post(client, token, f"{API}/{for_ann['id']}/done")).status == 200
    before = await snapshot(client)
    again = await post(client, token, f"{API}/{for_ann['id']}/cancel")
    assert again.status == 409 and "status" in (await again.json())["fields"]
    assert await snapshot(client) == before

    second = await scheduled(client, token, acme)
    token = await switch_to(client, "amy")
    other = await scheduled(client, token, acme, owner_user_id=ann.id)
    assert (await post(client, token, f"{API}/{second['id']}/cancel")).status == 403
    cancelled = await post(client, token, f"{API}/{other['id']}/cancel")
    assert cancelled.status == 200 and (await cancelled.json())["status"] == "cancelled"


# ------------------------------------------------------------------ pages


async def test_my_callbacks_page_schedules_flags_the_due_and_marks_done(client, clock):
    await add_user(client.app, "ann", "inbound_agent")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    await web_login(client, "ann")
    token = await page_csrf(client, f"/callbacks?customer_id={acme}&call_id=1700.9")
    form = {
        "csrf_token": token,
        "customer_id": str(acme),
        "call_id": "1700.9",
        "number": "+15551234567",
        "note": "<b>quote</b>",
    }
    refused = await client.post("/callbacks", data={**form, "due_at": "2026-11-25T08:00"})
    assert refused.status == 422
    assert 'data-field="due_at"' in await refused.text()
    saved = await client.post(
        "/callbacks", data={**form, "due_at": "2026-11-25T09:30"}, allow_redirects=False
    )
    assert saved.status == 303, await saved.text()
    clock.advance(minutes=29)
    page = await (await client.get("/callbacks")).text()
    assert "&lt;b&gt;quote&lt;/b&gt;" in page and 'data-due="yes"' not in page
    clock.advance(minutes=2)
    page = await (await client.get("/callbacks")).text()
    assert 'data-due="yes"' in page and "2026-11-25 09:30" in page
    async with client.app[db_key]() as db:
        item = await db.scalar(select(Callback))
    assert item.call_linked_id == "1700.9"
    done = await client.post(
        f"/callbacks/{item.id}/done", data={"csrf_token": token}, allow_redirects=False
    )
    assert done.status == 303
    async with client.app[db_key]() as db:
        assert (await db.get(Callback, item.id)).status == "done"


async def test_the_callbacks_page_needs_customers_read(client):
    await add_user(client.app, "pat", "pbx_admin")
    await web_login(client, "pat")
    assert (await client.get("/callbacks")).status == 403
    home = await (await client.get("/")).text()
    assert 'href="/callbacks"' not in home
