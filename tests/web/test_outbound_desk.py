"""The outbound agent through the API, the service and its simulator over AMI: a preview
campaign's next entry shown, dialled and wrapped up with a result that moves the entry on and
acts in the CRM; a predictive call popping with its campaign, reason and script."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crm_core.audit import SYSTEM
from crm_core.call_lists import CallLists
from crm_core.models import (
    AuditEntry,
    Callback,
    CallListEntry,
    DialAttempt,
    DoNotCall,
    Opportunity,
    ServiceRequest,
    User,
)
from pbxsim import AgentProfile
from tests.conftest import add_user, api_login, page_csrf, same_origin, web_login
from tests.support.waiting import until
from tests.web.campaigns import NEW_YORK, START, make_campaign, start
from tests.web.telephony import add_customer
from tests.web.test_screen_pop import agent_tab, next_of
from web.appkeys import db_key, simulator_key

SCRIPT = "Hello {first_name}, about {reason}: may I take two minutes?"


async def outbound_agent(client, name: str = "ann", extension: str = "1001") -> dict[str, str]:
    """An outbound agent signed in through the API, whose phone stays on a call a while (a
    preview call rings the agent first, then the customer)."""
    await add_user(client.app, name, "outbound_agent", extension=extension)
    client.app[simulator_key].simulator.behaviour.agents[extension] = AgentProfile(
        ring_delay=0.3, talk_time=5.0
    )
    return {"X-CSRF-Token": await api_login(client, name)}


async def preview_campaign(app, numbers: list[str]) -> int:
    campaign_id = await make_campaign(app, numbers, mode="preview", script=SCRIPT)
    await start(app, campaign_id)
    return campaign_id


async def attempt_for(app, entry_id: int) -> DialAttempt | None:
    async with app[db_key]() as db:
        return await db.scalar(select(DialAttempt).where(DialAttempt.entry_id == entry_id))


async def entry(app, entry_id: int) -> CallListEntry:
    async with app[db_key]() as db:
        return await db.get_one(CallListEntry, entry_id)


async def answered(app, entry_id: int) -> DialAttempt | None:
    attempt = await attempt_for(app, entry_id)
    return attempt if attempt is not None and attempt.outcome else None


async def shown(client, campaign_id: int, headers: dict[str, str]) -> dict:
    response = await client.post(f"/api/v1/outbound/campaigns/{campaign_id}/next", headers=headers)
    assert response.status == 200, await response.text()
    return (await response.json())["entry"]


async def show_and_dial(client, campaign_id: int, headers: dict[str, str]) -> tuple[dict, str]:
    """The next entry shown, dialled, and answered: (the entry, the call's id)."""
    first = await shown(client, campaign_id, headers)
    placed = await client.post(
        f"/api/v1/outbound/campaigns/{campaign_id}/entries/{first['entry_id']}/dial",
        headers=headers,
    )
    assert placed.status == 202, await placed.text()
    await until(lambda: answered(client.app, first["entry_id"]))
    return first, (await placed.json())["call_id"]


async def test_an_agent_previews_dials_and_books_a_personal_callback(dialling):
    client, app = dialling, dialling.app
    headers = await outbound_agent(client)
    campaign_id = await preview_campaign(app, NEW_YORK[:2])

    shown = await client.post(f"/api/v1/outbound/campaigns/{campaign_id}/next", headers=headers)
    assert shown.status == 200, await shown.text()
    first = (await shown.json())["entry"]
    assert first["number"] == NEW_YORK[0] and first["reason"] == "spring offer"
    assert "about spring offer" in first["script"]
    # Asked again (a reload), the same entry: it is reserved for this agent.
    again = await client.post(f"/api/v1/outbound/campaigns/{campaign_id}/next", headers=headers)
    assert (await again.json())["entry"]["entry_id"] == first["entry_id"]

    placed = await client.post(
        f"/api/v1/outbound/campaigns/{campaign_id}/entries/{first['entry_id']}/dial",
        headers=headers,
    )
    assert placed.status == 202, await placed.text()
    body = await placed.json()
    assert body["checks"]["dnc"] == "not listed" and body["checks"]["attempt"] == "1 of 1"

    await until(lambda: answered(app, first["entry_id"]))
    attempt = await attempt_for(app, first["entry_id"])
    assert attempt.outcome == "answered" and attempt.call_id == body["call_id"]

    when = START + timedelta(days=1)
    wrapped = await client.post(
        f"/api/v1/calls/{body['call_id']}/wrap-up",
        json={
            "disposition": "callback",
            "notes": "call back tomorrow",
            "callback_at": when.isoformat(),
            "callback_personal": True,
        },
        headers=headers,
    )
    assert wrapped.status == 201, await wrapped.text()
    booked = await entry(app, first["entry_id"])
    assert (booked.state, booked.last_outcome, booked.next_attempt_at) == (
        "pending",
        "callback",
        when,
    )
    assert booked.owner_user_id is not None  # ann's own callback


async def test_do_not_call_result_puts_the_number_on_the_register(dialling):
    client, app = dialling, dialling.app
    headers = await outbound_agent(client)
    campaign_id = await preview_campaign(app, NEW_YORK[:1])
    first, call_id = await show_and_dial(client, campaign_id, headers)

    wrapped = await client.post(
        f"/api/v1/calls/{call_id}/wrap-up", json={"disposition": "do_not_call"}, headers=headers
    )
    assert wrapped.status == 201, await wrapped.text()
    assert (await entry(app, first["entry_id"])).state == "dnc"
    async with app[db_key]() as db:
        listed = await db.get(DoNotCall, NEW_YORK[0])
    assert listed is not None and listed.source == "call_result"


async def test_a_number_put_on_the_register_after_it_was_shown_is_not_dialled(dialling):
    client, app = dialling, dialling.app
    headers = await outbound_agent(client)
    campaign_id = await preview_campaign(app, NEW_YORK[:1])
    first = await shown(client, campaign_id, headers)
    async with app[db_key]() as db:
        db.add(DoNotCall(number_e164=NEW_YORK[0], source="manual", added_at=START))
        await db.commit()

    refused = await client.post(
        f"/api/v1/outbound/campaigns/{campaign_id}/entries/{first['entry_id']}/dial",
        headers=headers,
    )
    assert refused.status == 409
    assert "do-not-call" in (await refused.json())["message"]
    assert await attempt_for(app, first["entry_id"]) is None
    assert (await entry(app, first["entry_id"])).state == "dnc"


async def test_a_skipped_entry_goes_back_to_the_list_for_the_next_agent(dialling):
    client, app = dialling, dialling.app
    headers = await outbound_agent(client)
    campaign_id = await preview_campaign(app, NEW_YORK[:1])
    first = await shown(client, campaign_id, headers)
    skipped = await client.post(
        f"/api/v1/outbound/campaigns/{campaign_id}/entries/{first['entry_id']}/skip",
        json={"reason": "the customer's account manager calls them"},
        headers=headers,
    )
    assert skipped.status == 200, await skipped.text()
    back = await entry(app, first["entry_id"])
    assert back.state == "pending" and back.reserved_by is None and back.attempts == 0
    # An entry not shown to the agent (any more) cannot be dialled.
    stolen = await client.post(
        f"/api/v1/outbound/campaigns/{campaign_id}/entries/{first['entry_id']}/dial",
        headers=headers,
    )
    assert stolen.status == 409


async def test_a_complaint_opens_a_service_request_for_the_customer_called(dialling):
    client, app = dialling, dialling.app
    headers = await outbound_agent(client)
    customer = await add_customer(app, "Acme Ltd", NEW_YORK[0])
    campaign_id = await make_campaign(app, [], mode="preview")
    async with app[db_key]() as db:
        await CallLists(db, clock=lambda: START, region="US").add_number(
            campaign_id, NEW_YORK[0], SYSTEM, customer_id=customer, reason="renewal"
        )
        await db.commit()
    await start(app, campaign_id)
    first, call_id = await show_and_dial(client, campaign_id, headers)

    wrapped = await client.post(
        f"/api/v1/calls/{call_id}/wrap-up", json={"disposition": "complaint"}, headers=headers
    )
    assert wrapped.status == 201, await wrapped.text()
    async with app[db_key]() as db:
        opened = list(
            await db.scalars(select(ServiceRequest).where(ServiceRequest.customer_id == customer))
        )
    assert len(opened) == 1 and opened[0].service_type == "complaint"
    assert (await entry(app, first["entry_id"])).state == "done"


async def test_a_predictive_call_pops_with_its_campaign_reason_and_script(dialling):
    client, app = dialling, dialling.app
    await add_user(app, "ann", "outbound_agent", extension="1001")
    acme = await add_customer(app, "Acme Ltd", NEW_YORK[0])
    await web_login(client, "ann")
    tab = await agent_tab(client, "ann")
    campaign_id = await make_campaign(app, NEW_YORK[:1], script=SCRIPT)
    await start(app, campaign_id)
    csrf = {"X-CSRF-Token": await page_csrf(client, "/agent"), **same_origin(client)}
    joined = await client.post(f"/api/v1/outbound/campaigns/{campaign_id}/join", headers=csrf)
    assert joined.status == 200, await joined.text()

    pop = await next_of(tab, "call.offered", timeout=20)
    assert pop["direction"] == "outbound"
    assert pop["campaign"]["campaign"] == "Spring promo"
    assert pop["campaign"]["reason"] == "spring offer"
    assert pop["campaign"]["script"].startswith("Hello {first_name}, about spring offer")
    # The card is the customer dialled, not whoever has our own caller ID.
    assert pop["lookup"]["kind"] == "customer"
    assert [card["id"] for card in pop["lookup"]["cards"]] == [acme]


async def test_an_interested_customer_called_back_is_an_opportunity_and_the_callback_done(dialling):
    client, app = dialling, dialling.app
    headers = await outbound_agent(client)
    customer = await add_customer(app, "Acme Ltd", NEW_YORK[0])
    campaign_id = await make_campaign(app, [], mode="preview")
    async with app[db_key]() as db:
        ann = await db.scalar(select(User.id).where(User.username == "ann"))
        promised = Callback(
            customer_id=customer,
            due_at=START - timedelta(minutes=5),
            owner_user_id=ann,
            note="wants the new prices",
            status="scheduled",
            created_at=START - timedelta(days=1),
        )
        db.add(promised)
        await db.flush()
        listed = await CallLists(db, clock=lambda: START, region="US").add_callbacks(
            campaign_id, SYSTEM
        )
        await db.commit()
    assert listed.added == 1
    await start(app, campaign_id)
    first, call_id = await show_and_dial(client, campaign_id, headers)
    assert first["number"] == NEW_YORK[0]

    wrapped = await client.post(
        f"/api/v1/calls/{call_id}/wrap-up", json={"disposition": "interested"}, headers=headers
    )
    assert wrapped.status == 201, await wrapped.text()
    async with app[db_key]() as db:
        kept = await db.get_one(Callback, promised.id)
        audit = await db.scalar(
            select(AuditEntry).where(
                AuditEntry.entity_type == "callback", AuditEntry.action == "callback.done"
            )
        )
        opportunity = await db.scalar(select(Opportunity))
    assert kept.status == "done"
    assert audit.actor_id == ann and audit.after["call_id"] == call_id
    # "Interested" is a sales opportunity, whatever the agent may do by hand.
    assert (opportunity.phone_e164, opportunity.source) == (NEW_YORK[0], "outbound campaign")
