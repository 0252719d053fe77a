"""Bad input in the login form, the user and dictionary forms and their API twins: a clear 4xx
naming the field, nothing changed, and whatever is shown back is escaped."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from crm_core.models import AuditEntry, DictionaryEntry, LoginAttempt, User
from tests.conftest import add_user, api_login, csrf_from, page_csrf, web_login
from web.appkeys import db_key

HOSTILE = "<script>alert('x')</script>'; DROP TABLE users; --"
MEGABYTE = "x" * 1_000_000


async def snapshot(app) -> tuple[int, ...]:
    """Row counts of everything a refused request must leave alone."""
    async with app[db_key]() as db:
        return tuple(
            [
                await db.scalar(select(func.count()).select_from(model))
                for model in (User, AuditEntry, DictionaryEntry, LoginAttempt)
            ]
        )


def form_body(fields: dict[str, str | bytes]) -> bytes:
    parts = []
    for key, value in fields.items():
        raw = value if isinstance(value, bytes) else value.encode()
        parts.append(f"{key}=".encode() + quote(raw, safe="").encode())
    return b"&".join(parts)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("", "secret", "username"),
        ("ann", "", "password"),
        (MEGABYTE, "secret", "username"),
        ("ann", MEGABYTE, "password"),
        (b"\xff\xfeann", "secret", "username"),
        ("ann", b"\xc3\x28", "password"),
        (HOSTILE, "secret", "username"),
    ],
)
async def test_the_login_form_names_the_bad_field_and_changes_nothing(
    client, username, password, field
):
    await add_user(client.app, "ann", "inbound_agent")
    page = await client.get("/login")
    token = csrf_from(await page.text())
    before = await snapshot(client.app)
    response = await client.post(
        "/login",
        data=form_body({"csrf_token": token, "username": username, "password": password}),
        headers=FORM,
    )
    text = await response.text()
    assert 400 <= response.status < 500
    assert f'data-field="{field}"' in text or f"{field}:" in text
    assert "<script>alert" not in text
    assert await snapshot(client.app) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "", "password": "x"}, "username"),
        ({"username": "x" * 1_000_000, "password": "x"}, "username"),
        ({"username": "ann", "password": "x" * 1_000_000}, "password"),
        ({"username": HOSTILE, "password": "x"}, "username"),
        ({"username": "ann\ud800", "password": "x"}, "username"),
        ({"username": "ann", "password": "x", "role": "admin"}, "role"),
    ],
)
async def test_the_login_api_names_the_bad_field_and_changes_nothing(client, body, field):
    before = await snapshot(client.app)
    response = await client.post("/api/v1/auth/login", json=body)
    assert response.status == 422
    assert field in (await response.json())["fields"]
    assert await snapshot(client.app) == before


async def test_a_body_that_is_not_utf8_is_refused_clearly(client):
    response = await client.post(
        "/api/v1/auth/login",
        data=b'{"username": "\xff"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 400
    assert "UTF-8" in (await response.json())["message"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": "", "display_name": "Empty"}, "username"),
        ({"username": HOSTILE, "display_name": "Hostile"}, "username"),
        ({"username": "bigname", "display_name": MEGABYTE}, "display_name"),
        ({"username": "badbytes", "display_name": b"Ren\xe9"}, "display_name"),
        ({"username": "ctrl", "display_name": "bell\x07"}, "display_name"),
        ({"username": "ext", "display_name": "Ext", "extension": "12; DROP"}, "extension"),
    ],
)
async def test_the_user_form_names_the_bad_field_and_changes_nothing(client, fields, field):
    await add_user(client.app, "boss", "admin")
    await web_login(client, "boss")
    token = await page_csrf(client, "/admin/users/new")
    before = await snapshot(client.app)
    body = {"csrf_token": token, "password": "a long password", "roles": "inbound_agent", **fields}
    response = await client.post("/admin/users/new", data=form_body(body), headers=FORM)
    text = await response.text()
    assert response.status in (400, 422)
    assert f'data-field="{field}"' in text
    assert "<script>alert" not in text
    assert await snapshot(client.app) == before


async def test_the_user_api_names_the_bad_field_and_changes_nothing(client):
    await add_user(client.app, "boss", "admin")
    token = await api_login(client, "boss")
    before = await snapshot(client.app)
    for body, field in (
        ({"username": HOSTILE}, "username"),
        ({"username": "ok", "display_name": ""}, "display_name"),
        ({"username": "ok", "display_name": MEGABYTE}, "display_name"),
        ({"username": "ok", "display_name": "nul\x00"}, "display_name"),
        ({"username": "ok", "password": "short"}, "password"),
        ({"username": "ok", "email": "not-an-address"}, "email"),
        ({"username": "ok", "roles": "admin"}, "roles"),
    ):
        full = {"display_name": "Fine", "password": "a long password", "roles": [], **body}
        response = await client.post("/api/v1/users", json=full, headers={"X-CSRF-Token": token})
        assert response.status == 422, body
        assert field in (await response.json())["fields"], body
    assert await snapshot(client.app) == before


async def test_hostile_but_valid_names_are_stored_as_typed_and_shown_escaped(client):
    await add_user(client.app, "boss", "admin")
    await web_login(client, "boss")
    token = await page_csrf(client, "/admin/users/new")
    response = await client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "username": "mallory",
            "display_name": HOSTILE,
            "password": "a long password",
            "roles": "inbound_agent",
        },
        allow_redirects=False,
    )
    assert response.status == 303
    listing = await (await client.get("/admin/users")).text()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#39;; DROP TABLE users; --" in listing
    assert "<script>alert" not in listing
    async with client.app[db_key]() as db:
        assert (
            await db.scalar(select(User.display_name).where(User.username == "mallory")) == HOSTILE
        )


async def test_the_dictionary_form_and_api_name_the_bad_field(client):
    await add_user(client.app, "boss", "admin")
    await web_login(client, "boss")
    token = await page_csrf(client, "/admin/dictionary/region")
    before = await snapshot(client.app)
    for fields, field in (
        ({"code": "", "label": "Empty"}, "code"),
        ({"code": "<b>x</b>", "label": "Tag"}, "code"),
        ({"code": "big", "label": MEGABYTE}, "label"),
        ({"code": "bytes", "label": b"\xff"}, "label"),
        ({"code": "order", "label": "Order", "sort_order": "-1"}, "sort_order"),
    ):
        response = await client.post(
            "/admin/dictionary/region",
            headers=FORM,
            data=form_body({"csrf_token": token, **fields}),
        )
        text = await response.text()
        assert response.status in (400, 422), fields
        assert f'data-field="{field}"' in text, fields
        assert "<b>x</b>" not in text
    api_token = (await (await client.get("/api/v1/me")).json())["csrf_token"]
    response = await client.post(
        "/api/v1/dictionary/region",
        headers={"X-CSRF-Token": api_token},
        json={"code": "ok", "label": HOSTILE * 10},
    )
    assert response.status == 422 and "label" in (await response.json())["fields"]
    assert await snapshot(client.app) == before


async def test_a_body_over_the_limit_is_refused_before_it_is_read(client):
    response = await client.post(
        "/api/v1/auth/login",
        data=b"x" * (3 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 413
