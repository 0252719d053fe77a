"""What a penetration probe found (issue 10, points 16-20), each through the real app: form
tokens bound to the session, the client address behind proxies, throttling that slows guessing
without locking people out, sockets that lose what an administrator takes away, and the
headers, limits and permissions around it all."""

from __future__ import annotations

import asyncio
import re
import stat
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from config.settings import load_settings
from crm_core.models import AuditEntry, User
from tests.conftest import (
    PASSWORD,
    add_user,
    api_login,
    csrf_from,
    page_csrf,
    same_origin,
    test_settings,
    web_login,
)
from tests.web.telephony import agent_ready
from tests.web.test_screen_pop import next_of
from web.app import create_app
from web.appkeys import db_key, hub_key, simulator_key
from web.hub import Outgoing

WEB = Path(__file__).resolve().parents[2] / "web"


async def count(app, model, *where) -> int:
    async with app[db_key]() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)))


async def audit_of(app, action: str) -> list[AuditEntry]:
    async with app[db_key]() as db:
        rows = await db.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return list(rows.all())


async def client_with(aiohttp_client, database_url, tmp_path, clock, **settings):
    app = create_app(test_settings(database_url, tmp_path, **settings), clock=clock)
    return await aiohttp_client(app)


async def api_login_answer(client, username: str, password: str, **kwargs):
    return await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}, **kwargs
    )


# ------------------------------------------------------------ 16: form tokens and cookies


async def test_the_pre_login_token_does_not_pass_for_an_admin_form(client):
    await add_user(client.app, "boss", "admin")
    anonymous_page = await client.get("/login")
    prelogin = csrf_from(await anonymous_page.text())
    assert (await web_login(client, "boss")).status == 303  # same browser, same pre-login cookie
    forged = await client.post(
        "/admin/users/new",
        data={
            "csrf_token": prelogin,
            "username": "mallory",
            "display_name": "Mallory",
            "password": "a long password",
            "roles": "admin",
        },
        allow_redirects=False,
    )
    assert forged.status == 403
    assert await count(client.app, User, User.username == "mallory") == 0


async def test_the_form_token_of_another_session_does_not_pass(aiohttp_client, client):
    await add_user(client.app, "boss", "admin")
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "boss")
    other = await aiohttp_client(client.server)
    await web_login(other, "ann")
    anns_token = await page_csrf(other)
    response = await client.post("/logout", data={"csrf_token": anns_token}, allow_redirects=False)
    assert response.status == 403
    assert (await client.get("/api/v1/me")).status == 200


async def test_the_login_form_still_takes_its_pre_login_token(client):
    await add_user(client.app, "ann", "inbound_agent")
    assert (await web_login(client, "ann")).status == 303


async def test_over_plain_http_the_cookies_keep_their_plain_names(client):
    await add_user(client.app, "ann", "inbound_agent")
    page = await client.get("/login")
    assert "cc_prelogin" in page.cookies and not page.cookies["cc_prelogin"]["secure"]
    response = await web_login(client, "ann")
    assert set(response.cookies) == {"cc_session"}
    assert not response.cookies["cc_session"]["secure"]


@pytest.fixture
async def tls_browser(aiohttp_client, database_url, tmp_path, clock, unused_tcp_port):
    """A browser talking to us through a TLS-terminating proxy on loopback: every request
    says https, and its cookie jar, like a browser's, keeps Secure cookies for the origin."""
    app = create_app(
        test_settings(database_url, tmp_path, trusted_proxies="127.0.0.1"), clock=clock
    )
    jar = aiohttp.CookieJar(
        unsafe=True, treat_as_secure_origin=f"http://127.0.0.1:{unused_tcp_port}"
    )
    return await aiohttp_client(
        app,
        server_kwargs={"port": unused_tcp_port},
        cookie_jar=jar,
        headers={"X-Forwarded-Proto": "https"},
    )


