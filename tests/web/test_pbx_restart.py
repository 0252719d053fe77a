"""An Asterisk restart while the service runs: the PBX forgets its dynamic queue members; the
service puts every agent back as they were (ready, or paused with their reason) and tells
them on their desk. The PBX is the simulator as a separate server, restarted on its port."""

from __future__ import annotations

import asyncio
import time

import pytest

from crm_core.models import CallRecord
from pbxsim import AmiUser, CallerId, serve
from pbxsim.scenarios import did_for
from tests.conftest import add_user, api_login, test_settings
from tests.cti.tcp_proxy import TcpProxy
from tests.support.waiting import until
from tests.web.test_screen_pop import agent_tab, next_of
from web.app import create_app
from web.appkeys import db_key, pbx_key
from web.simulated_pbx import AMI_CLASSES

SECRET = "restart-secret"


async def _pbx(port: int = 0):
    user = AmiUser.create("callcentre", SECRET, read=AMI_CLASSES, write=AMI_CLASSES)
    return await serve("127.0.0.1", port, users=[user], mode="pjsip")


def _membership(app, interface: str) -> dict[str, tuple[bool, str]]:
    snapshot = app[pbx_key].runtime.telephony.agents.agent(interface)
    return {q.queue: (q.paused, q.paused_reason) for q in snapshot.queues} if snapshot else {}


async def test_after_a_pbx_restart_agents_are_back_in_their_queues_as_they_were(
    aiohttp_client, database_url, tmp_path, clock
):
    pbx = await _pbx()
    port = pbx.port
    settings = test_settings(
        database_url,
        tmp_path,
        pbx="asterisk",
        ami_port=port,
        ami_secret=SECRET,
        agent_default_queues=["sales", "support"],
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    app = client.app
    try:
        await asyncio.wait_for(app[pbx_key].runtime.link.wait_connected(), 10)
        await add_user(app, "ann", "inbound_agent", extension="1001")
        await add_user(app, "bob", "inbound_agent", extension="1002")
        ann = await api_login(client, "ann")
        ready = await client.post(
            "/api/v1/agent/state", headers={"X-CSRF-Token": ann}, json={"state": "ready"}
        )
        assert ready.status == 200, await ready.text()
        bob_client = await aiohttp_client(client.server)
        bob = await api_login(bob_client, "bob")
        paused = await bob_client.post(
            "/api/v1/agent/state",
            headers={"X-CSRF-Token": bob},
            json={"state": "paused", "reason": "lunch"},
        )
        assert paused.status == 200, await paused.text()
        tab = await agent_tab(client, "ann")
        want_ann = {"sales": (False, ""), "support": (False, "")}
        want_bob = {"sales": (True, "lunch"), "support": (True, "lunch")}
        await until(lambda: _membership(app, "PJSIP/1002") == want_bob)

        await pbx.close()  # Asterisk restarts: it comes back with no members
        await asyncio.sleep(1.1)  # its start time, to the second, must differ
        pbx = await _pbx(port)

        restored = await next_of(tab, "agent.queues_restored", timeout=15)
        assert sorted(restored["queues"]) == ["sales", "support"]
        await until(lambda: _membership(app, "PJSIP/1001") == want_ann, timeout=10)
        await until(lambda: _membership(app, "PJSIP/1002") == want_bob, timeout=10)
        members = {m.interface for q in pbx.queues.queues.values() for m in q.members.values()}
        assert members == {"PJSIP/1001", "PJSIP/1002"}
    finally:
        await pbx.close()


async def test_a_dropped_link_is_no_restart_and_restores_nobody(
    aiohttp_client, database_url, tmp_path, clock
):
    """An agent taken out of the queue while the link was down (at the PBX itself) stays out:
    the PBX did not restart, so nothing it has is second-guessed."""
    pbx = await _pbx()
    proxy = TcpProxy("127.0.0.1", pbx.port)
    settings = test_settings(
        database_url, tmp_path, pbx="asterisk", ami_port=await proxy.start(), ami_secret=SECRET
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    app = client.app
    try:
        link = app[pbx_key].runtime.link
        await asyncio.wait_for(link.wait_connected(), 10)
        await add_user(app, "ann", "inbound_agent", extension="1001")
        ann = await api_login(client, "ann")
        await client.post(
            "/api/v1/agent/state", headers={"X-CSRF-Token": ann}, json={"state": "ready"}
        )
        await until(lambda: bool(_membership(app, "PJSIP/1001")))
        tab = await agent_tab(client, "ann")
        resynced = app[pbx_key].runtime.telephony.resynced
        resynced.clear()
        proxy.kill()
        pbx.queues.remove_member("sales", "PJSIP/1001")  # unseen: the link is down
        await asyncio.wait_for(resynced.wait(), 10)
        await until(lambda: not _membership(app, "PJSIP/1001"))
        await asyncio.sleep(0.5)
        assert not _membership(app, "PJSIP/1001")
        with pytest.raises(asyncio.TimeoutError):
            await next_of(tab, "agent.queues_restored", timeout=0.3)
    finally:
        await proxy.close()
        await pbx.close()


async def test_a_call_cut_by_a_pbx_crash_keeps_its_real_talk_time_not_the_outage(
    aiohttp_client, database_url, tmp_path, clock
):
    pbx = await _pbx()
    port = pbx.port
    settings = test_settings(
        database_url, tmp_path, pbx="asterisk", ami_port=port, ami_secret=SECRET
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    app = client.app
    try:
        await asyncio.wait_for(app[pbx_key].runtime.link.wait_connected(), 10)
        await add_user(app, "ann", "inbound_agent", extension="1001")
        ann = await api_login(client, "ann")
        await client.post(
            "/api/v1/agent/state", headers={"X-CSRF-Token": ann}, json={"state": "ready"}
        )
        await until(lambda: bool(_membership(app, "PJSIP/1001")))
        tab = await agent_tab(client, "ann")
        pbx.inbound_call(
            did_for(pbx, "sales"), CallerId("+15551234567", "Caller"), patience=60, queue="sales"
        )
        answered = await next_of(tab, "call.answered", timeout=10)
        await asyncio.sleep(0.5)
        await pbx.close()  # kill -9: no hang-up is ever reported
        crashed = time.time()
        await asyncio.sleep(3.0)  # the outage
        pbx = await _pbx(port)

        async def recorded() -> bool:
            async with app[db_key]() as db:
                return await db.get(CallRecord, answered["call_id"]) is not None

        await until(recorded, timeout=15)
        async with app[db_key]() as db:
            record = await db.get(CallRecord, answered["call_id"])
        assert record.estimated
        # Until the crash (give or take the moment the PBX was last heard), not the outage too.
        assert record.talk_seconds <= crashed - answered["at"] + 0.05
        assert record.talk_seconds >= 0.4
    finally:
        await pbx.close()
