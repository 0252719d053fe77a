"""A person at a browser: signs in, mistypes a password, meets a forbidden page, and is signed
out when the same account signs in from another browser."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.conftest import PASSWORD, add_user

pytestmark = pytest.mark.browser


async def sign_in(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base_url}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def test_an_agent_signs_in_and_sees_their_home(browser, server, base_url):
    await add_user(server.app, "ann", "inbound_agent", display_name="Ann Agent")
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{base_url}/")
    await expect(page).to_have_url(f"{base_url}/login?next=/")
    await sign_in(page, base_url, "ann")
    await expect(page.locator("h1")).to_have_text("Welcome, Ann Agent")
    await expect(page.locator("body")).to_have_attribute("data-live", "yes")
    await expect(page.locator("header nav a", has_text="Users")).to_have_count(0)


async def test_a_wrong_password_shows_an_error_and_keeps_the_user_name(browser, server, base_url):
    await add_user(server.app, "ann", "inbound_agent")
    page = await (await browser.new_context()).new_page()
    await sign_in(page, base_url, "ann", "not my password")
    await expect(page.locator(".alert.error")).to_have_text("Wrong user name or password.")
    await expect(page.locator("input[name=username]")).to_have_value("ann")
    await expect(page.locator("input[name=password]")).to_have_value("")


async def test_an_agent_opening_an_admin_page_is_told_it_is_not_allowed(browser, server, base_url):
    await add_user(server.app, "ann", "inbound_agent")
    page = await (await browser.new_context()).new_page()
    await sign_in(page, base_url, "ann")
    await page.wait_for_url(f"{base_url}/")
    response = await page.goto(f"{base_url}/admin/users")
    assert response.status == 403
    await expect(page.locator("h1")).to_have_text("Not allowed")


async def test_a_second_login_sends_the_first_browser_to_the_login_page(browser, server, base_url):
    await add_user(server.app, "ann", "inbound_agent", display_name="Ann Agent")
    first = await (await browser.new_context()).new_page()
    await sign_in(first, base_url, "ann")
    await expect(first.locator("body")).to_have_attribute("data-live", "yes")

    second = await (await browser.new_context()).new_page()
    await sign_in(second, base_url, "ann")
    await expect(second.locator("h1")).to_have_text("Welcome, Ann Agent")

    # Nobody touches the first browser: the server tells it over its websocket.
    await first.wait_for_url(f"{base_url}/login?reason=replaced", timeout=10_000)
    await expect(first.locator("#notice")).to_contain_text("signed in somewhere else")


async def test_an_admin_creates_a_user_in_the_browser(browser, server, base_url):
    await add_user(server.app, "boss", "admin")
    page = await (await browser.new_context()).new_page()
    await sign_in(page, base_url, "boss")
    await page.click("header nav a:text('Users')")
    await page.click("text=New user")
    await page.fill("input[name=username]", "carla")
    await page.fill("input[name=display_name]", "<b>Carla</b>")
    await page.fill("input[name=password]", "a long password")
    await page.check("input[name=roles][value=inbound_agent]")
    await page.click("button:text('Create user')")
    await expect(page.locator(".alert.notice")).to_have_text("Saved.")
    await page.goto(f"{base_url}/admin/users")
    await expect(page.locator("td", has_text="<b>Carla</b>")).to_have_count(1)