async def test_over_tls_the_cookies_are_host_only_and_secure(tls_browser):
    await add_user(tls_browser.app, "ann", "inbound_agent")
    page = await tls_browser.get("/login")
    prelogin = page.cookies["__Host-cc_prelogin"]
    assert prelogin["secure"] and prelogin["path"] == "/" and not prelogin["domain"]
    response = await web_login(tls_browser, "ann")
    assert response.status == 303
    session = response.cookies["__Host-cc_session"]
    assert session["secure"] and session["path"] == "/" and not session["domain"]
    assert "cc_session" not in response.cookies
    assert (await tls_browser.get("/api/v1/me")).status == 200


async def test_over_tls_a_cookie_without_the_prefix_is_not_believed(tls_browser):
    """A plain cookie could have been planted over http or by a sibling subdomain."""
    await add_user(tls_browser.app, "ann", "inbound_agent")
    token = (await web_login(tls_browser, "ann")).cookies["__Host-cc_session"].value
    tls_browser.session.cookie_jar.clear()
    planted = await tls_browser.get("/api/v1/me", headers={"Cookie": f"cc_session={token}"})
    assert planted.status == 401
    proper = await tls_browser.get("/api/v1/me", headers={"Cookie": f"__Host-cc_session={token}"})
    assert proper.status == 200


async def test_logout_over_tls_clears_the_prefixed_cookie(tls_browser):
    await add_user(tls_browser.app, "ann", "inbound_agent")
    await web_login(tls_browser, "ann")
    token = await page_csrf(tls_browser)
    response = await tls_browser.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert response.status == 303
    cleared = response.cookies["__Host-cc_session"]
    assert cleared.value == "" and cleared["secure"]
    assert (await tls_browser.get("/api/v1/me")).status == 401


# ------------------------------------------------------------ 17: the client address


def test_trusted_proxies_are_a_plain_comma_list_in_the_environment(monkeypatch):
    monkeypatch.setenv("CALLCENTRE_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.0/8,fd00::/8")
    settings = load_settings()
    assert [str(n) for n in settings.trusted_networks] == ["10.0.0.1/32", "10.0.0.0/8", "fd00::/8"]
    monkeypatch.setenv("CALLCENTRE_TRUSTED_PROXIES", "10.0.0.1,proxy.example")
    with pytest.raises(ValueError, match=r"proxy\.example"):
        load_settings()


def test_the_old_all_or_nothing_setting_is_refused_with_a_pointer_to_the_new_one(monkeypatch):
    monkeypatch.setenv("CALLCENTRE_TRUST_PROXY_HEADERS", "true")
    with pytest.raises(ValueError, match="trusted_proxies"):
        load_settings()


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(
    aiohttp_client, database_url, tmp_path, clock
):
    """The port published directly: whoever connects may write the header."""
    client = await client_with(
        aiohttp_client, database_url, tmp_path, clock, trusted_proxies="10.0.0.0/8"
    )
    await add_user(client.app, "ann", "inbound_agent")
    statuses = [
        (
            await api_login_answer(
                client, f"nobody{i}", "guess", headers={"X-Forwarded-For": f"198.51.100.{i}"}
            )
        ).status
        for i in range(21)
    ]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429
    failed = await audit_of(client.app, "auth.login_failed")
    assert {entry.client_ip for entry in failed} == {"127.0.0.1"}


async def test_behind_a_trusted_proxy_the_client_is_the_right_most_address_it_did_not_add(
    aiohttp_client, database_url, tmp_path, clock
):
    client = await client_with(
        aiohttp_client, database_url, tmp_path, clock, trusted_proxies="127.0.0.1,10.0.0.0/8"
    )
    await add_user(client.app, "ann", "inbound_agent")
    statuses = []
    for i in range(30):
        # The client forges the left part; our proxies (10.0.0.2, then 127.0.0.1) add theirs.
        forwarded = f"203.0.113.{i}, 198.51.100.7, 10.0.0.2"
        answer = await api_login_answer(
            client, f"nobody{i}", "guess", headers={"X-Forwarded-For": forwarded}
        )
        statuses.append(answer.status)
    assert statuses[:20] == [401] * 20 and 429 in statuses[20:]
    failed = await audit_of(client.app, "auth.login_failed")
    assert {entry.client_ip for entry in failed} == {"198.51.100.7"}


