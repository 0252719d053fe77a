"""Campaigns, their call lists and the do-not-call register through the JSON API and the pages:
bad settings named field by field with nothing created, warnings for what is allowed but unwise,
start/pause/stop and their refusals, every list generator and the upload with its report, the
register's add/remove/import, and who may do what."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm_core.models import (
    AuditEntry,
    Callback,
    CallListEntry,
    CallRecord,
    Campaign,
    DoNotCall,
    ImportRun,
    ListRule,
)
from tests.conftest import add_user, api_login, page_csrf, same_origin, web_login
from tests.support.shop import open_shop
from tests.support.waiting import until
from tests.web.telephony import add_customer, agent_ready
from web.appkeys import clock_key, db_key, pbx_key

SPRING: dict[str, object] = {
    "name": "Spring promo",
    "mode": "predictive",
    "caller_id": "+1 212 555 0100",
    "hours_start": "09:00",
    "hours_end": "20:00",
    "weekdays": [0, 1, 2, 3, 4],
    "fallback_timezone": "America/New_York",
    "region": "US",
}
NEW_YORK = [f"+1212736{1000 + i}" for i in range(6)]


async def count(app, model, *where) -> int:
    async with app[db_key]() as db:
        return await db.scalar(select(func.count()).select_from(model).where(*where))


async def lead(aiohttp_client, client, username: str = "lea", role: str = "team_lead"):
    """A client of its own, logged in through the API, and its CSRF header."""
    await add_user(client.app, username, role)
    own = await aiohttp_client(client.server)
    return own, {"X-CSRF-Token": await api_login(own, username)}


async def create(http, headers, **changes: object) -> dict:
    response = await http.post("/api/v1/campaigns", headers=headers, json={**SPRING, **changes})
    assert response.status == 201, await response.text()
    return await response.json()


async def add_numbers(http, headers, campaign_id: int, numbers: list[str]) -> None:
    for number in numbers:
        response = await http.post(
            f"/api/v1/campaigns/{campaign_id}/list/numbers",
            headers=headers,
            json={"number": number, "reason": "spring offer"},
        )
        assert response.status == 200, await response.text()


# ------------------------------------------------------------------ settings


async def test_bad_settings_are_refused_with_every_field_named_and_nothing_created(
    aiohttp_client, client
):
    http, headers = await lead(aiohttp_client, client)
    audits = await count(client.app, AuditEntry)
    response = await http.post(
        "/api/v1/campaigns",
        headers=headers,
        json={
            **SPRING,
            "mode": "turbo",
            "caller_id": "banana",
            "abandon_cap": "lots",
            "hours_end": "25:00",
            "fallback_timezone": "Mars/Olympus",
            "retry_busy": 0,
            "max_lines": True,
        },
    )
    assert response.status == 422
    body = await response.json()
    assert body["error"] == "invalid_input"
    assert set(body["fields"]) >= {"max_lines"}  # the body's types first
    response = await http.post(
        "/api/v1/campaigns",
        headers=headers,
        json={
            **SPRING,
            "mode": "turbo",
            "caller_id": "banana",
            "abandon_cap": "lots",
            "hours_end": "25:00",
            "fallback_timezone": "Mars/Olympus",
            "retry_busy": 0,
        },
    )
    assert response.status == 422
    fields = (await response.json())["fields"]
    assert set(fields) == {
        "mode",
        "caller_id",
        "abandon_cap",
        "hours_end",
        "fallback_timezone",
        "retry_busy",
    }
    assert "phone number" in fields["caller_id"]
    assert await count(client.app, Campaign) == 0
    assert await count(client.app, AuditEntry) == audits


async def test_a_cap_of_zero_is_a_warning_a_cap_of_100_is_refused(aiohttp_client, client):
    http, headers = await lead(aiohttp_client, client)
    made = await create(http, headers, abandon_cap=0)
    assert made["campaign"]["abandon_cap"] == 0
    assert any("0%" in w for w in made["warnings"])
    response = await http.post(
        "/api/v1/campaigns",
        headers=headers,
        json={**SPRING, "name": "Too much", "abandon_cap": 100},
    )
    assert response.status == 422
    assert "legal limit" in (await response.json())["fields"]["abandon_cap"]
    assert await count(client.app, Campaign) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hours_start": "18:00", "hours_end": "09:00"}, "hours_end"),
        ({"hours_start": "09:00", "hours_end": "09:00"}, "hours_end"),
        ({"weekdays": []}, "weekdays"),
    ],
)
async def test_calling_hours_that_never_open_are_refused(aiohttp_client, client, changes, field):
    http, headers = await lead(aiohttp_client, client)
    response = await http.post("/api/v1/campaigns", headers=headers, json={**SPRING, **changes})
    assert response.status == 422
    assert "never open" in (await response.json())["fields"][field]
    assert await count(client.app, Campaign) == 0


async def test_a_name_taken_is_a_conflict_on_the_name(aiohttp_client, client):
    http, headers = await lead(aiohttp_client, client)
    await create(http, headers)
    response = await http.post("/api/v1/campaigns", headers=headers, json=SPRING)
    assert response.status == 409
    assert "name" in (await response.json())["fields"]


async def test_a_change_keeps_the_settings_not_given_and_a_bad_one_changes_nothing(
    aiohttp_client, client
):
    http, headers = await lead(aiohttp_client, client)
    made = (await create(http, headers, retry_minutes={"busy": 15}))["campaign"]
    assert made["retry_minutes"]["busy"] == 15
    url = f"/api/v1/campaigns/{made['id']}"
    response = await http.patch(url, headers=headers, json={"abandon_cap": "2.5"})
    assert response.status == 200, await response.text()
    changed = (await response.json())["campaign"]
    assert changed["abandon_cap"] == pytest.approx(0.025)
    assert (changed["name"], changed["retry_minutes"]["busy"]) == ("Spring promo", 15)
    response = await http.patch(url, headers=headers, json={"retry_minutes": {"busy": 20}})
    assert (await response.json())["campaign"]["retry_minutes"]["busy"] == 20
    response = await http.patch(url, headers=headers, json={"weekdays": [], "abandon_cap": 4})
    assert response.status == 422
    assert set((await response.json())["fields"]) == {"weekdays", "abandon_cap"}
    shown = (await (await http.get(url)).json())["campaign"]
    assert shown["weekdays"] == [0, 1, 2, 3, 4] and shown["abandon_cap"] == pytest.approx(0.025)


# ------------------------------------------------------------------ start, pause, stop


async def test_start_pause_resume_stop_and_each_refusal(aiohttp_client, client):
    http, headers = await lead(aiohttp_client, client)
    campaign_id = (await create(http, headers))["campaign"]["id"]
    url = f"/api/v1/campaigns/{campaign_id}"

    async def press(action: str, status: int) -> dict:
        response = await http.post(f"{url}/{action}", headers=headers)
        assert response.status == status, (action, await response.text())
        return await response.json()

    assert "draft campaign cannot be paused" in (await press("pause", 409))["message"]
    started = await press("start", 200)
    assert started["campaign"]["status"] == "running"
    assert any("no entry is due" in w for w in started["warnings"])
    await press("start", 409)
    assert (await press("pause", 200))["campaign"]["status"] == "paused"
    assert (await press("start", 200))["campaign"]["status"] == "running"
    assert (await press("stop", 200))["campaign"]["status"] == "stopped"
    for action in ("start", "pause", "stop"):
        await press(action, 409)
    response = await http.patch(url, headers=headers, json={"abandon_cap": 1})
    assert response.status == 409
    response = await http.post(f"{url}/list/numbers", headers=headers, json={"number": NEW_YORK[0]})
    assert response.status == 409  # a stopped campaign's list is closed
    async with client.app[db_key]() as db:
        actions = list(
            await db.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity_type == "campaign", AuditEntry.action.like("campaign.%"))
                .order_by(AuditEntry.id)
            )
        )
    assert actions == [
        "campaign.create",
        "campaign.start",
        "campaign.pause",
        "campaign.start",
        "campaign.stop",
    ]
    assert (await http.post("/api/v1/campaigns/98765/start", headers=headers)).status == 404


async def test_a_start_outside_the_callees_hours_says_when_they_open(aiohttp_client, client):
    # The test clock says 09:00 UTC: 04:00 in New York.
    http, headers = await lead(aiohttp_client, client)
    campaign_id = (await create(http, headers))["campaign"]["id"]
    await add_numbers(http, headers, campaign_id, NEW_YORK[:2])
    started = await (
        await http.post(f"/api/v1/campaigns/{campaign_id}/start", headers=headers)
    ).json()
    (warning,) = started["warnings"]
    assert "calling hours are closed now" in warning and "09:00 America/New_York" in warning


async def test_a_start_with_nobody_in_the_queue_warns_and_the_live_state_follows(
    aiohttp_client, service
):
    app = service.app
    app[clock_key].now = app[clock_key].now.replace(hour=15)  # 10:00 in New York
    http, headers = await lead(aiohttp_client, service)
    campaign_id = (await create(http, headers, queue="outbound"))["campaign"]["id"]
    await add_numbers(http, headers, campaign_id, NEW_YORK[:1])
    started = await (
        await http.post(f"/api/v1/campaigns/{campaign_id}/start", headers=headers)
    ).json()
    assert [w for w in started["warnings"] if "no agent is logged in to queue outbound" in w]

    # The lead's tab hears the dialer's report once a second.
    ws = await http.ws_connect("/ws", headers=same_origin(http))
    state = None
    async with asyncio.timeout(10):
        while state is None:
            message = json.loads((await ws.receive()).data)
            if message["type"] == "campaign.state":
                state = message["campaign"]
    await ws.close()
    assert state["campaign_id"] == campaign_id
    assert state["decision"]["reason"] == "no_agents" and state["dialled"] == 0
    shown = await (await http.get(f"/api/v1/campaigns/{campaign_id}")).json()
    assert shown["live"]["campaign_id"] == campaign_id

    # With an agent in the queue, nobody is missing any more.
    await http.post(f"/api/v1/campaigns/{campaign_id}/pause", headers=headers)
    await agent_ready(app, "1001", "outbound")
    await until(lambda: app[pbx_key].runtime.board.views(), timeout=5)
    resumed = await (
        await http.post(f"/api/v1/campaigns/{campaign_id}/start", headers=headers)
    ).json()
    assert not [w for w in resumed["warnings"] if "no agent" in w]


async def test_a_campaign_worked_by_chosen_agents_is_not_offered_to_the_others(
    aiohttp_client, client
):
    app = client.app
    ann = await add_user(app, "ann", "outbound_agent", extension="1001")
    await add_user(app, "bob", "outbound_agent", extension="1002")
    inbound = await add_user(app, "ian", "inbound_agent", extension="1003")
    http, headers = await lead(aiohttp_client, client)
    refused = await http.post(
        "/api/v1/campaigns", headers=headers, json={**SPRING, "agents": [ann.id, inbound.id]}
    )
    assert refused.status == 422
    assert f"user {inbound.id}" in (await refused.json())["fields"]["agents"]
    phoneless = await add_user(app, "pia", "outbound_agent")  # no extension: no calls to take
    refused = await http.post(
        "/api/v1/campaigns", headers=headers, json={**SPRING, "agents": [phoneless.id]}
    )
    assert refused.status == 422
    assert await count(app, Campaign) == 0
    made = (await create(http, headers, mode="preview", agents=[ann.id]))["campaign"]
    assert made["agents"] == [ann.id]
    page = await (await http.get(f"/campaigns/{made['id']}")).text()
    assert 'id="worked-by">Ann</dd>' in page
    await http.post(f"/api/v1/campaigns/{made['id']}/start", headers=headers)

    async def agent(name: str):
        own = await aiohttp_client(client.server)
        return own, {"X-CSRF-Token": await api_login(own, name)}

    for (own, _), offered in ((await agent("ann"), True), (await agent("bob"), False)):
        listed = await (await own.get("/api/v1/outbound/campaigns")).json()
        assert [c["id"] for c in listed["campaigns"]] == ([made["id"]] if offered else [])
    bob_http, bob_headers = await agent("bob")
    joined = await bob_http.post(
        f"/api/v1/outbound/campaigns/{made['id']}/join", headers=bob_headers
    )
    assert joined.status == 403 and "chosen" in (await joined.json())["message"]
    shown = await bob_http.post(
        f"/api/v1/outbound/campaigns/{made['id']}/next", headers=bob_headers
    )
    assert shown.status == 403
    # Everyone again: bob may work it too.
    opened = await http.patch(
        f"/api/v1/campaigns/{made['id']}", headers=headers, json={"agents": []}
    )
    assert opened.status == 200 and (await opened.json())["campaign"]["agents"] == []
    listed = await (await bob_http.get("/api/v1/outbound/campaigns")).json()
    assert [c["id"] for c in listed["campaigns"]] == [made["id"]]


async def test_two_dialling_campaigns_may_not_share_a_queue(aiohttp_client, client):
    http, headers = await lead(aiohttp_client, client)
    first = (await create(http, headers, name="First"))["campaign"]["id"]
    second = (await create(http, headers, name="Second"))["campaign"]["id"]
    preview = (await create(http, headers, name="Preview", mode="preview"))["campaign"]["id"]
    assert (await http.post(f"/api/v1/campaigns/{first}/start", headers=headers)).status == 200
    clash = await http.post(f"/api/v1/campaigns/{second}/start", headers=headers)
    assert clash.status == 409
    body = await clash.json()
    assert "First" in body["message"] and "queue" in body["fields"]
    assert await count(client.app, Campaign, Campaign.status == "running") == 1
    # A preview campaign places no call of its own: it may share the queue.
    assert (await http.post(f"/api/v1/campaigns/{preview}/start", headers=headers)).status == 200
    moved = await http.patch(
        f"/api/v1/campaigns/{second}", headers=headers, json={"queue": "outbound-2"}
    )
    assert moved.status == 200
    assert (await http.post(f"/api/v1/campaigns/{second}/start", headers=headers)).status == 200


# ------------------------------------------------------------------ lists


async def upload(http, headers, url: str, body: bytes, filename: str = "list.csv"):
    return await http.post(
        f"{url}?filename={filename}",
        data=body,
        headers={**headers, "Content-Type": "text/csv"},
    )


async def test_an_upload_keeps_the_good_rows_and_reports_each_refused_one(aiohttp_client, client):
    http, headers = await lead(aiohttp_client, client)
    campaign_id = (await create(http, headers))["campaign"]["id"]
    text = (
        "电话,姓名,reason,plan\n"
        "(212) 736-1000,Ann Lee,renewal,gold\n"
        "banana,Bob,,\n"  # row 3
        "+1 212 736 1001,Cleo,,\n"
        "212-736-1000,Ann again,,\n"  # the same number: merged
        ",Nobody,,\n"  # row 6
    )
    url = f"/api/v1/campaigns/{campaign_id}/list/upload"
    response = await upload(http, headers, url, text.encode("gbk"))
    assert response.status == 200, await response.text()
    result = await response.json()
    assert (result["added"], result["merged"], result["rejected"]) == (2, 1, 2)
    assert [r["row"] for r in result["first_rejections"]] == [3, 6]
    report = await http.get(result["report"])
    assert report.status == 200
    rows = list(csv.reader(io.StringIO((await report.read()).decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == ["3", "6"] and "phone number" in rows[1][1]
    listed = await (await http.get(f"/api/v1/campaigns/{campaign_id}/entries")).json()
    assert [e["number"] for e in listed["items"]] == ["+12127361000", "+12127361001"]
    first = listed["items"][0]
    assert (first["name"], first["reason"], first["fields"]["plan"]) == (
        "Ann Lee",
        "renewal",
        "gold",
    )
    summary = await (await http.get(f"/api/v1/campaigns/{campaign_id}/list")).json()
    assert (summary["total"], summary["remaining"], summary["due_now"]) == (2, 2, 2)


async def test_a_file_that_is_no_list_is_refused_whole(aiohttp_client, client):
    http, headers = await lead(aiohttp_client, client)
    campaign_id = (await create(http, headers))["campaign"]["id"]
    url = f"/api/v1/campaigns/{campaign_id}/list/upload"
    for body in (
        b"",
        b"name,company\nAnn,Acme\n",  # no phone column
        b"\xff\xfe\x00garbage\x81\x00" * 1000,
        b"x" * (10 * 1024 * 1024 + 1),
    ):
        response = await upload(http, headers, url, body)
        assert response.status == 422, body[:20]
        assert (await response.json())["fields"]["file"]
    assert await count(client.app, CallListEntry) == 0
    assert await count(client.app, ImportRun) == 0


async def test_every_generator_fills_the_list_and_a_standing_rule_is_kept(aiohttp_client, client):
    app = client.app
    http, headers = await lead(aiohttp_client, client)
    campaign_id = (await create(http, headers))["campaign"]["id"]
    base = f"/api/v1/campaigns/{campaign_id}"
    clock = app[clock_key]
    shop = await open_shop(app[db_key], clock, chairs=10, desks=10)
    async with app[db_key]() as db:
        from crm_core.models import Customer, PhoneNumber

        db.add(PhoneNumber(customer_id=shop.customer, raw="212 736 5000", e164="+12127365000"))
        (await db.get(Customer, shop.customer)).region = "north"
        db.add(
            CallRecord(
                linked_id="abandoned-1",
                direction="inbound",
                outcome="abandoned",
                caller_raw="+12127365100",
                caller_e164="+12127365100",
                queue="sales",
                ended_at=clock() - timedelta(hours=1),
                wait_seconds=30.0,
                callback_needed=True,
                recorded_at=clock(),
            )
        )
        db.add(
            Callback(
                customer_id=shop.customer,
                number="+12127365200",
                due_at=clock() + timedelta(hours=2),
                owner_user_id=shop.ann.user_id,
                note="wants a quote",
                status="scheduled",
                created_at=clock(),
            )
        )
        await db.commit()
    await shop.order((shop.chair, 1))
    segment_only = await add_customer(app, "Northwind", "+1 212 736 5300")
    async with app[db_key]() as db:
        (await db.get(Customer, segment_only)).region = "north"
        await db.commit()

    async def post(path: str, body: dict) -> dict:
        response = await http.post(f"{base}/list/{path}", headers=headers, json=body)
        assert response.status == 200, await response.text()
        return await response.json()

    assert (await post("order-confirmations", {}))["added"] == 1
    segment = await post("segment", {"region": "north", "label": "North", "standing": True})
    assert (segment["added"], segment["merged"]) == (1, 1)  # Acme is listed for its order
    assert segment["rule_id"]
    assert (await post("abandoned-calls", {"queues": ["sales"]}))["added"] == 1
    assert (await post("callbacks", {"horizon_hours": 24}))["added"] == 1
    bad = await http.post(f"{base}/list/segment", headers=headers, json={"products": ["nope"]})
    assert bad.status == 422 and "products" in (await bad.json())["fields"]
    bad = await http.post(f"{base}/list/numbers", headers=headers, json={"number": "12"})
    assert bad.status == 422 and "number" in (await bad.json())["fields"]

    listed = await (await http.get(f"{base}/entries", params={"per_page": "2"})).json()
    assert (listed["total"], len(listed["items"]), listed["more"]) == (4, 2, True)
    kinds = await (await http.get(f"{base}/entries", params={"reason_kind": "callback"})).json()
    assert [e["number"] for e in kinds["items"]] == ["+12127365200"]
    one = await (await http.get(f"{base}/entries", params={"number": "(212) 736-5100"})).json()
    assert one["items"][0]["reason_kind"] == "abandoned_call"
    wrong = await http.get(f"{base}/entries", params={"state": "lost"})
    assert wrong.status == 422 and "state" in (await wrong.json())["fields"]

    rules = (await (await http.get(f"{base}/rules")).json())["rules"]
    assert [(r["kind"], r["filters"]) for r in rules] == [("segment", {"region": "north"})]
    response = await http.post(
        f"{base}/rules", headers=headers, json={"kind": "abandoned_call", "filters": {"x": 1}}
    )
    assert response.status == 422
    response = await http.post(
        f"{base}/rules", headers=headers, json={"kind": "order_confirmation"}
    )
    assert response.status == 201
    assert await count(app, ListRule) == 2
    await http.post(f"{base}/start", headers=headers)
    newcomer = await add_customer(app, "Newcomer", "+1 212 736 5400")
    async with app[db_key]() as db:
        (await db.get(Customer, newcomer)).region = "north"
        await db.commit()
    ran = await (await http.post(f"{base}/rules/run", headers=headers)).json()
    assert ran["added"] == 1 and len(ran["runs"]) == 2

    # The segment rule turned off: a customer joining the segment is no longer listed.
    segment_rule = rules[0]["id"]
    off = await http.patch(f"{base}/rules/{segment_rule}", headers=headers, json={"enabled": False})
    assert off.status == 200 and (await off.json())["enabled"] is False
    late = await add_customer(app, "Latecomer", "+1 212 736 5500")
    async with app[db_key]() as db:
        (await db.get(Customer, late)).region = "north"
        await db.commit()
    ran = await (await http.post(f"{base}/rules/run", headers=headers)).json()
    assert ran["added"] == 0 and [r["kind"] for r in ran["runs"]] == ["order_confirmation"]
    wrong = await http.patch(f"{base}/rules/9999", headers=headers, json={"enabled": True})
    assert wrong.status == 404
    wrong = await http.patch(f"{base}/rules/{segment_rule}", headers=headers, json={"on": 1})
    assert wrong.status == 422
    on = await http.patch(f"{base}/rules/{segment_rule}", headers=headers, json={"enabled": True})
    assert on.status == 200
    ran = await (await http.post(f"{base}/rules/run", headers=headers)).json()
    assert ran["added"] == 1
    # And from the campaign page.
    page = f"/campaigns/{campaign_id}"
    token = await page_csrf(http, page)
    assert f'action="{page}/rules/{segment_rule}/off"' in await (await http.get(page)).text()
    off = await http.post(
        f"{page}/rules/{segment_rule}/off", data={"csrf_token": token}, allow_redirects=False
    )
    assert off.status == 303
    assert f'action="{page}/rules/{segment_rule}/on"' in await (await http.get(page)).text()
    async with app[db_key]() as db:
        switched = list(
            await db.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "list_rule"))
        )
    assert switched.count("list_rule.disable") == 2 and switched.count("list_rule.enable") == 1


# ------------------------------------------------------------------ do not call


async def test_the_register_takes_numbers_by_hand_and_by_file_and_marks_waiting_entries(
    aiohttp_client, client
):
    http, headers = await lead(aiohttp_client, client)
    campaign_id = (await create(http, headers))["campaign"]["id"]
    await add_numbers(http, headers, campaign_id, NEW_YORK[:4])

    added = await http.post(
        "/api/v1/dnc", headers=headers, json={"number": "(212) 736-1000", "reason": "asked"}
    )
    assert added.status == 201, await added.text()
    body = await added.json()
    assert (body["number"], body["added"], body["marked"]) == ("+12127361000", True, 1)
    again = await (
        await http.post("/api/v1/dnc", headers=headers, json={"number": "+12127361000"})
    ).json()
    assert again["added"] is False
    bad = await http.post("/api/v1/dnc", headers=headers, json={"number": "banana"})
    assert bad.status == 422 and "number" in (await bad.json())["fields"]
    assert (await http.get("/api/v1/dnc/212-736-1000")).status == 200
    assert (await http.get("/api/v1/dnc/+12127361003")).status == 404

    text = "phone,reason\n+1 212 736 1001,complaint\nnot a number,\n212 736 1002,\n"
    imported = await upload(http, headers, "/api/v1/dnc/import", text.encode())
    assert imported.status == 200, await imported.text()
    result = await imported.json()
    assert (result["added"], result["marked"], result["rejected"]) == (2, 2, 1)
    report = await http.get(result["report"])
    assert "not a number" in (await report.read()).decode("utf-8-sig")

    states = {
        e["number"]: e["state"]
        for e in (await (await http.get(f"/api/v1/campaigns/{campaign_id}/entries")).json())[
            "items"
        ]
    }
    assert states == {
        "+12127361000": "dnc",
        "+12127361001": "dnc",
        "+12127361002": "dnc",
        "+12127361003": "pending",
    }
    found = await (await http.get("/api/v1/dnc", params={"source": "import"})).json()
    assert found["total"] == 2
    removed = await http.delete("/api/v1/dnc/+12127361000?reason=mistake", headers=headers)
    assert removed.status == 200
    assert (await http.delete("/api/v1/dnc/+12127361000", headers=headers)).status == 404
    assert await count(client.app, DoNotCall) == 2
    async with client.app[db_key]() as db:
        removal = await db.scalar(select(AuditEntry).where(AuditEntry.action == "dnc.remove"))
    assert removal.after == {"reason": "mistake"}


# ------------------------------------------------------------------ who may


async def test_an_outbound_agent_can_neither_create_nor_start_nor_list(aiohttp_client, client):
    http, headers = await lead(aiohttp_client, client)
    campaign_id = (await create(http, headers))["campaign"]["id"]
    agent, agent_headers = await lead(aiohttp_client, client, "otto", "outbound_agent")
    refused = [
        await agent.post("/api/v1/campaigns", headers=agent_headers, json=SPRING),
        await agent.post(f"/api/v1/campaigns/{campaign_id}/start", headers=agent_headers),
        await agent.patch(
            f"/api/v1/campaigns/{campaign_id}", headers=agent_headers, json={"name": "Mine"}
        ),
        await agent.post(
            f"/api/v1/campaigns/{campaign_id}/list/numbers",
            headers=agent_headers,
            json={"number": NEW_YORK[0]},
        ),
        await agent.post("/api/v1/dnc", headers=agent_headers, json={"number": NEW_YORK[0]}),
        await agent.get("/api/v1/campaigns"),
        await agent.get("/campaigns"),
        await agent.get("/dnc"),
    ]
    assert [r.status for r in refused] == [403] * len(refused)
    assert await count(client.app, Campaign, Campaign.status == "running") == 0
    assert await count(client.app, CallListEntry) == 0
    # Without the CSRF header a change is refused too.
    assert (await http.post(f"/api/v1/campaigns/{campaign_id}/start")).status == 403


# ------------------------------------------------------------------ the pages


async def test_the_pages_show_errors_beside_fields_then_create_start_and_export(
    aiohttp_client, client
):
    app = client.app
    await add_user(app, "lea", "team_lead")
    http = await aiohttp_client(client.server)
    await web_login(http, "lea")
    home = await (await http.get("/")).text()
    assert 'href="/campaigns"' in home and 'href="/dnc"' in home
    token = await page_csrf(http, "/campaigns")
    form = {
        "csrf_token": token,
        "name": "Autumn <b>sale</b>",
        "mode": "progressive",
        "caller_id": "+12125550100",
        "abandon_cap": "5",
        "hours_start": "09:00",
        "hours_end": "20:00",
        "weekdays": ["0", "2"],
        "fallback_timezone": "America/New_York",
        "max_attempts": "3",
    }
    refused = await http.post("/campaigns", data=form, allow_redirects=False)
    assert refused.status == 422
    page = await refused.text()
    assert re.search(r'data-field="abandon_cap">at most 3%', page)
    assert 'value="Autumn &lt;b&gt;sale&lt;/b&gt;"' in page  # the input kept, escaped
    assert await count(app, Campaign) == 0
    made = await http.post(
        "/campaigns",
        data={**form, "abandon_cap": "0", "hours_start": "07:00"},
        allow_redirects=False,
    )
    assert made.status == 303
    url = made.headers["Location"].split("?")[0]
    page = await (await http.get(made.headers["Location"])).text()
    assert "The campaign is created" in page and "calling hours 07:00-20:00" in page
    changed = {**form, "abandon_cap": "2", "hours_start": "09:00", "hours_end": "08:00"}
    refused = await http.post(url, data=changed)
    assert refused.status == 422
    assert re.search(r'data-field="hours_end">the calling hours never open', await refused.text())
    saved = await http.post(url, data={**changed, "hours_end": "20:00"}, allow_redirects=False)
    assert saved.status == 303 and saved.headers["Location"].endswith("?saved=settings")
    page = await (await http.get(saved.headers["Location"])).text()
    assert "Settings saved." in page and "calling hours 07:00" not in page

    numbers = await http.post(f"{url}/list/number", data={"csrf_token": token, "number": "banana"})
    assert numbers.status == 422 and 'data-field="number"' in await numbers.text()
    added = await http.post(
        f"{url}/list/number",
        data={"csrf_token": token, "number": "212 736 1000", "name": "Ann"},
        allow_redirects=False,
    )
    assert added.status == 303 and "added=1" in added.headers["Location"]
    started = await http.post(f"{url}/start", data={"csrf_token": token}, allow_redirects=False)
    assert started.status == 303
    page = await (await http.get(started.headers["Location"])).text()
    assert "The campaign is running" in page and "calling hours are closed now" in page
    again = await http.post(f"{url}/start", data={"csrf_token": token})
    assert again.status == 409 and "running campaign cannot be started" in await again.text()

    export = await http.get(f"{url}?format=csv&state=pending")
    assert export.status == 200
    rows = list(csv.reader(io.StringIO((await export.read()).decode("utf-8-sig"))))
    assert rows[0][:4] == ["id", "campaign_id", "customer_id", "number"]
    assert rows[1][3].lstrip("'") == "+12127361000"  # a leading + is made inert (tabular)

    dnc = await http.post(
        "/dnc", data={"csrf_token": token, "number": "212 736 1000"}, allow_redirects=False
    )
    assert dnc.status == 303 and "marked=1" in dnc.headers["Location"]
    page = await (await http.get(dnc.headers["Location"])).text()
    assert "+12127361000" in page and "1 waiting list entry set aside" in page
    removed = await http.post(
        "/dnc/remove",
        data={"csrf_token": token, "number": "+12127361000", "reason": "asked by mistake"},
        allow_redirects=False,
    )
    assert removed.status == 303
    assert await count(app, DoNotCall) == 0
    missing = await http.post("/dnc/remove", data={"csrf_token": token, "number": "+12127361000"})
    assert missing.status == 404


async def test_the_register_pages_through_its_numbers_keeping_the_filter(aiohttp_client, client):
    await add_user(client.app, "lea", "team_lead")
    http = await aiohttp_client(client.server)
    await web_login(http, "lea")
    token = await page_csrf(http, "/dnc")
    for n in range(51):  # one more than a page
        added = await http.post(
            "/dnc", data={"csrf_token": token, "number": f"212 736 {n:04d}"}, allow_redirects=False
        )
        assert added.status == 303
    first = await (await http.get("/dnc?source=manual")).text()
    assert 'href="/dnc?page=2&amp;source=manual">Next' in first and "Previous" not in first
    second = await (await http.get("/dnc?page=2&source=manual")).text()
    assert 'href="/dnc?page=1&amp;source=manual">Previous' in second and ">Next" not in second
