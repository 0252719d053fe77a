"""Service requests through HTTP: a request's whole life over the API, the queues, the
refusals (which change nothing), and the pages with the forms of the allowed next step."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm_core.models import AuditEntry, ServiceRequest, ServiceRequestEvent
from tests.conftest import add_user, api_login, page_csrf, web_login
from tests.web.telephony import add_customer
from web.appkeys import clock_key, db_key

API = "/api/v1/service-requests"


async def post(client, token: str, path: str, body: dict | None = None):
    return await client.post(path, json=body or {}, headers={"X-CSRF-Token": token})


async def opened(client, token: str, customer_id: int, **extra) -> dict:
    body = {"customer_id": customer_id, "service_type": "complaint", "subject": "late", **extra}
    response = await post(client, token, API, body)
    assert response.status == 201, await response.text()
    return await response.json()


async def walk(client, token: str, request_id: int, *steps: tuple[str, dict]) -> dict:
    for step, body in steps:
        response = await post(client, token, f"{API}/{request_id}/{step}", body)
        assert response.status == 200, (step, await response.text())
    return await response.json()


async def later(client, clock, username: str, **delta: float) -> str:
    """Time passes (past the session's idle limit): sign in again; returns the new token."""
    clock.advance(**delta)
    return await api_login(client, username)


async def snapshot(client) -> tuple:
    """Everything a refused request must leave alone: rows, and the requests' state."""
    async with client.app[db_key]() as db:
        counts = tuple(
            [
                await db.scalar(select(func.count()).select_from(model))
                for model in (ServiceRequest, ServiceRequestEvent, AuditEntry)
            ]
        )
        states = [
            (r.id, r.status, r.assignee_id, r.department, r.handling, r.satisfaction)
            for r in await db.scalars(select(ServiceRequest).order_by(ServiceRequest.id))
        ]
    return counts, states


async def test_a_request_from_a_customer_is_assigned_handled_closed_reopened_and_closed_again(
    client,
):
    sol = await add_user(client.app, "sol", "service_staff", display_name="Sol Service")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    token = await api_login(client, "sol")
    now = client.app[clock_key]()

    item = await opened(client, token, acme, call_id="1700000000.7")
    assert (item["status"], item["customer_name"], item["call_id"]) == (
        "open",
        "Acme Ltd",
        "1700000000.7",
    )
    assert item["due_at"] == (now + timedelta(hours=48)).isoformat()  # a complaint: 48 h
    assert item["next_steps"] == ["assign"]
    rid = item["id"]

    item = await walk(client, token, rid, ("assign", {"assignee_id": sol.id}))
    assert (item["status"], item["assignee_name"], item["department"]) == (
        "assigned",
        "Sol Service",
        None,
    )
    item = await walk(client, token, rid, ("assign", {"department": "technical"}))
    assert (item["assignee_id"], item["department"]) == (None, "technical")
    item = await walk(
        client,
        token,
        rid,
        ("handle", {"handling": "sent a new unit"}),
        ("close", {"satisfaction": 4, "comment": "took a while"}),
    )
    assert (item["status"], item["satisfaction"], item["handling"]) == (
        "closed",
        4,
        "sent a new unit",
    )
    assert item["closed_at"] == now.isoformat() and item["next_steps"] == ["reopen"]

    item = await walk(client, token, rid, ("reopen", {"reason": "the new unit is broken too"}))
    assert (item["status"], item["satisfaction"], item["satisfaction_comment"]) == (
        "assigned",
        None,
        "",
    )
    item = await walk(
        client,
        token,
        rid,
        ("handle", {"handling": "refunded"}),
        ("close", {"satisfaction": 5}),
    )
    assert (item["status"], item["satisfaction"]) == ("closed", 5)

    fetched = await (await client.get(f"{API}/{rid}")).json()
    assert [(e["action"], e["to_status"], e["user_name"]) for e in fetched["history"]] == [
        ("opened", "open", "Sol Service"),
        ("assigned", "assigned", "Sol Service"),
        ("assigned", "assigned", "Sol Service"),
        ("handled", "handled", "Sol Service"),
        ("closed", "closed", "Sol Service"),
        ("reopened", "assigned", "Sol Service"),
        ("handled", "handled", "Sol Service"),
        ("closed", "closed", "Sol Service"),
    ]
    assert fetched["history"][4]["note"] == "satisfaction 4/5: took a while"
    async with client.app[db_key]() as db:
        audited = await db.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.entity_type == "service_request", AuditEntry.actor_id == sol.id)
        )
    assert audited == 8


