"""Two service instances sharing the database and Redis: the AMI link is driven by one, the
agent's websocket is held by the other, and the pop still arrives while the phone rings."""

from __future__ import annotations

import asyncio

from tests.conftest import add_user, same_origin, test_settings, web_login
from tests.web.telephony import add_customer, agent_ready, ring
from tests.web.test_screen_pop import next_of
from web.app import create_app
from web.appkeys import pbx_key


async def test_the_pop_reaches_the_agent_on_the_instance_without_the_link(
        aiohttp_client, database_url, tmp_path, clock, redis):
    driver = await aiohttp_client(create_app(test_settings(
        database_url, tmp_path / "one", redis_url=redis.url, pbx="simulator",
        simulator_scenario=""), clock=clock))
    web_only = await aiohttp_client(create_app(test_settings(
        database_url, tmp_path / "two", redis_url=redis.url), clock=clock))
    await asyncio.wait_for(driver.app[pbx_key].runtime.link.wait_connected(), 10)
    await add_user(driver.app, "ann", "inbound_agent", extension="1001")
    await add_customer(driver.app, "Acme Ltd", "+1 555 123 4567")

    await web_login(web_only, "ann")
    tab = await web_only.ws_connect("/ws", headers=same_origin(web_only))
    assert (await tab.receive_json(timeout=5))["type"] == "hello"
    await agent_ready(driver.app, "1001")
    answers = ring(driver.app, "+15551234567")
    pop = await next_of(tab, "call.offered")
    assert answers == []
    assert pop["lookup"]["cards"][0]["name"] == "Acme Ltd"

    again = await web_only.ws_connect("/ws", headers=same_origin(web_only))
    assert await next_of(again, "call.offered", timeout=3) == pop  # re-sent across instances
