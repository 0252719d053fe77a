"""Two service instances sharing the database and Redis: the AMI link is driven by one, the
agent's websocket is held by the other, and the pop still arrives while the phone rings."""

from __future__ import annotations

from tests.conftest import same_origin, web_login
from tests.web.telephony import agent_ready, ring
from tests.web.test_screen_pop import next_of


async def test_the_pop_reaches_the_agent_on_the_instance_without_the_link(two_instances):
    driver, web_only = two_instances

    await web_login(web_only, "ann")
    tab = await web_only.ws_connect("/ws", headers=same_origin(web_only))
    assert (await tab.receive_json(timeout=5))["type"] == "hello"
    await agent_ready(driver.app, "1001")
    answers = ring(driver.app, "+15551234567")
    pop = await next_of(tab, "call.offered")
    assert answers == []
    assert pop["lookup"]["cards"][0]["name"] == "Acme Ltd"

    again = await web_only.ws_connect("/ws", headers=same_origin(web_only))
    repeat = await next_of(again, "call.offered", timeout=3)  # re-sent across instances
    assert repeat == {**pop, "again": True}
