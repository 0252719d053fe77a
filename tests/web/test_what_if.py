"""A team lead asks what a campaign's settings would give, on its own history, through the
API; the simulation runs in a worker process."""

from __future__ import annotations

from datetime import timedelta

from crm_core.models import CallRecord, DialAttempt
from tests.conftest import add_user, api_login
from tests.web.campaigns import START, make_campaign
from web.appkeys import db_key


async def lead(client) -> dict[str, str]:
    await add_user(client.app, "lena", "team_lead")
    return {"X-CSRF-Token": await api_login(client, "lena")}


async def test_a_new_campaign_is_simulated_on_assumed_figures(client):
    headers = await lead(client)
    campaign_id = await make_campaign(client.app, [])
    response = await client.post(
        f"/api/v1/campaigns/{campaign_id}/what-if",
        json={"agents": 10, "minutes": 10},
        headers=headers,
    )
    assert response.status == 200, await response.text()
    result = await response.json()
    assert result["history"]["own"] is False and result["agents"] == 10
    assert result["settings"]["abandon_max"] <= 0.03
    assert set(result["progressive"]) >= {"talk_minutes_per_agent_hour", "abandon_rate"}


async def test_the_campaign_history_sets_the_answer_rate(client):
    headers = await lead(client)
    campaign_id = await make_campaign(client.app, [])
    async with client.app[db_key]() as db:
        for i in range(80):
            answered = i % 4 == 0  # a quarter reach a person
            call_id = f"c{i}"
            db.add(
                DialAttempt(
                    campaign_id=campaign_id,
                    number_e164="+12127361000",
                    call_id=call_id,
                    dialled_at=START,
                    outcome="answered" if answered else "no_answer",
                    live_answer=answered,
                    ended_at=START + timedelta(minutes=2),
                )
            )
            if answered:
                db.add(
                    CallRecord(
                        linked_id=call_id,
                        direction="outbound",
                        outcome="answered",
                        answered_at=START + timedelta(seconds=7),
                        ended_at=START + timedelta(minutes=2),
                        talk_seconds=90.0,
                        recorded_at=START,
                    )
                )
        await db.commit()
    response = await client.post(
        f"/api/v1/campaigns/{campaign_id}/what-if",
        json={"agents": 5, "minutes": 10, "changes": {"mode": "progressive"}},
        headers=headers,
    )
    assert response.status == 200, await response.text()
    history = (await response.json())["history"]
    assert history["own"] is True and history["live"] == 0.25 and history["ring_median"] == 7.0


async def test_a_cap_beyond_the_law_is_refused_as_an_edit_would_be(client):
    headers = await lead(client)
    campaign_id = await make_campaign(client.app, [])
    response = await client.post(
        f"/api/v1/campaigns/{campaign_id}/what-if",
        json={"agents": 5, "changes": {"abandon_cap": "100"}},
        headers=headers,
    )
    assert response.status == 422
    assert "abandon_cap" in (await response.json())["fields"]


async def test_an_agent_cannot_ask(client):
    await add_user(client.app, "ann", "outbound_agent")
    headers = {"X-CSRF-Token": await api_login(client, "ann")}
    campaign_id = await make_campaign(client.app, [])
    response = await client.post(
        f"/api/v1/campaigns/{campaign_id}/what-if", json={"agents": 5}, headers=headers
    )
    assert response.status == 403
