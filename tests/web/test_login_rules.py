"""The login rules (SPEC "Rules the whole system keeps", issue 3 point 5), each through the real
web app, on both databases."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import WSMsgType
from sqlalchemy import func, select

from crm_core.models import AuditEntry, User, UserSession
from tests.conftest import (
    PASSWORD,
    add_user,
    api_login,
    page_csrf,
    same_origin,
    test_settings,
    web_login,
)
from web.app import create_app
from web.appkeys import db_key


async def count(app: Any, model: Any, *where: Any) -> int:
    async with app[db_key]() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)))


async def test_passwords_are_stored_as_argon2id_hashes(client):
    await add_user(client.app, "ann", "inbound_agent")
    async with client.app[db_key]() as db:
        stored = await db.scalar(select(User.password_hash).where(User.username == "ann"))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_a_correct_login_opens_the_home_page(client):
    await add_user(client.app, "ann", "inbound_agent")
    response = await web_login(client, "ann")
    assert response.status == 303
    home = await client.get("/")
    assert home.status == 200
    assert "Welcome, Ann" in await home.text()


async def test_a_session_ends_after_the_configured_inactivity(client, clock):
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann")
    clock.advance(minutes=29)
    assert (await client.get("/", allow_redirects=False)).status == 200
    # The request above was activity: the half hour starts again from there.
    clock.advance(minutes=29)
    assert (await client.get("/", allow_redirects=False)).status == 200
    clock.advance(minutes=31)
    gone = await client.get("/", allow_redirects=False)
    assert gone.status == 302
    assert gone.headers["Location"].startswith("/login")
    assert (await client.get("/api/v1/me")).status == 401
    assert await count(client.app, UserSession, UserSession.end_reason == "expired") == 1


async def test_the_inactivity_timeout_is_a_setting(aiohttp_client, database_url, tmp_path, clock):
    app = create_app(test_settings(database_url, tmp_path, session_idle_minutes=5), clock=clock)
    client = await aiohttp_client(app)
    await add_user(app, "ann", "inbound_agent")
    await web_login(client, "ann")
    clock.advance(minutes=6)
    assert (await client.get("/api/v1/me")).status == 401


async def test_remember_me_is_explicit_and_outlives_the_idle_timeout(client, clock):
    await add_user(client.app, "ann", "inbound_agent")
    plain = await web_login(client, "ann")
    assert plain.cookies["cc_session"]["max-age"] == ""  # a browser-session cookie
    remembered = await web_login(client, "ann", remember=True)
    assert int(remembered.cookies["cc_session"]["max-age"]) == 14 * 86400
    clock.advance(hours=8)
    assert (await client.get("/api/v1/me")).status == 200
    clock.advance(days=15)
    assert (await client.get("/api/v1/me")).status == 401


async def test_a_new_login_ends_the_old_session_and_tells_its_browser(aiohttp_client, client):
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann")
    ws = await client.ws_connect("/ws", headers=same_origin(client))
    assert (await ws.receive_json(timeout=5))["type"] == "hello"

    second_browser = await aiohttp_client(client.server)
    await web_login(second_browser, "ann")

    notice = await ws.receive_json(timeout=5)
    assert notice == {"type": "session.ended", "reason": "replaced"}
    closing = await ws.receive(timeout=5)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert (await client.get("/api/v1/me")).status == 401
    assert (await second_browser.get("/api/v1/me")).status == 200
    page = await client.get("/", allow_redirects=False)
    assert page.status == 302


async def test_the_login_page_explains_why_the_old_browser_was_signed_out(client):
    page = await client.get("/login?reason=replaced")
    assert "signed in somewhere else" in await page.text()


async def test_pages_redirect_anonymous_users_to_the_login(client):
    for path in ("/", "/admin/users", "/admin/roles", "/admin/dictionary", "/admin/audit"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302, path
        assert response.headers["Location"] == f"/login?next={path}"


async def test_the_api_answers_401_as_json_without_a_session(client):
    for method, path in (
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/audit"),
    ):
        response = await client.request(method, path, json={})
        assert response.status == 401, path
        assert (await response.json())["error"] == "unauthorized"


async def test_a_websocket_without_a_session_is_refused(client):
    response = await client.get(
        "/ws",
        headers={
            **same_origin(client),
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
        allow_redirects=False,
    )
    assert response.status in (302, 401)
    assert response.status != 101


async def test_a_page_outside_the_role_is_forbidden(client):
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann")
    response = await client.get("/admin/users")
    assert response.status == 403
    assert "users.admin" in await response.text()


async def test_the_api_answers_403_as_json_outside_the_role(client):
    await add_user(client.app, "ann", "inbound_agent")
    await api_login(client, "ann")
    response = await client.get("/api/v1/users")
    assert response.status == 403
    assert (await response.json())["error"] == "forbidden"


async def test_the_home_page_shows_only_what_the_role_may_do(client):
    await add_user(client.app, "ann", "inbound_agent")
    await add_user(client.app, "boss", "admin")
    await web_login(client, "ann")
    agent_home = await (await client.get("/")).text()
    assert "/admin/users" not in agent_home and "/admin/audit" not in agent_home
    await web_login(client, "boss")
    admin_home = await (await client.get("/")).text()
    assert "/admin/users" in admin_home and "/admin/roles" in admin_home


async def test_logout_ends_the_session_on_the_server(aiohttp_client, client):
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann")
    stolen = client.session.cookie_jar.filter_cookies(client.make_url("/"))["cc_session"].value
    token = await page_csrf(client)
    response = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert response.status == 303
    # The same cookie, replayed from elsewhere, is worth nothing now.
    other = await aiohttp_client(client.server)
    other.session.cookie_jar.update_cookies({"cc_session": stolen})
    assert (await other.get("/api/v1/me")).status == 401
    assert await count(client.app, UserSession, UserSession.end_reason == "logout") == 1


async def test_failed_logins_are_throttled_per_account(client, clock):
    await add_user(client.app, "ann", "inbound_agent")
    for _ in range(5):
        assert (await web_login(client, "ann", "wrong password")).status == 401
    blocked = await web_login(client, "ann")  # even the right password waits now
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in await blocked.text()
    clock.advance(minutes=16)
    assert (await web_login(client, "ann")).status == 303


async def test_failed_logins_are_throttled_per_client_address(client):
    await add_user(client.app, "ann", "inbound_agent")
    for i in range(20):
        await api_login_status(client, f"nobody{i}", "guess")
    response = await client.post(
        "/api/v1/auth/login", json={"username": "ann", "password": PASSWORD}
    )
    assert response.status == 429
    assert (await response.json())["scope"] == "client"


async def api_login_status(client: Any, username: str, password: str) -> int:
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    return response.status


async def test_failed_logins_are_audited(client):
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann", "wrong password")
    await web_login(client, "ghost", "wrong password")
    async with client.app[db_key]() as db:
        rows = (
            await db.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "auth.login_failed")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [(r.entity_id, r.after["reason"]) for r in rows] == [
        ("ann", "bad_password"),
        ("ghost", "unknown_user"),
    ]
    assert all(r.client_ip == "127.0.0.1" for r in rows)


async def test_a_disabled_user_cannot_log_in(client):
    await add_user(client.app, "boss", "admin")
    ann = await add_user(client.app, "ann", "inbound_agent")
    token = await api_login(client, "boss")
    response = await client.patch(
        f"/api/v1/users/{ann.id}", json={"is_active": False}, headers={"X-CSRF-Token": token}
    )
    assert response.status == 200
    assert (await web_login(client, "ann")).status == 401


async def test_every_form_refuses_a_post_without_its_csrf_token(client):
    await add_user(client.app, "boss", "admin")
    await web_login(client, "boss")
    form_routes = sorted(
        {
            r.resource.canonical
            for r in client.app.router.routes()
            if r.method == "POST" and not r.resource.canonical.startswith("/api/")
        }
    )
    assert {"/login", "/logout", "/admin/users/new"} <= set(form_routes)
    for path in form_routes:
        concrete = (
            path.replace("{user_id}", "1")
            .replace("{name}", "admin")
            .replace("{category}", "region")
            .replace("{code}", "north")
        )
        for data in ({}, {"csrf_token": "forged"}):
            response = await client.post(concrete, data=data, allow_redirects=False)
            assert response.status == 403, (concrete, data)
    assert (await client.get("/api/v1/me")).status == 200  # nothing ended the session


async def test_an_api_change_needs_the_csrf_header(client):
    await add_user(client.app, "boss", "admin")
    token = await api_login(client, "boss")
    body = {
        "username": "newbie",
        "display_name": "New",
        "password": "long enough pw",
        "roles": ["inbound_agent"],
    }
    assert (await client.post("/api/v1/users", json=body)).status == 403
    assert (
        await client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "forged"})
    ).status == 403
    assert await count(client.app, User, User.username == "newbie") == 0
    done = await client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": token})
    assert done.status == 201


async def test_the_api_refuses_form_encoded_changes(client):
    response = await client.post("/api/v1/auth/login", data={"username": "ann", "password": "x"})
    assert response.status == 415


async def test_session_cookies_are_httponly_and_samesite(client):
    await add_user(client.app, "ann", "inbound_agent")
    response = await web_login(client, "ann")
    cookie = response.cookies["cc_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # plain HTTP on loopback


async def test_session_cookies_are_secure_behind_tls(aiohttp_client, database_url, tmp_path, clock):
    settings = test_settings(database_url, tmp_path, trusted_proxies="127.0.0.1")
    client = await aiohttp_client(create_app(settings, clock=clock))
    await add_user(client.app, "ann", "inbound_agent")
    response = await client.post(
        "/api/v1/auth/login",
        json={"username": "ann", "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert response.cookies["__Host-cc_session"]["secure"] is True


async def test_a_websocket_from_a_foreign_origin_is_refused(client):
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann")
    import aiohttp

    for origin in ("http://evil.example", None):
        headers = {"Origin": origin} if origin else {}
        try:
            ws = await client.ws_connect("/ws", headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 403
        else:
            await ws.close()
            raise AssertionError(f"websocket opened from origin {origin!r}")
    ws = await client.ws_connect("/ws", headers=same_origin(client))
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    await ws.close()


async def test_an_expired_session_is_told_over_its_open_websocket(client, clock):
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann")
    ws = await client.ws_connect("/ws", headers=same_origin(client))
    await ws.receive_json(timeout=5)
    clock.advance(minutes=31)
    await ws.send_json({"type": "activity"})
    assert await ws.receive_json(timeout=5) == {"type": "session.ended", "reason": "expired"}


async def test_unknown_websocket_messages_are_refused(client):
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann")
    ws = await client.ws_connect("/ws", headers=same_origin(client))
    await ws.receive_json(timeout=5)
    await ws.send_str('{"type": "become", "user": "boss"}')
    assert (await ws.receive_json(timeout=5))["type"] == "error"
    await ws.send_json({"type": "ping"})
    assert (await ws.receive_json(timeout=5))["type"] == "pong"
    await ws.close()
    await asyncio.sleep(0)
