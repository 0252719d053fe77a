"""The CRM behind the phones, in chromium: an agent goes from a pop to a new order and a
service request for the caller; a sales manager takes an opportunity through its account
manager's plan to a won customer."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from crm_core.audit import SYSTEM
from crm_core.models import Customer, Order, ServiceRequest
from crm_core.products import ProductCreate, ProductService, StockMovementCreate, WarehouseCreate
from crm_core.uow import UnitOfWork
from tests.conftest import add_user, test_settings
from tests.e2e.test_agent_desktop import _call_in, _ready_agent_page
from tests.e2e.test_login_in_browser import sign_in
from tests.support.waiting import until
from tests.web.telephony import add_customer
from web.app import create_app
from web.appkeys import clock_key, db_key, pbx_key

pytestmark = pytest.mark.browser


@pytest.fixture
async def server(aiohttp_server, database_url, tmp_path, clock):
    settings = test_settings(database_url, tmp_path, pbx="simulator", simulator_scenario="")
    server = await aiohttp_server(create_app(settings, clock=clock))
    await asyncio.wait_for(server.app[pbx_key].runtime.link.wait_connected(), 10)
    return server


async def _in_stock(app, *products: tuple[str, str, str]) -> list[int]:
    """Products (code, name, price) with 5 of each in the main warehouse: their ids."""
    made = []
    async with UnitOfWork(app[db_key]) as uow:
        service = ProductService(uow.session, clock=app[clock_key])
        main = await service.create_warehouse(WarehouseCreate(code="main", name="Main"), SYSTEM)
        for code, name, price in products:
            product = await service.create(
                ProductCreate(code=code, name=name, category="hardware", unit_price=Decimal(price)),
                SYSTEM,
            )
            await service.move(
                product.id,
                StockMovementCreate(warehouse_id=main.id, kind="in", quantity=5, reason="delivery"),
                SYSTEM,
            )
            made.append(product.id)
        await uow.commit()
    return made


async def test_an_agent_takes_an_order_and_opens_a_request_from_the_pop(browser, server, base_url):
    app = server.app
    acme = await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    chair, desk = await _in_stock(app, ("CH-1", "Chair", "19.99"), ("DK-1", "Desk", "30.00"))
    page = await _ready_agent_page(browser, app, base_url)
    _call_in(app, "+15551234567", "Test")
    card = page.locator(".pop")
    await expect(card).to_have_attribute("data-state", "talking", timeout=10_000)
    call_id = await card.get_attribute("data-call-id")

    async with page.context.expect_page() as opening:
        await card.get_by_role("link", name="New order").click()
    order_page = await opening.value
    await expect(order_page.locator("h1")).to_contain_text("Acme Ltd")
    await order_page.select_option("select[name='lines.0.product_id']", str(chair))
    await order_page.fill("input[name='lines.0.quantity']", "2")
    await expect(order_page.locator("#order-total")).to_contain_text("39.98")
    # More lines than the form offers: "Add a line" gives a sixth.
    await order_page.click("#add-line")
    await order_page.select_option("select[name='lines.5.product_id']", str(desk))
    await order_page.fill("input[name='lines.5.quantity']", "1")
    await expect(order_page.locator("#order-total")).to_contain_text("69.98")
    await order_page.click("button[value='submit']")
    await expect(order_page.locator("body")).to_contain_text("awaiting")
    async with app[db_key]() as db:
        (order,) = (await db.scalars(select(Order).where(Order.customer_id == acme))).all()
    assert (order.amount_cents, order.call_linked_id, order.status) == (
        6998,
        call_id,
        "awaiting_confirmation",
    )

    async with page.context.expect_page() as opening:
        await card.get_by_role("link", name="Open a service request").click()
    request_page = await opening.value
    await request_page.select_option("select[name='service_type']", "complaint")
    await request_page.fill("input[name='subject']", "The chair squeaks")
    await request_page.click("#service-request-form button[type='submit']")
    await expect(request_page.locator("body")).to_contain_text("The chair squeaks")
    async with app[db_key]() as db:
        (request,) = (await db.scalars(select(ServiceRequest))).all()
    assert (request.customer_id, request.call_linked_id, request.service_type) == (
        acme,
        call_id,
        "complaint",
    )


async def test_the_pop_offers_only_what_the_agents_role_allows(browser, server, base_url):
    """An outbound agent takes orders but does not handle service requests."""
    app = server.app
    await add_customer(app, "Acme Ltd", "+1 555 123 4567")
    await add_user(app, "olga", "outbound_agent", extension="1001")
    page = await (await browser.new_context()).new_page()
    await sign_in(page, base_url, "olga")
    await page.goto(base_url + "/agent")
    await expect(page.locator("body")).to_have_attribute("data-live", "yes")
    await page.click("#go-ready")
    _call_in(app, "+15551234567", "Test")
    card = page.locator(".pop")
    await expect(card.locator(".pop-title")).to_have_text("Acme Ltd", timeout=10_000)
    await expect(card.get_by_role("link", name="New order")).to_have_count(1)
    await expect(card.get_by_role("link", name="Schedule a callback")).to_have_count(1)
    await expect(card.get_by_role("link", name="Open a service request")).to_have_count(0)
    # Nor are the caller's service requests on the card.
    await expect(card.get_by_text("Open service requests")).to_have_count(0)


async def test_a_sales_manager_takes_an_opportunity_to_a_won_customer(browser, server, base_url):
    app = server.app
    await add_user(app, "sam", "sales_manager", display_name="Sam Sales")
    await add_user(app, "alex", "account_manager", display_name="Alex Account")
    sales = await (await browser.new_context()).new_page()
    await sign_in(sales, base_url, "sam")
    await sales.goto(base_url + "/opportunities/new")
    await sales.fill("input[name='prospect_name']", "Globex Corp")
    await sales.fill("input[name='contact_name']", "Hank Scorpio")
    await sales.fill("input[name='phone']", "+1 555 010 9999")
    await sales.fill("input[name='value']", "12500.00")
    await sales.click("#opportunity-form button[type='submit']")
    await expect(sales.locator("h1")).to_contain_text("Globex Corp")
    await sales.select_option(
        "#assign-form select[name='account_manager_id']", label="Alex Account"
    )
    await sales.click("#assign-form button[type='submit']")
    opportunity_url = sales.url.split("?")[0]

    account = await (await browser.new_context()).new_page()
    await sign_in(account, base_url, "alex")
    await account.goto(opportunity_url)
    await account.fill("#step-form input[name='planned_on']", "2026-12-10")
    await account.fill("#step-form input[name='action']", "Demo at their office")
    await account.click("#step-form button[type='submit']")
    await account.fill("form.step-result textarea[name='result']", "Loved it, will sign")
    await account.click("form.step-result button[type='submit']")
    await account.check("#close-form input[value='won']")
    await account.click("#close-form button[type='submit']")
    await expect(account.locator("body")).to_contain_text("won")

    async def customer_exists() -> bool:
        async with app[db_key]() as db:
            return (
                await db.scalar(select(Customer.id).where(Customer.name == "Globex Corp"))
                is not None
            )

    await until(customer_exists)
    found = await (
        await account.context.request.get(base_url + "/api/v1/customers?number=5550109999")
    ).json()
    assert found["cards"][0]["name"] == "Globex Corp"
    assert found["cards"][0]["contacts"][0]["name"] == "Hank Scorpio"
