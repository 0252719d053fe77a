"""Administration through the pages and the API: users, roles→permissions, the dictionary,
and the audit trail each change leaves."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.models import AuditEntry
from tests.conftest import PASSWORD, add_user, api_login, page_csrf, web_login
from web.appkeys import db_key


async def audit_actions(app) -> list[tuple[str, str, str]]:
    async with app[db_key]() as db:
        rows = (await db.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    return [(r.actor_name, r.action, r.entity_id) for r in rows]


async def test_an_admin_creates_a_user_in_the_web_ui_who_can_then_log_in(aiohttp_client, client):
    await add_user(client.app, "boss", "admin")
    await web_login(client, "boss")
    token = await page_csrf(client, "/admin/users/new")
    response = await client.post(
        "/admin/users/new",
        data=[
            ("csrf_token", token),
            ("username", "Carla"),
            ("display_name", "Carla Caller"),
            ("password", "a long password"),
            ("roles", "inbound_agent"),
            ("roles", "service_staff"),
            ("extension", "1005"),
        ],
        allow_redirects=False,
    )
    assert response.status == 303
    listing = await (await client.get("/admin/users")).text()
    assert "carla" in listing and "Carla Caller" in listing
    other = await aiohttp_client(client.server)
    assert (await web_login(other, "carla", "a long password")).status == 303
    me = await (await other.get("/api/v1/me")).json()
    assert me["roles"] == ["inbound_agent", "service_staff"]


async def test_creating_a_user_is_audited_with_who_when_and_what(client, clock):
    await add_user(client.app, "boss", "admin")
    token = await api_login(client, "boss")
    response = await client.post(
        "/api/v1/users",
        headers={"X-CSRF-Token": token},
        json={
            "username": "dan",
            "display_name": "Dan",
            "password": "a long password",
            "roles": ["outbound_agent"],
        },
    )
    assert response.status == 201
    async with client.app[db_key]() as db:
        entry = await db.scalar(
            select(AuditEntry).where(
                AuditEntry.action == "user.create", AuditEntry.actor_name != "system"
            )
        )
    assert entry.actor_name == "boss" and entry.at == clock.now
    assert entry.before is None
    assert entry.after["roles"] == ["outbound_agent"]
    assert "password" not in str(entry.after)


async def test_duplicate_user_names_are_refused_with_a_reason(client):
    await add_user(client.app, "boss", "admin")
    token = await api_login(client, "boss")
    body = {"username": "BOSS", "display_name": "Other", "password": "a long password", "roles": []}
    response = await client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": token})
    assert response.status == 409
    assert (await response.json())["fields"] == {"username": "user name 'boss' is taken"}


async def test_unknown_role_names_are_refused_and_nothing_is_created(client):
    await add_user(client.app, "boss", "admin")
    token = await api_login(client, "boss")
    body = {
        "username": "eve",
        "display_name": "Eve",
        "password": "a long password",
        "roles": ["inbound_agent", "overlord"],
    }
    response = await client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": token})
    assert response.status == 422
    assert "overlord" in (await response.json())["fields"]["roles"]
    users = await (await client.get("/api/v1/users")).json()
    assert [u["username"] for u in users["users"]] == ["boss"]


async def test_disabling_the_last_admin_is_refused(client):
    boss = await add_user(client.app, "boss", "admin")
    token = await api_login(client, "boss")
    response = await client.patch(
        f"/api/v1/users/{boss.id}", json={"is_active": False}, headers={"X-CSRF-Token": token}
    )
    assert response.status == 409
    assert "administrator" in (await response.json())["message"]
    still = await (await client.get(f"/api/v1/users/{boss.id}")).json()
    assert still["is_active"] is True


async def test_taking_the_admin_role_from_the_last_admin_is_refused_in_the_web_ui(client):
    boss = await add_user(client.app, "boss", "admin")
    await web_login(client, "boss")
    token = await page_csrf(client, f"/admin/users/{boss.id}")
    response = await client.post(
        f"/admin/users/{boss.id}",
        data={
            "csrf_token": token,
            "display_name": "Boss",
            "roles": "inbound_agent",
            "is_active": "on",
        },
    )
    assert response.status == 409
    assert "keep at least one active administrator" in await response.text()
    assert (await client.get("/admin/users")).status == 200


async def test_a_second_admin_may_disable_the_first_and_the_first_is_signed_out(
    aiohttp_client, client
):
    first = await add_user(client.app, "boss", "admin")
    await add_user(client.app, "deputy", "admin")
    await web_login(client, "boss")
    deputy = await aiohttp_client(client.server)
    token = await api_login(deputy, "deputy")
    response = await deputy.patch(
        f"/api/v1/users/{first.id}", json={"is_active": False}, headers={"X-CSRF-Token": token}
    )
    assert response.status == 200
    assert (await client.get("/api/v1/me")).status == 401


async def test_a_password_reset_signs_the_user_out_and_the_new_password_works(
    aiohttp_client, client
):
    await add_user(client.app, "boss", "admin")
    ann = await add_user(client.app, "ann", "inbound_agent")
    ann_browser = await aiohttp_client(client.server)
    await web_login(ann_browser, "ann")
    await web_login(client, "boss")
    token = await page_csrf(client, f"/admin/users/{ann.id}")
    response = await client.post(
        f"/admin/users/{ann.id}/password",
        data={"csrf_token": token, "password": "a brand new secret"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert (await ann_browser.get("/api/v1/me")).status == 401
    assert (await web_login(ann_browser, "ann", PASSWORD)).status == 401
    assert (await web_login(ann_browser, "ann", "a brand new secret")).status == 303


async def test_changing_a_roles_permissions_changes_access_at_once(aiohttp_client, client):
    await add_user(client.app, "boss", "admin")
    await add_user(client.app, "ann", "inbound_agent")
    agent = await aiohttp_client(client.server)
    await api_login(agent, "ann")
    assert (await agent.get("/api/v1/audit")).status == 403

    token = await api_login(client, "boss")
    roles = (await (await client.get("/api/v1/roles")).json())["roles"]
    agent_perms = next(r["permissions"] for r in roles if r["name"] == "inbound_agent")
    response = await client.put(
        "/api/v1/roles/inbound_agent/permissions",
        json={"permissions": [*agent_perms, "audit.read"]},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 200
    assert (await agent.get("/api/v1/audit")).status == 200
    assert ("boss", "role.permissions", "inbound_agent") in await audit_actions(client.app)


async def test_role_permissions_are_edited_in_the_web_ui(client):
    await add_user(client.app, "boss", "admin")
    await web_login(client, "boss")
    token = await page_csrf(client, "/admin/roles")
    response = await client.post(
        "/admin/roles/service_staff",
        data=[
            ("csrf_token", token),
            ("permissions", "customers.read"),
            ("permissions", "reports.read"),
        ],
        allow_redirects=False,
    )
    assert response.status == 303
    roles = (await (await client.get("/api/v1/roles")).json())["roles"]
    assert next(r for r in roles if r["name"] == "service_staff")["permissions"] == [
        "customers.read",
        "reports.read",
    ]


async def test_unknown_permissions_and_admin_lockout_are_refused(client):
    await add_user(client.app, "boss", "admin")
    token = await api_login(client, "boss")
    headers = {"X-CSRF-Token": token}
    bad = await client.put(
        "/api/v1/roles/team_lead/permissions",
        json={"permissions": ["launch.missiles"]},
        headers=headers,
    )
    assert bad.status == 422 and "launch.missiles" in (await bad.json())["fields"]["permissions"]
    lockout = await client.put(
        "/api/v1/roles/admin/permissions", json={"permissions": ["customers.read"]}, headers=headers
    )
    assert lockout.status == 409
    assert (await client.get("/api/v1/users")).status == 200


async def test_the_dictionary_is_seeded_and_readable_by_every_user(client):
    await add_user(client.app, "ann", "inbound_agent")
    await api_login(client, "ann")
    reasons = await (await client.get("/api/v1/dictionary/pause_reason")).json()
    by_code = {e["code"]: e for e in reasons["entries"]}
    assert by_code["lunch"]["attributes"] == {"time_limit_minutes": 60}
    dispositions = await (await client.get("/api/v1/dictionary/disposition")).json()
    assert "sale" in {e["code"] for e in dispositions["entries"]}


async def test_an_admin_adds_and_retires_dictionary_entries_in_the_web_ui(client):
    await add_user(client.app, "boss", "admin")
    await web_login(client, "boss")
    token = await page_csrf(client, "/admin/dictionary/pause_reason")
    added = await client.post(
        "/admin/dictionary/pause_reason",
        data={
            "csrf_token": token,
            "code": "coaching",
            "label": "Coaching",
            "sort_order": "7",
            "time_limit_minutes": "20",
        },
        allow_redirects=False,
    )
    assert added.status == 303
    retired = await client.post(
        "/admin/dictionary/pause_reason/coaching",
        data={
            "csrf_token": token,
            "label": "Coaching session",
            "sort_order": "7",
            "time_limit_minutes": "25",
        },
        allow_redirects=False,
    )  # no is_active: unticked
    assert retired.status == 303
    entries = (await (await client.get("/api/v1/dictionary/pause_reason")).json())["entries"]
    coaching = next(e for e in entries if e["code"] == "coaching")
    assert coaching == {
        "code": "coaching",
        "label": "Coaching session",
        "sort_order": 7,
        "is_active": False,
        "attributes": {"time_limit_minutes": 25},
    }
    actions = await audit_actions(client.app)
    assert ("boss", "dictionary.create", "coaching") in actions
    assert ("boss", "dictionary.update", "coaching") in actions


async def test_an_admin_renames_a_request_type_and_changes_its_deadline_in_the_web_ui(client):
    await add_user(client.app, "boss", "admin")
    await web_login(client, "boss")
    page = "/admin/dictionary/service_request_type"
    token = await page_csrf(client, page)
    assert 'name="deadline_hours"' in await (await client.get(page)).text()

    async def save(**fields: str) -> dict:
        saved = await client.post(
            f"{page}/complaint",
            data={"csrf_token": token, "sort_order": "2", "is_active": "on", **fields},
            allow_redirects=False,
        )
        assert saved.status == 303, await saved.text()
        entries = await (await client.get("/api/v1/dictionary/service_request_type")).json()
        return next(e for e in entries["entries"] if e["code"] == "complaint")

    renamed = await save(label="Complaint (formal)", deadline_hours="48")
    assert renamed["label"] == "Complaint (formal)"
    assert renamed["attributes"] == {"deadline_hours": 48}
    assert (await save(label="Complaint", deadline_hours="72"))["attributes"] == {
        "deadline_hours": 72
    }
    assert (await save(label="Complaint", deadline_hours=""))["attributes"] == {}
    refused = await client.post(
        f"{page}/complaint",
        data={"csrf_token": token, "label": "Complaint", "deadline_hours": "-3"},
    )
    assert refused.status == 422
    added = await client.post(
        page,
        data={
            "csrf_token": token,
            "code": "warranty",
            "label": "Warranty",
            "deadline_hours": "120",
        },
        allow_redirects=False,
    )
    assert added.status == 303
    entries = await (await client.get("/api/v1/dictionary/service_request_type")).json()
    warranty = next(e for e in entries["entries"] if e["code"] == "warranty")
    assert warranty["attributes"] == {"deadline_hours": 120}


async def test_dictionary_rules_are_enforced(client):
    await add_user(client.app, "boss", "admin")
    token = await api_login(client, "boss")
    headers = {"X-CSRF-Token": token}
    duplicate = await client.post(
        "/api/v1/dictionary/region", headers=headers, json={"code": "north", "label": "North again"}
    )
    assert duplicate.status == 409
    no_limit = await client.post(
        "/api/v1/dictionary/region",
        headers=headers,
        json={"code": "far", "label": "Far", "time_limit_minutes": 5},
    )
    assert no_limit.status == 422 and "time_limit_minutes" in (await no_limit.json())["fields"]
    no_deadline = await client.post(
        "/api/v1/dictionary/pause_reason",
        headers=headers,
        json={"code": "nap", "label": "Nap", "deadline_hours": 5},
    )
    assert no_deadline.status == 422 and "deadline_hours" in (await no_deadline.json())["fields"]
    unknown = await client.post(
        "/api/v1/dictionary/planets", headers=headers, json={"code": "mars", "label": "Mars"}
    )
    assert unknown.status == 404


async def test_only_dictionary_admins_edit_the_dictionary(client):
    await add_user(client.app, "ann", "inbound_agent")
    token = await api_login(client, "ann")
    response = await client.post(
        "/api/v1/dictionary/region",
        headers={"X-CSRF-Token": token},
        json={"code": "moon", "label": "Moon"},
    )
    assert response.status == 403


async def test_the_audit_page_lists_logins_and_changes(client):
    await add_user(client.app, "boss", "admin")
    await web_login(client, "boss")
    page = await (await client.get("/admin/audit")).text()
    assert "auth.login" in page and "boss" in page
