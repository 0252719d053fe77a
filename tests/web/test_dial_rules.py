"""Click-to-call's dial rules through the real service and the simulator over AMI: extensions go
as typed, numbers the rules refuse never reach the PBX, the permission calls.dial_any and a
customer's own number lift the rules."""

from __future__ import annotations

from pbxsim import AgentProfile
from tests.conftest import add_user, api_login
from tests.support.waiting import until
from tests.web.telephony import add_customer
from web.appkeys import simulator_key


def pbx_events(app) -> list:
    """Every event the simulator emits from now on; agents pick up at once."""
    sim = app[simulator_key].simulator
    sim.behaviour.default_agent = AgentProfile(ring_delay=0.1)
    events: list = []
    sim.add_listener(events.append)
    return events


def named(events: list, name: str) -> list:
    return [e for e in events if e.name == name]


def dialled(events: list, dial_string: str):
    """The DialBegin of ``dial_string`` (the originated agent leg has one too), or None."""
    return next((e for e in named(events, "DialBegin") if e.get("DialString") == dial_string), None)


async def dial(client, token: str, number: str, customer_id: int | None = None):
    body = {"number": number} | ({"customer_id": customer_id} if customer_id else {})
    return await client.post("/api/v1/calls/dial", headers={"X-CSRF-Token": token}, json=body)


async def test_agent_1001_dials_6001_as_typed_and_the_pbx_dials_it(service):
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    events = pbx_events(app)
    token = await api_login(service, "ann")

    placed = await dial(service, token, "6001")

    assert placed.status == 202, await placed.text()
    assert (await placed.json())["number"] == "6001"
    await until(lambda: dialled(events, "6001@trunk-main"))
    originated = named(events, "OriginateResponse")[0]
    assert (originated.get("Context"), originated.get("Exten")) == ("clicktocall", "6001")
    assert originated.get("Channel", "").startswith("PJSIP/1001-")


async def test_a_colleagues_extension_rings_their_phone_not_the_trunk(service):
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    events = pbx_events(app)
    token = await api_login(service, "ann")

    placed = await dial(service, token, "1002")

    assert placed.status == 202, await placed.text()
    await until(lambda: dialled(events, "1002"))
    assert dialled(events, "1002").get("DestChannel", "").startswith("PJSIP/1002-")
    assert not [e for e in named(events, "DialBegin") if "trunk" in e.get("DialString", "")]


async def test_numbers_the_rules_refuse_never_reach_the_pbx(service):
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    events = pbx_events(app)
    token = await api_login(service, "ann")

    for number, status, reason in (
        ("+10201234567", 422, "+1 0201234567 is not a valid phone number: no such number exists"),
        ("+1 900 555 0100", 403, "+1 900-555-0100 is a premium-rate number; you may not dial it"),
        ("+44 20 7946 0018", 403, "+44 20 7946 0018: calls to United Kingdom are not allowed"),
        ("+882 34 2123 4", 403, "+882 34 21234: calls to numbers of no country"),
        ("<script>", 422, "'<script>' is neither a phone number nor an extension"),
    ):
        refused = await dial(service, token, number)
        assert refused.status == status, number
        body = await refused.json()
        assert body["message"].startswith(reason), body
        assert body["fields"] == {"number": body["message"]}

    assert named(events, "Newchannel") == [] and named(events, "OriginateResponse") == []


async def test_a_premium_number_is_refused_to_an_agent_but_dialled_for_one_who_may_dial_any(
    aiohttp_client, service
):
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    await add_user(app, "ada", "admin", extension="1003")  # admin holds calls.dial_any
    events = pbx_events(app)
    ann_token = await api_login(service, "ann")
    assert (await dial(service, ann_token, "+1 900 555 0100")).status == 403

    ada = await aiohttp_client(service.server)
    placed = await dial(ada, await api_login(ada, "ada"), "+1 900 555 0100")

    assert placed.status == 202, await placed.text()
    await until(lambda: named(events, "OriginateResponse"))
    originated = named(events, "OriginateResponse")[0]
    assert originated.get("Exten") == "+19005550100"
    assert originated.get("Channel", "").startswith("PJSIP/1003-")


async def test_a_customers_own_number_is_dialled_though_the_rules_would_refuse_it(service):
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    hotline = await add_customer(app, "Hotline Inc", "+1 900 555 0199")
    events = pbx_events(app)
    token = await api_login(service, "ann")

    placed = await dial(service, token, "+1 900 555 0199", customer_id=hotline)

    assert placed.status == 202, await placed.text()
    body = await placed.json()
    assert body["number"] == "+19005550199" and body["card"]["name"] == "Hotline Inc"
    await until(lambda: named(events, "OriginateResponse"))
    assert named(events, "OriginateResponse")[0].get("Exten") == "+19005550199"


async def test_a_demo_customers_number_is_dialled_from_the_card(service):
    app = service.app
    await add_user(app, "ann", "inbound_agent", extension="1001")
    demo = await add_customer(app, "Ana Almeida", "(555) 200-0000")  # as crm_core.demo makes
    token = await api_login(service, "ann")

    placed = await dial(service, token, "+15552000000", customer_id=demo)

    assert placed.status == 202, await placed.text()
    assert (await placed.json())["number"] == "+15552000000"
