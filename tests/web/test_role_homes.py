"""Every role lands on a home page that shows its work, and the customers page finds people
by the start of their name, a number in any form, or an account."""

from __future__ import annotations

import re

import pytest

from tests.conftest import add_user, web_login
from tests.web.telephony import add_customer


@pytest.mark.parametrize(
    ("role", "link"),
    [
        ("sales_manager", "/customers"),
        ("account_manager", "/customers"),
        ("service_staff", "/customers"),
        ("inbound_agent", "/customers"),
        ("pbx_admin", "/pbx"),
        ("team_lead", "/supervisor"),
    ],
)
async def test_each_role_lands_on_a_home_with_its_work(client, role, link):
    await add_user(client.app, "someone", role)
    await web_login(client, "someone")
    home = await (await client.get("/")).text()
    links = set(re.findall(r'class="tile" href="([^"]+)"', home))
    assert link in links and links - {"/api/docs"}, links
    page = await client.get(link)
    assert page.status == 200


async def test_the_customers_page_finds_by_name_start_number_and_account(client):
    app = client.app
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    await add_customer(app, "acme & sons", "+1 555 765 4321")
    await add_customer(app, "100% Widgets", "+1 555 000 0001")
    await add_customer(app, "Zed", "+1 555 000 0002")
    await add_user(app, "sam", "service_staff")
    await web_login(client, "sam")

    async def names(query: str) -> list[str]:
        page = await (await client.get("/customers", params={"q": query})).text()
        return re.findall(r'<a href="/customers/\d+">([^<]+)</a>', page)

    # A name's matches in case-folded order, on either database.
    assert await names("ACME") == ["acme &amp; sons", "Acme Ltd"]
    assert await names("(555) 123-4567") == ["Acme Ltd"]
    assert await names("100%") == ["100% Widgets"]  # % is a character here, not a wildcard
    assert await names("%") == []
    assert await names("_") == []
    assert len(await names("")) == 4
    refused = await client.get(f"/customers/{acme}?saved=1")
    assert "Customer saved." in await refused.text()


async def test_the_customers_page_is_for_those_who_may_read_customers(client):
    await add_user(client.app, "pat", "pbx_admin")
    await web_login(client, "pat")
    assert (await client.get("/customers")).status == 403
