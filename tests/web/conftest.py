"""Fixtures of the web tests: the service with its built-in PBX simulator."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import test_settings
from web.app import create_app
from web.appkeys import pbx_key


@pytest.fixture
async def service(aiohttp_client, database_url, tmp_path, clock):
    settings = test_settings(database_url, tmp_path, pbx="simulator", simulator_scenario="")
    app = create_app(settings, clock=clock)
    client = await aiohttp_client(app)
    await asyncio.wait_for(app[pbx_key].runtime.link.wait_connected(), 10)
    return client