async def test_my_queue_and_a_department_queue_list_theirs_overdue_first(client, clock):
    sol = await add_user(client.app, "sol", "service_staff")
    bea = await add_user(client.app, "bea", "service_staff")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    token = await api_login(client, "sol")
    slow = await opened(client, token, acme, service_type="suggestion", assignee_id=sol.id)
    token = await later(client, clock, "sol", hours=1)
    urgent = await opened(client, token, acme, service_type="consultation", assignee_id=sol.id)
    hers = await opened(client, token, acme, assignee_id=bea.id)
    billing = await opened(client, token, acme, department="billing")
    await later(client, clock, "sol", hours=30)  # the consultation (24 h) is overdue now

    async def listed(**params) -> list[tuple[int, bool]]:
        response = await client.get(API, params=params)
        assert response.status == 200, await response.text()
        return [(r["id"], r["overdue"]) for r in (await response.json())["requests"]]

    assert await listed(assignee="me") == [(urgent["id"], True), (slow["id"], False)]
    assert await listed(assignee=bea.id) == [(hers["id"], False)]
    assert await listed(department="billing") == [(billing["id"], False)]
    assert await listed(overdue="1") == [(urgent["id"], True)]
    assert await listed(customer_id=acme, per_page=2, page=2) == [
        (billing["id"], False),
        (slow["id"], False),
    ]
    page = await (await client.get(API, params={"per_page": 2})).json()
    assert (page["total"], page["more"]) == (4, True)


@pytest.mark.parametrize("score", [0, 6])
async def test_a_satisfaction_outside_one_to_five_is_refused_and_changes_nothing(client, score):
    await add_user(client.app, "sol", "service_staff")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    token = await api_login(client, "sol")
    rid = (await opened(client, token, acme, department="service"))["id"]
    await walk(client, token, rid, ("handle", {"handling": "called back"}))
    before = await snapshot(client)
    response = await post(client, token, f"{API}/{rid}/close", {"satisfaction": score})
    assert response.status == 422
    assert "satisfaction" in (await response.json())["fields"]
    assert await snapshot(client) == before


async def test_closing_a_request_that_is_only_open_is_a_conflict_and_changes_nothing(client):
    await add_user(client.app, "sol", "service_staff")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    token = await api_login(client, "sol")
    rid = (await opened(client, token, acme))["id"]
    before = await snapshot(client)
    for step, body in (
        ("close", {"satisfaction": 4}),
        ("handle", {"handling": "x"}),
        ("reopen", {"reason": "x"}),
    ):
        response = await post(client, token, f"{API}/{rid}/{step}", body)
        assert response.status == 409, step
        problem = await response.json()
        assert problem["error"] == "conflict" and "status" in problem["fields"]
    assert await snapshot(client) == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", {"service_type": "repair"}, "service_type"),
        ("", {"department": "marketing"}, "department"),
        ("", {"subject": ""}, "subject"),
        ("", {"subject": "bell\x07"}, "subject"),
        ("", {"call_id": "1700; DROP"}, "call_id"),
        ("/{rid}/assign", {"department": "marketing"}, "department"),
        ("/{rid}/assign", {}, "assignee_id"),
        ("/{rid}/assign", {"assignee_id": 9999}, "assignee_id"),
    ],
)
async def test_an_unknown_type_or_department_is_refused_naming_it_and_changes_nothing(
    client, path, body, field
):
    await add_user(client.app, "sol", "service_staff")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    token = await api_login(client, "sol")
    rid = (await opened(client, token, acme))["id"]
    before = await snapshot(client)
    if path:
        response = await post(client, token, API + path.format(rid=rid), body)
    else:
        given = {"customer_id": acme, "service_type": "complaint", "subject": "s", **body}
        response = await post(client, token, API, given)
    assert response.status == 422, await response.text()
    assert field in (await response.json())["fields"]
    assert await snapshot(client) == before


async def test_a_role_without_service_requests_write_is_refused_and_changes_nothing(client):
    await add_user(client.app, "sol", "service_staff")
    await add_user(client.app, "amy", "account_manager")  # customers, but no service requests
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    token = await api_login(client, "sol")
    rid = (await opened(client, token, acme))["id"]
    client.session.cookie_jar.clear()  # sol's session ends with this browser's cookies
    token = await api_login(client, "amy")
    before = await snapshot(client)
    body = {"customer_id": acme, "service_type": "complaint", "subject": "s"}
    assert (await post(client, token, API, body)).status == 403
    assert (await post(client, token, f"{API}/{rid}/assign", {"department": "billing"})).status == (
        403
    )
    assert (await client.get(API)).status == 403
    assert (await client.get(f"{API}/{rid}")).status == 403
    assert await snapshot(client) == before


