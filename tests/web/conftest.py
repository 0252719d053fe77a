"""Fixtures of the web tests: the service with its built-in PBX simulator, alone or beside a
second instance without a PBX (both on one database and one Redis)."""

from __future__ import annotations

import asyncio

import pytest

from pbxsim import AgentProfile
from pbxsim.behaviour import RandomCustomers
from tests.conftest import test_settings
from tests.web.campaigns import START, RunningClock
from web.app import create_app
from web.appkeys import pbx_key, simulator_key


@pytest.fixture
async def service(aiohttp_client, database_url, tmp_path, clock):
    settings = test_settings(database_url, tmp_path, pbx="simulator", simulator_scenario="")
    app = create_app(settings, clock=clock)
    client = await aiohttp_client(app)
    await asyncio.wait_for(app[pbx_key].runtime.link.wait_connected(), 10)
    return client


@pytest.fixture
async def dialling(aiohttp_client, database_url, tmp_path):
    """The service with its simulator, on a clock running from START (10:00 in New York):
    dialled numbers answer (60 %), are busy (20 %) or machines (20 %); agents 1001 and 1002
    answer at once and end each call after a second; no wrap-up pause."""
    settings = test_settings(
        database_url, tmp_path, pbx="simulator", simulator_scenario="", wrapup_seconds=0
    )
    app = create_app(settings, clock=RunningClock(START))
    client = await aiohttp_client(app)
    await asyncio.wait_for(app[pbx_key].runtime.link.wait_connected(), 10)
    sim = app[simulator_key].simulator
    sim.behaviour.customers = RandomCustomers(
        answer=0.6,
        busy=0.2,
        no_answer=0.0,
        machine=0.2,
        ring=(0.5, 1.5),
        talk=(30.0, 40.0),  # the customer stays: the agent ends the call
        greeting=(3.0, 4.0),  # longer than AMD listens (2.5 s)
    )
    for extension in ("1001", "1002"):
        sim.behaviour.agents[extension] = AgentProfile(ring_delay=0.3, talk_time=1.0)
    return client


@pytest.fixture
async def two_instances(aiohttp_client, database_url, tmp_path, clock, redis):
    """(driver, web_only): the first drives the simulator's link, the second has no PBX; the
    user ann (extension 1001) and the customer Acme Ltd (+1 555 123 4567) exist."""
    from tests.conftest import add_user
    from tests.web.telephony import add_customer

    driver = await aiohttp_client(
        create_app(
            test_settings(
                database_url,
                tmp_path / "one",
                redis_url=redis.url,
                pbx="simulator",
                simulator_scenario="",
            ),
            clock=clock,
        )
    )
    web_only = await aiohttp_client(
        create_app(test_settings(database_url, tmp_path / "two", redis_url=redis.url), clock=clock)
    )
    await asyncio.wait_for(driver.app[pbx_key].runtime.link.wait_connected(), 10)
    await add_user(driver.app, "ann", "inbound_agent", extension="1001")
    await add_customer(driver.app, "Acme Ltd", "+1 555 123 4567")
    return driver, web_only