async def test_a_hop_that_is_no_address_stops_the_walk_at_the_proxy(
    aiohttp_client, database_url, tmp_path, clock
):
    client = await client_with(
        aiohttp_client, database_url, tmp_path, clock, trusted_proxies="127.0.0.1"
    )
    await api_login_answer(client, "ghost", "guess", headers={"X-Forwarded-For": "unknown"})
    await api_login_answer(
        client, "ghost", "guess", headers={"X-Forwarded-For": "::ffff:192.0.2.4"}
    )
    failed = await audit_of(client.app, "auth.login_failed")
    assert [entry.client_ip for entry in failed] == ["127.0.0.1", "192.0.2.4"]


# ------------------------------------------------------------ 18: throttling


async def test_a_flood_from_one_address_holds_a_real_user_up_for_seconds_not_minutes(client, clock):
    await add_user(client.app, "ann", "inbound_agent")
    for i in range(20):
        assert (await api_login_answer(client, f"made-up{i}", "guess")).status == 401
    held = await api_login_answer(client, "ann", PASSWORD)
    assert held.status == 429
    wait = int(held.headers["Retry-After"])
    assert 0 < wait <= 30
    clock.advance(seconds=wait)
    assert (await api_login_answer(client, "ann", PASSWORD)).status == 200


async def test_five_wrong_passwords_do_not_lock_the_account_for_long(client, clock):
    await add_user(client.app, "ann", "inbound_agent")
    for _ in range(5):
        assert (await web_login(client, "ann", "wrong password")).status == 401
    held = await web_login(client, "ann")
    assert held.status == 429
    clock.advance(seconds=int(held.headers["Retry-After"]))
    assert (await web_login(client, "ann")).status == 303


async def test_each_failure_beyond_the_free_ones_doubles_the_wait_up_to_the_cap(client, clock):
    await add_user(client.app, "ann", "inbound_agent")
    for _ in range(5):
        await api_login_answer(client, "ann", "wrong password")
    waits = []
    for _ in range(7):
        held = await api_login_answer(client, "ann", "wrong password")
        assert held.status == 429
        waits.append(int(held.headers["Retry-After"]))
        clock.advance(seconds=waits[-1])
        assert (await api_login_answer(client, "ann", "wrong password")).status == 401
    assert waits == [1, 2, 4, 8, 16, 30, 30]


async def test_waiting_attempts_do_not_lengthen_the_wait(client, clock):
    await add_user(client.app, "ann", "inbound_agent")
    for _ in range(5):
        await api_login_answer(client, "ann", "wrong password")
    for _ in range(10):
        assert (await api_login_answer(client, "ann", "wrong password")).status == 429
    clock.advance(seconds=1)
    assert (await api_login_answer(client, "ann", PASSWORD)).status == 200


async def test_concurrent_guesses_reach_the_password_check_no_more_than_the_free_ones(client):
    await add_user(client.app, "ann", "inbound_agent")
    answers = await asyncio.gather(
        *(api_login_answer(client, "ann", f"guess {i}") for i in range(100))
    )
    statuses = sorted(a.status for a in answers)
    assert statuses == [401] * 5 + [429] * 95
    assert len(await audit_of(client.app, "auth.login_failed")) == 5  # passwords checked


# ------------------------------------------------------------ 19: sockets and permissions


async def open_board(client):
    board = await client.ws_connect("/ws", headers=same_origin(client))
    assert (await board.receive_json(timeout=5))["type"] == "hello"
    return board


async def no_agent_rows(board, timeout: float = 1.0) -> None:
    with pytest.raises(asyncio.TimeoutError):
        row = await next_of(board, "agent.state", timeout=timeout)
        pytest.fail(f"an agent row still arrived: {row}")


