"""Sales opportunities through the API and the pages: the sales manager enters and assigns, the
account manager plans, records and wins, and the customer exists; refused moves change nothing;
roles without the permission are turned away."""

from __future__ import annotations

from sqlalchemy import func, select

from crm_core.models import AuditEntry, Opportunity
from tests.conftest import add_user, api_login, csrf_from, web_login
from web.appkeys import db_key

OPPORTUNITY = {
    "prospect_name": "Acme Ltd",
    "contact_name": "Wile Coyote",
    "phone": "(555) 123-4567",
    "source": "trade fair",
    "value": "1500.00",
    "probability": 40,
}


async def call(client, method: str, path: str, token: str, body=None, status: int = 200):
    response = await client.request(
        method, "/api/v1" + path, headers={"X-CSRF-Token": token}, json=body
    )
    assert response.status == status, await response.text()
    return await response.json()


async def as_user(client, name: str) -> str:
    """Sign in as ``name``, as if from another browser (the cookies of the last one gone)."""
    client.session.cookie_jar.clear()
    return await api_login(client, name)


async def people(app) -> dict[str, int]:
    return {
        "sam": (await add_user(app, "sam", "sales_manager")).id,
        "ann": (await add_user(app, "ann", "account_manager")).id,
        "bob": (await add_user(app, "bob", "account_manager")).id,
        "ivy": (await add_user(app, "ivy", "inbound_agent")).id,
    }


async def audit_count(app) -> int:
    """Audit rows of opportunities and customers (logins are audited too)."""
    async with app[db_key]() as db:
        return await db.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.entity_type.in_(("opportunity", "customer")))
        )


async def assigned_to_ann(client, ids) -> tuple[str, int]:
    """Sam enters Acme and assigns it to ann; sam's token and the opportunity's id."""
    token = await as_user(client, "sam")
    made = await call(client, "POST", "/opportunities", token, OPPORTUNITY, status=201)
    await call(
        client,
        "POST",
        f"/opportunities/{made['id']}/assign",
        token,
        {"account_manager_id": ids["ann"]},
    )
    return token, made["id"]


async def test_from_an_opportunity_to_a_customer(client, app):
    ids = await people(app)
    token = await as_user(client, "sam")
    made = await call(client, "POST", "/opportunities", token, OPPORTUNITY, status=201)
    assert (made["stage"], made["phone"], made["value"], made["title"]) == (
        "new",
        "+15551234567",
        "1500.00",
        "Acme Ltd",
    )
    managers = await call(client, "GET", "/opportunities/account-managers", token)
    assert {m["username"] for m in managers} == {"sam", "ann", "bob"}
    assigned = await call(
        client,
        "POST",
        f"/opportunities/{made['id']}/assign",
        token,
        {"account_manager_id": ids["ann"]},
    )
    assert (assigned["stage"], assigned["assigned_name"]) == ("assigned", "Ann")

    token = await as_user(client, "ann")
    planned = await call(
        client,
        "POST",
        f"/opportunities/{made['id']}/steps",
        token,
        {"planned_on": "2026-12-01", "action": "Visit with a demo"},
        status=201,
    )
    step = planned["steps"][0]
    assert (step["planned_on"], step["action"], step["done_at"]) == (
        "2026-12-01",
        "Visit with a demo",
        None,
    )
    assert "record" in planned["allowed"] and "win" not in planned["allowed"]
    recorded = await call(
        client,
        "POST",
        f"/opportunities/{made['id']}/steps/{step['id']}/result",
        token,
        {"result": "They want 40 seats"},
    )
    assert (
        recorded["stage"] == "developing" and recorded["steps"][0]["result"] == "They want 40 seats"
    )
    won = await call(
        client, "POST", f"/opportunities/{made['id']}/close", token, {"outcome": "won"}
    )
    assert won["stage"] == "won" and won["customer_id"]

    card = (await call(client, "GET", f"/customers/{won['customer_id']}", token))["card"]
    assert card["name"] == "Acme Ltd"
    assert [c["name"] for c in card["contacts"]] == ["Wile Coyote"]
    assert [n["e164"] for n in card["numbers"]] == ["+15551234567"]
    funnel = await call(client, "GET", f"/opportunities/funnel?assigned_to={ids['ann']}", token)
    assert {row["stage"]: (row["count"], row["value"]) for row in funnel["stages"]}["won"] == (
        1,
        "1500.00",
    )
    listed = await call(client, "GET", "/opportunities?stage=won", token)
    assert [o["id"] for o in listed["items"]] == [made["id"]]
    page = await (await client.get(f"/opportunities/{made['id']}")).text()
    assert f'href="/customers/{won["customer_id"]}"' in page and 'id="close-form"' not in page


