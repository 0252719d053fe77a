"""Every call control works from every instance: an instance without the PBX link forwards the
agent's command over the bus to the one that drives it, and says plainly when none does."""

from __future__ import annotations

from tests.conftest import add_user, api_login, test_settings
from tests.support.waiting import until
from tests.web.telephony import ring
from web.app import create_app
from web.appkeys import pbx_key, simulator_key


async def queue_state(app, interface: str) -> tuple[bool, set[str]]:
    view = app[pbx_key].runtime.board.view(interface)
    if view is None or view.pbx is None:
        return False, set()
    return True, {q.paused_reason for q in view.pbx.queues if q.paused}


async def test_an_agent_on_the_instance_without_the_link_goes_ready_pauses_and_hangs_up(
    two_instances,
):
    driver, web_only = two_instances
    token = await api_login(web_only, "ann")
    headers = {"X-CSRF-Token": token}

    ready = await web_only.post("/api/v1/agent/state", headers=headers, json={"state": "ready"})
    assert ready.status == 200, await ready.text()
    await until(lambda: _eq(queue_state(driver.app, "PJSIP/1001"), (True, set())))
    paused = await web_only.post(
        "/api/v1/agent/state", headers=headers, json={"state": "paused", "reason": "lunch"}
    )
    assert paused.status == 200, await paused.text()
    await until(lambda: _eq(queue_state(driver.app, "PJSIP/1001"), (True, {"lunch"})))
    await web_only.post("/api/v1/agent/state", headers=headers, json={"state": "ready"})

    none = await web_only.post("/api/v1/calls/current/hangup", headers=headers)
    assert none.status == 409 and (await none.json())["error"] == "conflict"

    sim = driver.app[simulator_key].simulator
    hangups = []
    sim.add_listener(lambda e: hangups.append(e) if e.name == "Hangup" else None)
    ring(driver.app, "+15551234567")
    board = driver.app[pbx_key].runtime.board
    await until(lambda: _eq(_call_state(board, "PJSIP/1001"), "talking"), timeout=10)
    hung = await web_only.post("/api/v1/calls/current/hangup", headers=headers)
    assert hung.status == 200, await hung.text()
    await until(lambda: _eq(_call_state(board, "PJSIP/1001"), None))
    assert hangups


async def test_a_command_with_no_instance_driving_the_link_is_refused_clearly(
    aiohttp_client, database_url, tmp_path, clock, redis
):
    web_only = await aiohttp_client(
        create_app(
            test_settings(database_url, tmp_path, redis_url=redis.url, command_deadline=0.5),
            clock=clock,
        )
    )
    await add_user(web_only.app, "ann", "inbound_agent", extension="1001")
    token = await api_login(web_only, "ann")
    refused = await web_only.post(
        "/api/v1/agent/state", headers={"X-CSRF-Token": token}, json={"state": "ready"}
    )
    assert refused.status == 503
    body = await refused.json()
    assert body["error"] == "unavailable" and "driving the PBX link" in body["message"]


async def test_without_redis_and_without_a_pbx_a_command_says_no_pbx_is_connected(
    aiohttp_client, database_url, tmp_path, clock
):
    alone = await aiohttp_client(create_app(test_settings(database_url, tmp_path), clock=clock))
    await add_user(alone.app, "ann", "inbound_agent", extension="1001")
    token = await api_login(alone, "ann")
    refused = await alone.post("/api/v1/calls/current/hangup", headers={"X-CSRF-Token": token})
    assert refused.status == 503
    assert "no PBX" in (await refused.json())["message"]


async def _eq(value, expected) -> bool:
    return (await value) == expected


async def _call_state(board, interface: str) -> str | None:
    call = board.call_of(interface)
    return call.state if call else None