async def test_a_lead_stops_receiving_agent_rows_once_an_admin_removes_the_role(
    aiohttp_client, service
):
    app = service.app
    lead = await add_user(app, "lead", "team_lead")
    await add_user(app, "boss", "admin")
    await web_login(service, "lead")
    board = await open_board(service)
    await agent_ready(app, "1001")
    assert (await next_of(board, "agent.state"))["agent"]["interface"] == "PJSIP/1001"

    admin = await aiohttp_client(service.server)
    await web_login(admin, "boss")
    token = await page_csrf(admin, f"/admin/users/{lead.id}")
    saved = await admin.post(
        f"/admin/users/{lead.id}",
        data={"csrf_token": token, "display_name": "Lead", "is_active": "on"},  # no role left
        allow_redirects=False,
    )
    assert saved.status == 303

    await next_of(board, "permissions.changed", timeout=5)
    await agent_ready(app, "1002")
    await no_agent_rows(board)
    assert (await service.get("/supervisor")).status == 403
    await board.send_json({"type": "ping"})  # still signed in: the socket lives on
    assert (await next_of(board, "pong", timeout=5))["type"] == "pong"


async def test_taking_a_permission_from_a_role_reaches_its_holders_open_sockets(
    aiohttp_client, service
):
    app = service.app
    await add_user(app, "lead", "team_lead")
    await add_user(app, "boss", "admin")
    await web_login(service, "lead")
    board = await open_board(service)
    admin = await aiohttp_client(service.server)
    token = await api_login(admin, "boss")
    roles = (await (await admin.get("/api/v1/roles")).json())["roles"]
    kept = [p for r in roles if r["name"] == "team_lead" for p in r["permissions"]]
    kept.remove("campaigns.monitor")
    changed = await admin.put(
        "/api/v1/roles/team_lead/permissions",
        json={"permissions": kept},
        headers={"X-CSRF-Token": token},
    )
    assert changed.status == 200, await changed.text()

    await next_of(board, "permissions.changed", timeout=5)
    await agent_ready(app, "1001")
    await no_agent_rows(board)


async def test_disabling_a_user_signs_their_open_sockets_out(aiohttp_client, client):
    await add_user(client.app, "boss", "admin")
    lead = await add_user(client.app, "lead", "team_lead")
    await web_login(client, "lead")
    board = await open_board(client)
    admin = await aiohttp_client(client.server)
    token = await api_login(admin, "boss")
    disabled = await admin.patch(
        f"/api/v1/users/{lead.id}", json={"is_active": False}, headers={"X-CSRF-Token": token}
    )
    assert disabled.status == 200
    assert await next_of(board, "session.ended", timeout=5) == {
        "type": "session.ended",
        "reason": "disabled",
    }
    assert (await board.receive(timeout=5)).type in (
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
    )


async def test_a_row_already_queued_is_not_written_after_the_permission_went(service):
    app = service.app
    await add_user(app, "lead", "team_lead")
    await web_login(service, "lead")
    board = await open_board(service)
    hub = app[hub_key]
    (conn,) = hub.monitors
    hub.send(conn, Outgoing.of({"type": "agent.state", "agent": {}}, needs="campaigns.monitor"))
    conn.permissions -= {"campaigns.monitor"}  # taken away before the writer got to it
    await agent_ready(app, "1001")
    await no_agent_rows(board, timeout=0.5)


# ------------------------------------------------------------ 20: headers


async def test_every_response_carries_the_security_headers(client):
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann")
    static = re.search(r'href="(/static/app\.css[^"]*)"', await (await client.get("/")).text())
    for path in ("/login", "/", "/api/v1/me", "/no/such/page", "/healthz", static.group(1)):
        response = await client.get(path, allow_redirects=False)
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "same-origin", path
        assert "Python" not in headers["Server"] and "aiohttp" not in headers["Server"], path
        assert "Strict-Transport-Security" not in headers, path  # plain http
        if path.startswith("/static/"):
            assert "no-store" not in headers.get("Cache-Control", ""), path
        else:
            assert headers["Cache-Control"] == "no-store", path


