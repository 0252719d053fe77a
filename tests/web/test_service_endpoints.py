"""/healthz, /readyz, /metrics, the OpenAPI document and its page, and the request log line."""

from __future__ import annotations

import logging

import structlog
from sqlalchemy import text

from crm_core.db import create_engine
from crm_core.migrate import head_revision
from tests.conftest import add_user, api_login, test_settings
from web.app import create_app
from web.appkeys import api_key


async def test_healthz_says_alive(client):
    response = await client.get("/healthz")
    assert response.status == 200 and (await response.json())["status"] == "alive"


async def test_readyz_checks_the_database_migrations_and_bus(client, backend):
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
    assert body["checks"]["database"] == {"ok": True, "dialect": backend}
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]
    assert body["checks"]["bus"] == {"ok": True, "kind": "in-process"}


async def test_readyz_is_not_ready_when_migrations_are_behind(client, settings):
    engine = create_engine(settings.effective_database_url)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    await engine.dispose()
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503
    assert body["checks"]["migrations"] == {"ok": False, "current": "0001", "head": head_revision()}


async def test_readyz_is_not_ready_without_a_database(aiohttp_client, tmp_path, clock):
    missing = f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db"
    app = create_app(test_settings(missing, tmp_path), clock=clock)
    client = await aiohttp_client(app)
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["checks"]["database"]["ok"] is False


async def test_metrics_count_requests_and_logins(client):
    await add_user(client.app, "ann", "inbound_agent")
    await client.post("/api/v1/auth/login", json={"username": "ann", "password": "wrong"})
    await api_login(client, "ann")
    metrics = await (await client.get("/metrics")).text()
    assert 'callcentre_logins_total{result="ok"} 1.0' in metrics
    assert 'callcentre_logins_total{result="bad_credentials"} 1.0' in metrics
    assert (
        'callcentre_http_requests_total{method="POST",route="/api/v1/auth/login",status="200"}'
        in metrics
    )


async def test_the_openapi_document_describes_every_api_route(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    registered = {
        (r.method.lower(), r.resource.canonical)
        for r in client.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/v1/")
    }
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert registered == documented
    create = doc["paths"]["/api/v1/users"]["post"]
    assert (
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        == "#/components/schemas/UserCreate"
    )
    assert "username" in doc["components"]["schemas"]["UserCreate"]["properties"]
    assert len(client.app[api_key].operations) == len(documented)


async def test_the_api_page_renders_the_document(client):
    page = await (await client.get("/api/docs")).text()
    assert "/api/v1/users" in page and "UserCreate" in page


async def test_every_request_logs_one_line_with_request_id_user_and_route(client):
    await add_user(client.app, "ann", "inbound_agent")
    await api_login(client, "ann")
    quiet = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        with structlog.testing.capture_logs(
            processors=[structlog.contextvars.merge_contextvars]
        ) as logs:
            response = await client.get("/api/v1/me", headers={"X-Request-ID": "req-42"})
    finally:
        structlog.configure(wrapper_class=quiet)
    assert response.headers["X-Request-ID"] == "req-42"
    lines = [e for e in logs if e["event"] == "http.request"]
    assert len(lines) == 1
    assert lines[0]["request_id"] == "req-42"
    assert lines[0]["user"] == "ann"
    assert lines[0]["route"] == "/api/v1/me"
    assert lines[0]["status"] == 200
