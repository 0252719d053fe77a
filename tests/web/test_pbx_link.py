"""The service's AMI link, seen from outside: /readyz and /metrics tell its state."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.conftest import test_settings
from tests.cti.scripted_pbx import ScriptedPbx
from web.app import create_app
from web.appkeys import pbx_key


@pytest.fixture
async def pbx():
    server = ScriptedPbx(username="callcentre", secret="s3cret")
    server.port = await server.start()
    yield server
    await server.close()


@pytest.fixture
async def client(aiohttp_client, database_url, tmp_path, clock, pbx):
    settings = test_settings(
        database_url,
        tmp_path,
        pbx="asterisk",
        ami_port=pbx.port,
        ami_secret="s3cret",
        ami_ping_interval=0.2,
        ami_ping_timeout=0.3,
    )
    app = create_app(settings, clock=clock)
    client = await aiohttp_client(app)
    await asyncio.wait_for(app[pbx_key].runtime.link.wait_connected(), 5)
    return client


async def test_readyz_shows_the_ami_link(client, pbx):
    body = await (await client.get("/readyz")).json()
    link = body["checks"]["pbx"]
    assert link["ok"] is True and link["kind"] == "asterisk"
    assert link["reconnects"] == 0 and link["last_error"] is None
    login = next(f for f in pbx.received if f.name == "Login")
    assert login.get("Events") == "call,agent,system,user"


async def test_a_dropped_link_shows_in_readyz_and_metrics_until_it_heals(client, pbx):
    pbx.silent = True
    for _ in range(100):
        body = await (await client.get("/readyz")).json()
        if not body["checks"]["pbx"]["ok"]:
            break
        await asyncio.sleep(0.05)
    assert "no answer to Ping" in body["checks"]["pbx"]["last_error"]
    assert body["status"] == "ready"  # the web side still serves; the link heals itself
    metrics = await (await client.get("/metrics")).text()
    assert "callcentre_ami_connected 0.0" in metrics
    pbx.silent = False
    await asyncio.wait_for(client.app[pbx_key].runtime.link.wait_connected(), 5)
    metrics = await (await client.get("/metrics")).text()
    assert "callcentre_ami_connected 1.0" in metrics
    reconnects = re.search(r"^callcentre_ami_reconnects_total (\S+)$", metrics, re.M)
    assert reconnects and float(reconnects.group(1)) >= 1
