"""The supervisor sees every agent's live state over the websocket; an agent sees only their
own (as the PBX reports it)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import OperationalError

from tests.conftest import add_user, same_origin, web_login
from tests.support.waiting import until
from tests.web.telephony import agent_ready, ring
from tests.web.test_screen_pop import next_of
from web.appkeys import pbx_key


async def test_the_team_lead_sees_an_agent_go_ready_and_ring(aiohttp_client, service):
    app = service.app
    await add_user(app, "lead", "team_lead")
    await add_user(app, "ann", "inbound_agent", extension="1001")
    await add_user(app, "bob", "inbound_agent", extension="1002")
    await web_login(service, "lead")
    board = await service.ws_connect("/ws", headers=same_origin(service))
    agent_browser = await aiohttp_client(service.server)
    await web_login(agent_browser, "ann")
    agent_tab = await agent_browser.ws_connect("/ws", headers=same_origin(agent_browser))
    await agent_ready(app, "1001")
    row = (await next_of(board, "agent.state"))["agent"]
    assert row["interface"] == "PJSIP/1001" and row["queues"][0]["queue"] == "sales"
    ring(app, "+15551234567")
    while row["activity"] != "ringing":
        row = (await next_of(board, "agent.state"))["agent"]
    assert row["linked_id"]
    await agent_ready(app, "1002")
    seen_by_ann = []
    with pytest.raises(asyncio.TimeoutError):
        while True:
            seen_by_ann.append((await next_of(agent_tab, "agent.state", timeout=0.5))["agent"])
    assert seen_by_ann and {r["interface"] for r in seen_by_ann} == {"PJSIP/1001"}
    assert seen_by_ann[-1]["activity"] == "ringing"

    late = await service.ws_connect("/ws", headers=same_origin(service))
    assert (await next_of(late, "agent.state", timeout=3))["agent"]["interface"] == "PJSIP/1001"


async def test_the_board_goes_on_after_a_database_error_in_the_feed(aiohttp_client, service):
    """A database error while the feed resolves an agent's phone costs that one update: the
    next change still reaches the team lead (the feed is a supervised worker)."""
    app = service.app
    await add_user(app, "lead", "team_lead")
    await web_login(service, "lead")
    board = await service.ws_connect("/ws", headers=same_origin(service))
    directory = app[pbx_key].runtime.directory
    real_db, failures = directory.db, []

    def failing_once():  # the database is away for one query
        if not failures:
            failures.append(1)
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return real_db()

    directory.db = failing_once
    await agent_ready(app, "1009")  # a phone with no user: the feed asks the database
    await until(lambda: failures)
    await add_user(app, "ann", "inbound_agent", extension="1001")
    await agent_ready(app, "1001")
    row = (await next_of(board, "agent.state", timeout=5))["agent"]
    while row["interface"] != "PJSIP/1001":
        row = (await next_of(board, "agent.state", timeout=5))["agent"]
    workers = (await (await service.get("/readyz")).json())["checks"]["pbx"]["workers"]
    assert workers["supervision"]["state"] == "running"
    assert workers["supervision"]["failures"] >= 1
