"""Every form control an agent, a lead or an administrator meets has a name a screen reader
can say, on the pages they use."""

from __future__ import annotations

import pytest

from tests.conftest import add_user
from tests.e2e.test_login_in_browser import sign_in

pytestmark = pytest.mark.browser

UNNAMED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.type !== 'hidden')
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !el.getAttribute('aria-labelledby') && !(el.textContent || '').trim()
                  && !el.getAttribute('title'))
  .map((el) => el.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize(
    "path",
    [
        "/agent",
        "/customers",
        "/customers/new",
        "/supervisor",
        "/admin/dictionary/pause_reason",
        "/products",
        "/products/new",
        "/warehouses",
        "/orders",
        "/orders/new",
    ],
)
async def test_every_control_has_a_name(browser, server, base_url, path):
    await add_user(server.app, "root", "admin", extension="1009")
    page = await (await browser.new_context()).new_page()
    await sign_in(page, base_url, "root")
    response = await page.goto(base_url + path)
    assert response is not None and response.status == 200
    assert await page.evaluate(UNNAMED) == []
