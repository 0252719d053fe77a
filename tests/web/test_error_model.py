"""One error model: whatever refuses a request (a service's domain error, a view, aiohttp's
router), the API answers one JSON shape whose `error` code follows from the one table."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from crm_core.errors import Conflict, DomainError, Unavailable, UpstreamFailed
from tests.conftest import add_user, api_login
from web import app as _every_module  # noqa: F401 (imports each module defining an error)
from web.access import public
from web.errors import STATUS

KEYS = {"error", "message"}
OPTIONAL_KEYS = {"fields", "retry_after", "scope"}  # retry_after and scope: throttled only


async def refusal(response: Any, status: int, code: str) -> dict[str, Any]:
    """The body of a refused API request, checked against the one shape."""
    body = await response.json()
    assert response.status == status, body
    assert response.content_type == "application/json"
    assert KEYS <= body.keys() <= KEYS | OPTIONAL_KEYS, body
    assert body["error"] == code and STATUS[code] == status
    assert isinstance(body["message"], str) and body["message"]
    if "fields" in body:
        assert body["fields"] and all(isinstance(v, str) for v in body["fields"].values())
    if body.keys() & {"retry_after", "scope"}:
        assert code == "throttled"
    return body


async def test_a_409_reads_conflict_whether_a_service_or_a_view_raised_it(aiohttp_client, client):
    await add_user(client.app, "boss", "admin")
    await add_user(client.app, "ann", "inbound_agent")  # no phone extension
    token = await api_login(client, "boss")
    duplicate = await client.post(
        "/api/v1/users",
        headers={"X-CSRF-Token": token},
        json={
            "username": "ann",
            "display_name": "Ann again",
            "password": "a long password",
            "roles": [],
        },
    )
    from_service = await refusal(duplicate, 409, "conflict")
    assert from_service["fields"] == {"username": "user name 'ann' is taken"}

    agent = await aiohttp_client(client.server)
    token = await api_login(agent, "ann")
    # Another source: click-to-call refuses an agent without a phone (a different layer).
    dial = await agent.post(
        "/api/v1/calls/dial", headers={"X-CSRF-Token": token}, json={"number": "+15551234567"}
    )
    from_view = await refusal(dial, 409, "conflict")
    assert from_service["error"] == from_view["error"]


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (web.HTTPConflict(reason="your call is not set up yet"), 409, "conflict"),
        (Conflict("you are on a call already"), 409, "conflict"),
        (web.HTTPBadGateway(reason="the PBX refused: no such channel"), 502, "upstream_failed"),
        (UpstreamFailed("the PBX refused: no such channel"), 502, "upstream_failed"),
        (web.HTTPServiceUnavailable(reason="the PBX link is down"), 503, "unavailable"),
        (Unavailable("the PBX link is down"), 503, "unavailable"),
    ],
)
async def test_aiohttp_errors_and_domain_errors_share_the_table(
    aiohttp_client, app, raised, status, code
):
    @public
    async def refuse(request: web.Request) -> web.Response:
        raise raised

    app.router.add_post("/api/v1/test/refuse", refuse)
    client = await aiohttp_client(app)
    body = await refusal(await client.post("/api/v1/test/refuse"), status, code)
    assert body["message"] == (
        raised.reason if isinstance(raised, web.HTTPException) else raised.message
    )


async def test_every_refusal_of_the_api_has_the_one_shape(aiohttp_client, client):
    # Before logging in: the router, the body readers, validation, credentials.
    await refusal(await client.get("/api/v1/me"), 401, "unauthorized")
    await refusal(await client.get("/api/v1/no/such/route"), 404, "not_found")
    not_allowed = await client.delete("/api/v1/openapi.json")
    await refusal(not_allowed, 405, "method_not_allowed")
    assert "GET" in not_allowed.headers["Allow"]
    login = "/api/v1/auth/login"
    await refusal(
        await client.post(
            login, data=b"user=ann", headers={"Content-Type": "application/x-www-form-urlencoded"}
        ),
        415,
        "unsupported_media_type",
    )
    await refusal(
        await client.post(login, data=b"{not json", headers={"Content-Type": "application/json"}),
        400,
        "bad_request",
    )
    await refusal(
        await client.post(
            login, data=b"x" * (3 * 1024 * 1024), headers={"Content-Type": "application/json"}
        ),
        413,
        "too_large",
    )
    invalid = await refusal(await client.post(login, json={"username": ""}), 422, "invalid_input")
    assert "username" in invalid["fields"]
    await add_user(client.app, "boss", "admin")
    await add_user(client.app, "ann", "inbound_agent")
    for _ in range(5):
        await refusal(
            await client.post(login, json={"username": "ghost", "password": "nope"}),
            401,
            "bad_credentials",
        )
    throttled = await client.post(login, json={"username": "ghost", "password": "nope"})
    body = await refusal(throttled, 429, "throttled")
    assert body["scope"] == "account"
    assert body["retry_after"] == int(throttled.headers["Retry-After"]) > 0

    # Logged in: CSRF, permissions, missing rows, conflicts, rules.
    token = await api_login(client, "boss")
    headers = {"X-CSRF-Token": token}
    await refusal(await client.post("/api/v1/users", json={}), 403, "forbidden")
    await refusal(await client.get("/api/v1/users/abc"), 404, "not_found")
    await refusal(await client.get("/api/v1/users/987654"), 404, "not_found")
    await refusal(await client.get("/api/v1/customers/x1"), 404, "not_found")
    await refusal(
        await client.post(
            "/api/v1/dictionary/region", headers=headers, json={"code": "north", "label": "North"}
        ),
        409,
        "conflict",
    )
    await refusal(
        await client.put(
            "/api/v1/roles/admin/permissions",
            headers=headers,
            json={"permissions": ["customers.read"]},
        ),
        409,
        "refused",
    )
    agent = await aiohttp_client(client.server)
    await api_login(agent, "ann")
    await refusal(await agent.get("/api/v1/users"), 403, "forbidden")


async def test_pages_show_the_error_page_with_the_status_of_the_table(client):
    await add_user(client.app, "boss", "admin")
    await api_login(client, "boss")
    for path in ("/admin/users/abc", "/customers/987654", "/no/such/page"):
        response = await client.get(path)
        assert response.status == 404, path
        assert "Not found" in await response.text()


def test_every_domain_error_has_a_status_in_the_table():
    def every(cls: type[DomainError]) -> list[type[DomainError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in every(sub))]

    missing = {cls.__qualname__: cls.code for cls in every(DomainError) if cls.code not in STATUS}
    assert not missing
