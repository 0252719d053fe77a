"""Two service instances sharing PostgreSQL/SQLite and Redis: a login on one signs the user
out of the browser whose websocket is held by the other."""

from __future__ import annotations

from tests.conftest import add_user, same_origin, test_settings, web_login
from web.app import create_app


async def test_a_login_on_one_instance_signs_out_the_browser_on_the_other(
    aiohttp_client, database_url, tmp_path, clock, redis
):
    settings = test_settings(database_url, tmp_path, redis_url=redis.url)
    one = await aiohttp_client(create_app(settings, clock=clock))
    two = await aiohttp_client(create_app(settings, clock=clock))
    await add_user(one.app, "ann", "inbound_agent")

    await web_login(two, "ann")
    ws = await two.ws_connect("/ws", headers=same_origin(two))
    assert (await ws.receive_json(timeout=5))["type"] == "hello"

    await web_login(one, "ann")
    assert await ws.receive_json(timeout=5) == {"type": "session.ended", "reason": "replaced"}
    ready = await (await one.get("/readyz")).json()
    assert ready["checks"]["bus"] == {"ok": True, "kind": "redis"}