async def test_refused_moves_change_nothing(client, app):
    ids = await people(app)
    token, made = await assigned_to_ann(client, ids)
    before = await call(client, "GET", f"/opportunities/{made}", token)
    page = await (await client.get(f"/opportunities/{made}")).text()
    # The sales manager may reassign or terminate it; not edit, delete, or win it yet.
    assert 'id="assign-form"' in page and 'value="terminated"' in page
    assert 'value="won"' not in page and 'id="delete-form"' not in page
    audited = await audit_count(app)
    # Once assigned: no edit of what it is, no delete (409).
    await call(client, "PATCH", f"/opportunities/{made}", token, {"value": "1"}, status=409)
    await call(client, "DELETE", f"/opportunities/{made}", token, status=409)
    # Won before any step's result: refused.
    await call(
        client, "POST", f"/opportunities/{made}/close", token, {"outcome": "won"}, status=409
    )
    # Bad input names its field (422).
    for path, body, field in (
        ("", {"value": "10.005"}, "value"),
        ("", {"probability": 101}, "probability"),
        ("/assign", {"account_manager_id": ids["ivy"]}, "account_manager_id"),
        ("/steps", {"planned_on": "2026-02-30", "action": "x"}, "planned_on"),
        ("/steps", {"planned_on": "2026-12-01", "action": ""}, "action"),
        ("/close", {"outcome": "terminated"}, "reason"),
        ("/close", {"outcome": "maybe", "reason": "x"}, "outcome"),
    ):
        method = "PATCH" if path == "" else "POST"
        refused = await call(
            client, method, f"/opportunities/{made}{path}", token, body, status=422
        )
        assert field in refused["fields"], (path, body, refused)
    # Another account manager's opportunity is not bob's to work on (403).
    token = await as_user(client, "bob")
    await call(
        client,
        "POST",
        f"/opportunities/{made}/steps",
        token,
        {"planned_on": "2026-12-01", "action": "x"},
        status=403,
    )
    assert await call(client, "GET", f"/opportunities/{made}", token) == {
        **before,
        "allowed": [],  # bob may do nothing with it
    }
    assert await audit_count(app) == audited


async def test_a_new_opportunity_with_bad_input_is_refused_naming_the_field(client, app):
    await people(app)
    token = await as_user(client, "sam")
    for body, field in (
        ({**OPPORTUNITY, "phone": "not a number"}, "phone"),
        ({**OPPORTUNITY, "prospect_name": ""}, "prospect_name"),
        ({**OPPORTUNITY, "value": "-5"}, "value"),
        ({**OPPORTUNITY, "stage": "won"}, "stage"),
    ):
        refused = await call(client, "POST", "/opportunities", token, body, status=422)
        assert field in refused["fields"], body
    async with app[db_key]() as db:
        assert await db.scalar(select(func.count()).select_from(Opportunity)) == 0


async def test_roles_without_the_permission_are_turned_away(client, app):
    ids = await people(app)
    _, made = await assigned_to_ann(client, ids)
    token = await as_user(client, "ivy")  # an inbound agent: no opportunities at all
    await call(client, "GET", "/opportunities", token, status=403)
    await call(client, "GET", f"/opportunities/{made}", token, status=403)
    await call(client, "POST", "/opportunities", token, OPPORTUNITY, status=403)
    assert (await client.get("/opportunities", allow_redirects=False)).status == 403
    token = await as_user(client, "ann")  # an account manager: works on, never enters or assigns
    await call(client, "POST", "/opportunities", token, OPPORTUNITY, status=403)
    await call(client, "DELETE", f"/opportunities/{made}", token, status=403)
    await call(
        client,
        "POST",
        f"/opportunities/{made}/assign",
        token,
        {"account_manager_id": ids["bob"]},
        status=403,
    )
    await call(client, "GET", "/opportunities/account-managers", token, status=403)
    async with app[db_key]() as db:
        item = await db.get(Opportunity, made)
    assert (item.stage, item.assigned_to) == ("assigned", ids["ann"])


async def test_the_pages_list_show_and_refuse_a_bad_form_with_its_message(client, app):
    ids = await people(app)
    _, made = await assigned_to_ann(client, ids)
    client.session.cookie_jar.clear()
    await web_login(client, "sam")
    listing = await client.get("/opportunities")
    html = await listing.text()
    assert listing.status == 200 and 'href="/opportunities"' in html and "Churn warnings" in html
    assert f'data-opportunity-id="{made}"' in html and 'id="funnel"' in html
    form = await client.get("/opportunities/new")
    token = csrf_from(await form.text())
    for field, given in (("value", {"value": "1.234"}), ("phone", {"phone": "nope"})):
        refused = await client.post(
            "/opportunities/new",
            data={"csrf_token": token, "prospect_name": "<b>Bad</b>", **given},
        )
        page = await refused.text()
        assert refused.status == 422 and f'data-field="{field}"' in page
        assert "&lt;b&gt;Bad&lt;/b&gt;" in page  # what was typed, shown back escaped
    made_page = await client.post(
        "/opportunities/new",
        data={"csrf_token": token, "prospect_name": "Globex", "value": "", "probability": ""},
        allow_redirects=False,
    )
    assert made_page.status == 303
    shown = await client.get(made_page.headers["Location"])
    assert shown.status == 200 and "Globex" in await shown.text()

    client.session.cookie_jar.clear()
    await web_login(client, "ann")
    page = await (await client.get(f"/opportunities/{made}")).text()
    assert 'id="step-form"' in page and 'id="assign-form"' not in page
    token = csrf_from(page)
    refused = await client.post(
        f"/opportunities/{made}/steps",
        data={"csrf_token": token, "planned_on": "", "action": "Visit"},
    )
    assert refused.status == 422 and 'data-field="planned_on"' in await refused.text()
    added = await client.post(
        f"/opportunities/{made}/steps",
        data={"csrf_token": token, "planned_on": "2026-12-01", "action": "Visit"},
        allow_redirects=False,
    )
    assert added.status == 303
    page = await (await client.get(f"/opportunities/{made}")).text()
    assert "Visit" in page and "Record the result" in page
