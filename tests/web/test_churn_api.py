"""Churn warnings through the API and the pages: listed for churn.read, answered (a measure, or
the churn confirmed) for churn.manage; bad answers are refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from crm_core.audit import SYSTEM
from crm_core.churn import check_churn
from crm_core.customers import CustomerService
from crm_core.models import ChurnMeasure
from crm_core.schemas import CustomerCreate
from tests.conftest import add_user, api_login, csrf_from, web_login
from web.appkeys import clock_key, db_key, scheduler_key


async def call(client, method: str, path: str, token: str, body=None, status: int = 200):
    response = await client.request(
        method, "/api/v1" + path, headers={"X-CSRF-Token": token}, json=body
    )
    assert response.status == status, await response.text()
    return await response.json()


async def as_user(client, name: str) -> str:
    client.session.cookie_jar.clear()  # another browser
    return await api_login(client, name)


async def flagged_customer(app, account_manager_id: int) -> int:
    """A customer of last year who never ordered, flagged by a churn check."""
    async with app[db_key]() as db:
        made = await CustomerService(
            db, clock=lambda: datetime(2025, 6, 1, tzinfo=UTC), region="US"
        ).create(CustomerCreate(name="Silent Ltd", account_manager_id=account_manager_id), SYSTEM)
        await db.commit()
    await app[scheduler_key].settle()  # the check at start is over; this one is the test's
    async with app[db_key]() as db:
        await check_churn(db, now=app[clock_key](), months=6)
        await db.commit()
    return made.id


async def test_the_account_manager_postpones_then_confirms_a_churn(client, app):
    ann = await add_user(app, "ann", "account_manager")
    silent = await flagged_customer(app, ann.id)
    token = await as_user(client, "ann")
    listed = await call(client, "GET", "/churn-warnings", token)
    [warning] = listed["items"]
    assert (warning["customer_id"], warning["status"], warning["account_manager_name"]) == (
        silent,
        "open",
        "Ann",
    )
    mine = await call(client, "GET", f"/churn-warnings?account_manager_id={ann.id}", token)
    assert [w["id"] for w in mine["items"]] == [warning["id"]]
    assert (await call(client, "GET", "/churn-warnings?status=churned", token))["items"] == []
    card = (await call(client, "GET", f"/customers/{silent}", token))["card"]
    assert card["churn_flag"] is True

    path = f"/churn-warnings/{warning['id']}"
    postponed = await call(
        client,
        "POST",
        path + "/measures",
        token,
        {"measure": "discount", "note": "10 % off the next order"},
        status=201,
    )
    assert postponed["status"] == "postponed"
    assert [(m["measure"], m["note"], m["user_name"]) for m in postponed["measures"]] == [
        ("discount", "10 % off the next order", "Ann")
    ]
    assert {c["code"] for c in postponed["choices"]["reason"]} >= {"price", "competitor"}
    confirmed = await call(
        client, "POST", path + "/confirm", token, {"reason": "competitor", "note": "Initech"}
    )
    assert (confirmed["status"], confirmed["reason"], confirmed["reason_note"]) == (
        "churned",
        "competitor",
        "Initech",
    )
    assert confirmed["resolved_by_name"] == "Ann"
    page = await (await client.get(f"/churn-warnings/{warning['id']}")).text()
    assert 'id="churn-reason"' in page and "Initech" in page and 'id="confirm-form"' not in page
    # Confirmed is final.
    await call(client, "POST", path + "/confirm", token, {"reason": "price"}, status=409)
    await call(client, "POST", path + "/measures", token, {"measure": "call"}, status=409)


async def test_bad_answers_are_refused_and_change_nothing(client, app):
    ann = await add_user(app, "ann", "account_manager")
    await flagged_customer(app, ann.id)
    token = await as_user(client, "ann")
    [warning] = (await call(client, "GET", "/churn-warnings", token))["items"]
    path = f"/churn-warnings/{warning['id']}"
    for move, body, field in (
        ("/measures", {"measure": "bribe"}, "measure"),
        ("/measures", {"measure": "Call Me"}, "measure"),
        ("/measures", {"measure": "call", "note": "x" * 1001}, "note"),
        ("/confirm", {"reason": "bored"}, "reason"),
        ("/confirm", {}, "reason"),
    ):
        refused = await call(client, "POST", path + move, token, body, status=422)
        assert field in refused["fields"], (move, body)
    await call(client, "GET", "/churn-warnings?status=lost", token, status=422)
    await call(
        client, "POST", "/churn-warnings/999/measures", token, {"measure": "call"}, status=404
    )
    assert (await call(client, "GET", path, token))["status"] == "open"
    async with app[db_key]() as db:
        assert await db.scalar(select(func.count()).select_from(ChurnMeasure)) == 0


async def test_reading_and_answering_need_their_permissions(client, app):
    ann = await add_user(app, "ann", "account_manager")
    await add_user(app, "sam", "sales_manager")  # churn.read, not churn.manage
    await add_user(app, "ivy", "inbound_agent")  # neither
    await flagged_customer(app, ann.id)
    token = await as_user(client, "sam")
    [warning] = (await call(client, "GET", "/churn-warnings", token))["items"]
    path = f"/churn-warnings/{warning['id']}"
    await call(client, "POST", path + "/measures", token, {"measure": "call"}, status=403)
    await call(client, "POST", path + "/confirm", token, {"reason": "price"}, status=403)
    client.session.cookie_jar.clear()
    await web_login(client, "sam")
    page = await (await client.get(path)).text()
    assert "Silent Ltd" in page and 'id="measure-form"' not in page
    token = await as_user(client, "ivy")
    await call(client, "GET", "/churn-warnings", token, status=403)
    await call(client, "GET", path, token, status=403)
    assert (await client.get("/churn-warnings", allow_redirects=False)).status == 403


async def test_the_pages_list_and_answer_a_warning(client, app):
    ann = await add_user(app, "ann", "account_manager")
    await flagged_customer(app, ann.id)
    client.session.cookie_jar.clear()
    await web_login(client, "ann")
    listing = await (await client.get("/churn-warnings")).text()
    assert "Silent Ltd" in listing and 'data-status="open"' in listing
    assert 'href="/churn-warnings"' in listing  # the menu
    warning_path = listing.split('<a href="/churn-warnings/', 1)[1].split('"', 1)[0]
    page = await (await client.get(f"/churn-warnings/{warning_path}")).text()
    assert 'id="measure-form"' in page and 'id="confirm-form"' in page
    token = csrf_from(page)
    refused = await client.post(
        f"/churn-warnings/{warning_path}/confirm", data={"csrf_token": token, "reason": "bored"}
    )
    assert refused.status == 422 and 'data-field="reason"' in await refused.text()
    done = await client.post(
        f"/churn-warnings/{warning_path}/measures",
        data={"csrf_token": token, "measure": "visit", "note": "<i>went</i>"},
        allow_redirects=False,
    )
    assert done.status == 303
    page = await (await client.get(f"/churn-warnings/{warning_path}")).text()
    assert 'data-status="postponed"' in page and "&lt;i&gt;went&lt;/i&gt;" in page