async def test_an_unknown_request_is_not_found(client):
    await add_user(client.app, "sol", "service_staff")
    token = await api_login(client, "sol")
    assert (await client.get(f"{API}/999")).status == 404
    assert (await client.get(f"{API}/abc")).status == 404
    assert (await post(client, token, f"{API}/999/handle", {"handling": "x"})).status == 404


async def test_the_queue_filters_are_checked(client):
    await add_user(client.app, "sol", "service_staff")
    await api_login(client, "sol")
    for params, field in (
        ({"status": "pending"}, "status"),
        ({"department": "marketing"}, "department"),
        ({"per_page": "1000"}, "per_page"),
        ({"assignee": "you"}, "assignee"),
    ):
        response = await client.get(API, params=params)
        assert response.status == 422, params
        assert field in (await response.json())["fields"], params


# ------------------------------------------------------------------ pages


async def test_the_queue_page_flags_overdue_requests_and_shows_my_requests(client, clock):
    sol = await add_user(client.app, "sol", "service_staff")
    bea = await add_user(client.app, "bea", "service_staff")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    token = await api_login(client, "sol")
    late = await opened(client, token, acme, service_type="consultation", subject="late one")
    await walk(client, token, late["id"], ("assign", {"assignee_id": sol.id}))
    await opened(client, token, acme, subject="not mine", assignee_id=bea.id)
    clock.advance(hours=25)
    await web_login(client, "sol")
    page = await client.get("/service-requests")
    text = await page.text()
    assert page.status == 200
    assert f'data-overdue="yes" data-request-id="{late["id"]}"' in text
    assert "late one" in text and "not mine" not in text
    everyone = await (await client.get("/service-requests", params={"view": "all"})).text()
    assert "late one" in everyone and "not mine" in everyone


async def test_the_request_page_offers_only_the_forms_of_the_allowed_next_step(client):
    await add_user(client.app, "sol", "service_staff")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    await web_login(client, "sol")
    token = await page_csrf(client, f"/customers/{acme}/service-requests/new?call_id=17.1")
    response = await client.post(
        f"/customers/{acme}/service-requests/new",
        data={
            "csrf_token": token,
            "service_type": "after_sales",
            "subject": "Broken <b>hinge</b>",
            "description": "",
            "assignee_id": "",
            "department": "",
            "call_id": "17.1",
        },
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    text = await (await client.get(location)).text()
    assert 'id="assign-form"' in text and 'id="close-form"' not in text
    assert "Broken &lt;b&gt;hinge&lt;/b&gt;" in text and "during call 17.1" in text
    rid = location.split("/")[2].split("?")[0]
    refused = await client.post(
        f"/service-requests/{rid}/assign",
        data={"csrf_token": token, "assignee_id": "", "department": "", "note": ""},
    )
    assert refused.status == 422
    assert 'data-field="assignee_id"' in await refused.text()
    done = await client.post(
        f"/service-requests/{rid}/assign",
        data={"csrf_token": token, "assignee_id": "", "department": "logistics", "note": ""},
        allow_redirects=False,
    )
    assert done.status == 303
    text = await (await client.get(f"/service-requests/{rid}")).text()
    assert 'id="handle-form"' in text and 'id="assign-form"' in text
    assert 'id="close-form"' not in text and "to Logistics" in text


async def test_the_new_request_form_shows_a_refusal_beside_its_field(client):
    await add_user(client.app, "sol", "service_staff")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    await web_login(client, "sol")
    token = await page_csrf(client, f"/customers/{acme}/service-requests/new")
    before = await snapshot(client)
    response = await client.post(
        f"/customers/{acme}/service-requests/new",
        data={"csrf_token": token, "service_type": "repair", "subject": "kept"},
    )
    text = await response.text()
    assert response.status == 422
    assert 'data-field="service_type"' in text and 'value="kept"' in text
    assert await snapshot(client) == before


async def test_the_pages_need_their_permissions(client):
    await add_user(client.app, "amy", "account_manager")
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")
    await web_login(client, "amy")
    assert (await client.get("/service-requests")).status == 403
    assert (await client.get(f"/customers/{acme}/service-requests/new")).status == 403
    home = await (await client.get("/")).text()
    assert 'href="/service-requests"' not in home