async def test_hsts_only_when_the_request_came_over_tls(
    aiohttp_client, database_url, tmp_path, clock
):
    client = await client_with(
        aiohttp_client, database_url, tmp_path, clock, trusted_proxies="127.0.0.1"
    )
    tls = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert tls.headers["Strict-Transport-Security"].startswith("max-age=")
    plain = await client.get("/login")
    assert "Strict-Transport-Security" not in plain.headers

    untrusted = await client_with(aiohttp_client, database_url, tmp_path / "other", clock)
    forged = await untrusted.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forged.headers


def test_no_template_or_script_needs_unsafe_inline():
    """The policy allows no inline script, style or event attribute: none may creep in."""
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+\s*=|javascript:", re.I
    )
    files = [*WEB.glob("templates/**/*.html"), *WEB.glob("static/*.js")]
    assert files
    offenders = [f"{f.name}: {m.group(0)}" for f in files for m in inline.finditer(f.read_text())]
    assert offenders == []


# ------------------------------------------------------------ 20: bodies and inputs


async def test_json_nested_too_deeply_is_a_bad_request_not_a_crash(client):
    for body in (b"[" * 100_000, b'{"a":' * 100_000):
        response = await client.post(
            "/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status == 400
        assert (await response.json())["error"] == "bad_request"


async def test_a_websocket_message_nested_too_deeply_is_refused_and_the_socket_lives(client):
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann")
    ws = await open_board(client)
    await ws.send_str("[" * 15_000)
    assert (await ws.receive_json(timeout=5))["type"] == "error"
    await ws.send_json({"type": "ping"})
    assert (await ws.receive_json(timeout=5))["type"] == "pong"
    await ws.close()


@pytest.mark.parametrize("reason", ["break\r\nAction: Originate", "x" * 65, "tab\there"])
async def test_a_reason_with_control_characters_is_refused_before_the_pbx_hears_anything(
    aiohttp_client, service, reason
):
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    token = await api_login(service, "ann")
    response = await service.post(
        "/api/v1/agent/state",
        headers={"X-CSRF-Token": token},
        json={"state": "ready", "reason": reason},
    )
    assert response.status == 422, await response.text()
    assert "reason" in (await response.json())["fields"]
    assert app[simulator_key].simulator.queues.members_of("PJSIP/1001") == []


# ------------------------------------------------------------ 20: sessions and cookies


async def test_a_login_with_a_stale_session_cookie_keeps_the_new_cookie(client):
    await add_user(client.app, "ann", "inbound_agent")
    client.session.cookie_jar.update_cookies({"cc_session": "stale-from-last-week"})
    response = await api_login_answer(client, "ann", PASSWORD)
    assert response.status == 200
    assert response.cookies["cc_session"].value not in ("", "stale-from-last-week")
    assert (await client.get("/api/v1/me")).status == 200

    client.session.cookie_jar.update_cookies({"cc_session": "stale-from-last-week"})
    assert (await web_login(client, "ann")).status == 303  # the form, likewise
    assert (await client.get("/api/v1/me")).status == 200


async def test_a_remembered_session_ends_after_its_absolute_lifetime(client, clock):
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann", remember=True)
    for _ in range(3):  # used every nine days: the idle deadline keeps sliding on
        clock.advance(days=9)
        assert (await client.get("/api/v1/me")).status == 200
    clock.advance(days=4)  # 31 days after the login
    assert (await client.get("/api/v1/me")).status == 401


async def test_an_ordinary_session_ends_after_its_absolute_lifetime(client, clock):
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann")
    for _ in range(35):  # busy all day, never idle for long
        clock.advance(minutes=20)
        assert (await client.get("/api/v1/me")).status == 200
    clock.advance(minutes=20)  # 12 hours after the login
    assert (await client.get("/api/v1/me")).status == 401


async def test_the_absolute_lifetimes_are_settings(aiohttp_client, database_url, tmp_path, clock):
    client = await client_with(aiohttp_client, database_url, tmp_path, clock, session_max_hours=1)
    await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "ann")
    clock.advance(minutes=29)
    assert (await client.get("/api/v1/me")).status == 200
    clock.advance(minutes=29)
    assert (await client.get("/api/v1/me")).status == 200
    clock.advance(minutes=3)
    assert (await client.get("/api/v1/me")).status == 401


