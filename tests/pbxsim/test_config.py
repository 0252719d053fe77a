"""GetConfig / UpdateConfig on queues.conf and the trunks file, validated, applied on reload."""

from __future__ import annotations

from cti.ami.framing import Frame
from pbxsim import Simulator

from .amiclient import AmiClient
from .conftest import ClientFactory


def _lines(reply: Frame) -> dict[str, list[str]]:
    categories: dict[str, str] = {}
    lines: dict[str, list[str]] = {}
    for key, value in reply.headers:
        if key.startswith("Category-"):
            categories[key.split("-")[1]] = value
            lines[value] = []
        elif key.startswith("Line-"):
            lines[categories[key.split("-")[1]]].append(value)
    return lines


def _steps(*steps: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for index, step in enumerate(steps):
        for name, value in zip(("Action", "Cat", "Var", "Value", "Options"), step, strict=False):
            if value:
                headers[f"{name}-{index:06d}"] = value
    return headers


async def _update(client: AmiClient, filename: str, *steps: tuple[str, ...], **extra: str):
    return await client.action(
        "UpdateConfig", SrcFilename=filename, DstFilename=filename, **_steps(*steps), **extra
    )


async def test_getconfig_shows_the_lab_queues_with_their_template(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    reply = await client.action("GetConfig", Filename="queues.conf")
    lines = _lines(reply)
    assert list(lines) == ["general", "callcentre", "sales", "support", "outbound"]
    assert "strategy=rrmemory" in lines["sales"] and "timeout=15" in lines["sales"]
    assert reply["IsTemplate-000001"] == "1" and reply["Templates-000002"] == "callcentre"
    one = await client.action("GetConfig", Filename="queues.conf", Category="support")
    assert list(_lines(one)) == ["support"]
    endpoints = await client.action(
        "GetConfig", Filename="pjsip_trunks.conf", Filter="type=endpoint"
    )
    assert list(_lines(endpoints)) == ["trunk-main"]
    missing = await client.action("GetConfig", Filename="sip.conf")
    assert (missing.name, missing["Message"]) == ("Error", "Config file not found")


async def test_a_queue_added_by_updateconfig_works_after_reload(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    added = await _update(
        client,
        "queues.conf",
        ("NewCat", "billing", "", "", "inherit=callcentre"),
        ("Append", "billing", "strategy", "ringall"),
    )
    assert added.name == "Success"
    refused = await client.action("QueueAdd", Queue="billing", Interface="Local/1001@agents")
    assert refused["Message"] == "Unable to add interface to queue: No such queue"
    reloaded = await client.action("Reload", Module="app_queue")
    assert reloaded["Message"] == "Module Reloaded"
    joined = await client.action("QueueAdd", Queue="billing", Interface="Local/1001@agents")
    assert joined.name == "Success"
    await client.action("QueueStatus", Queue="billing", ActionID="qs-billing")
    params = next(f for f in client.replies_to("qs-billing") if f.name == "QueueParams")
    assert params["Strategy"] == "ringall"


async def test_an_invalid_update_is_refused_and_changes_nothing(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    before = await client.action("GetConfig", Filename="queues.conf")
    bad = await _update(
        client, "queues.conf", ("Append", "sales", "strategy", "fastest"), Reload="yes"
    )
    assert (bad.name, bad["Message"]) == (
        "Error",
        "Invalid configuration: queue sales: unknown strategy 'fastest'",
    )
    after = await client.action("GetConfig", Filename="queues.conf")
    assert _lines(after) == _lines(before)
    unknown = await _update(client, "queues.conf", ("Update", "nosuchqueue", "timeout", "5"))
    assert unknown["Message"] == "Given category does not exist"
    negative = await _update(client, "queues.conf", ("Update", "callcentre", "timeout", "-1"))
    assert negative.name == "Error" and "timeout" in negative["Message"]


async def test_trunks_are_validated_and_their_limit_applied_on_reload(
    simulator: Simulator, connect: ClientFactory
) -> None:
    client = await connect(simulator)
    no_context = await _update(
        client,
        "pjsip_trunks.conf",
        ("NewCat", "trunk-b"),
        ("Append", "trunk-b", "type", "endpoint"),
    )
    assert no_context["Message"] == "Invalid configuration: endpoint trunk-b: context is required"
    bad_contact = await _update(
        client,
        "pjsip_trunks.conf",
        ("NewCat", "trunk-b-aor"),
        ("Append", "trunk-b-aor", "type", "aor"),
        ("Append", "trunk-b-aor", "contact", "provider.example"),
    )
    assert "contact must be a SIP URI" in bad_contact["Message"]
    good = await _update(
        client,
        "pjsip_trunks.conf",
        ("NewCat", "trunk-b-aor"),
        ("Append", "trunk-b-aor", "type", "aor"),
        ("Append", "trunk-b-aor", "contact", "sip:provider-b.example:5060"),
        ("NewCat", "trunk-b"),
        ("Append", "trunk-b", "type", "endpoint"),
        ("Append", "trunk-b", "context", "inbound"),
        ("Append", "trunk-b", "allow", "ulaw"),
        ("Append", "trunk-b", "aors", "trunk-b-aor"),
        ("Append", "trunk-b", "device_state_busy_at", "10"),
        Reload="yes",
    )
    assert good.name == "Success"
    trunk = simulator.trunks.trunks["trunk-b"]
    assert (trunk.max_channels, trunk.host) == (10, "provider-b.example:5060")