# ------------------------------------------------------------ 20: passwords


@pytest.mark.parametrize(
    "password",
    [" " * 10, "too short   ", "newbie", "NewBie12345", "Password123", "aaaaaaaaaaaa"],
)
async def test_weak_passwords_are_refused_with_the_field_named(client, password):
    await add_user(client.app, "boss", "admin")
    token = await api_login(client, "boss")
    response = await client.post(
        "/api/v1/users",
        headers={"X-CSRF-Token": token},
        json={"username": "newbie", "display_name": "New", "password": password, "roles": []},
    )
    assert response.status == 422, password
    assert "password" in (await response.json())["fields"]
    assert await count(client.app, User, User.username == "newbie") == 0


async def test_a_long_phrase_that_mentions_the_user_name_is_fine(client):
    await add_user(client.app, "boss", "admin")
    token = await api_login(client, "boss")
    response = await client.post(
        "/api/v1/users",
        headers={"X-CSRF-Token": token},
        json={
            "username": "newbie",
            "display_name": "New",
            "password": "newbie rides a blue bicycle",
            "roles": [],
        },
    )
    assert response.status == 201, await response.text()


async def test_a_password_reset_to_the_user_name_is_refused_in_the_form(client):
    await add_user(client.app, "boss", "admin")
    ann = await add_user(client.app, "ann", "inbound_agent")
    await web_login(client, "boss")
    token = await page_csrf(client, f"/admin/users/{ann.id}")
    response = await client.post(
        f"/admin/users/{ann.id}/password",
        data={"csrf_token": token, "password": "Ann1234567"},
        allow_redirects=False,
    )
    assert response.status == 422
    assert "besides the user name" in await response.text()
    other = await web_login(client, "ann")  # the old password still works
    assert other.status == 303


# ------------------------------------------------------------ 20: files and internals


async def test_the_sqlite_database_is_readable_by_its_owner_only(aiohttp_client, tmp_path, clock):
    data = tmp_path / "data"
    settings = test_settings("", data)
    client = await aiohttp_client(create_app(settings, clock=clock, migrate=True))
    assert (await client.get("/healthz")).status == 200
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    database = data / "callcentre.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    for extra in (data / "callcentre.db-wal", data / "callcentre.db-shm"):
        if extra.exists():
            assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0


@pytest.fixture
async def from_elsewhere(aiohttp_client, database_url, tmp_path, clock):
    """The service behind a proxy on loopback: requests come from a client on another host."""
    client = await client_with(
        aiohttp_client,
        database_url,
        tmp_path,
        clock,
        trusted_proxies="127.0.0.1",
        metrics_token="scrape-me-0123456789",
    )
    client.session.headers["X-Forwarded-For"] = "203.0.113.50"
    return client


async def test_metrics_need_the_token_or_a_monitoring_user(from_elsewhere):
    client = from_elsewhere
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer guessed"})
    assert wrong.status == 401
    scraped = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"})
    assert scraped.status == 200 and "callcentre_http_requests_total" in await scraped.text()
    await add_user(client.app, "ann", "inbound_agent")
    await add_user(client.app, "lead", "team_lead")
    await api_login(client, "ann")
    assert (await client.get("/metrics")).status == 403
    client.session.cookie_jar.clear()
    await api_login(client, "lead")  # team leads hold pbx.monitor
    assert (await client.get("/metrics")).status == 200


async def test_readyz_tells_everybody_whether_but_only_insiders_why(from_elsewhere):
    client = from_elsewhere
    public = await client.get("/readyz")
    assert public.status == 200 and await public.json() == {"status": "ready"}
    inside = await client.get("/readyz", headers={"Authorization": "Bearer scrape-me-0123456789"})
    assert "database" in (await inside.json())["checks"]
    assert (await client.get("/healthz")).status == 200


async def test_a_client_on_this_machine_reads_metrics_without_a_token(client):
    assert (await client.get("/metrics")).status == 200
    assert "checks" in await (await client.get("/readyz")).json()
