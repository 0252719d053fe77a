"""Orders through the JSON API and the pages: the whole life of an order with its stock, who may
do what, and bad input named by field with nothing changed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_core.cards import customer_card
from crm_core.models import AuditEntry, Order, OrderEvent, OrderLine, StockLevel, StockMovement
from tests.conftest import add_user, api_login, page_csrf, web_login
from tests.support.shop import Shop, open_shop
from tests.web.telephony import add_customer
from web.appkeys import clock_key, db_key


async def snapshot(app) -> tuple[int, ...]:
    """Row counts of everything a refused request must leave alone, and the stock on hand."""
    async with app[db_key]() as db:
        counts = [
            await db.scalar(select(func.count()).select_from(model))
            for model in (Order, OrderLine, OrderEvent, StockMovement, AuditEntry)
        ]
        counts.append(await db.scalar(select(func.coalesce(func.sum(StockLevel.quantity), 0))))
        counts.append(tuple(await db.scalars(select(Order.status).order_by(Order.id))))
    return tuple(counts)


async def login(aiohttp_client, client, username: str, *roles: str):
    """A client of its own, logged in through the API, and its CSRF header."""
    await add_user(client.app, username, *roles)
    own = await aiohttp_client(client.server)
    return own, {"X-CSRF-Token": await api_login(own, username)}


async def test_an_order_lives_from_draft_to_completed_and_a_cancelled_one_returns_its_stock(
    aiohttp_client, client
):
    boss, manage = await login(aiohttp_client, client, "boss", "admin")
    made = await boss.post(
        "/api/v1/products",
        headers=manage,
        json={"code": "CH-1", "name": "Chair", "category": "hardware", "unit_price": "49.50"},
    )
    chair = (await made.json())["id"]
    made = await boss.post(
        "/api/v1/products",
        headers=manage,
        json={"code": "MAT", "name": "Floor mat", "category": "accessory", "unit_price": "12"},
    )
    mat = (await made.json())["id"]
    main = await (
        await boss.post("/api/v1/warehouses", headers=manage, json={"code": "M", "name": "Main"})
    ).json()
    for product, count in ((chair, 4), (mat, 10)):
        response = await boss.post(
            f"/api/v1/products/{product}/stock-movements",
            headers=manage,
            json={
                "warehouse_id": main["id"],
                "kind": "in",
                "quantity": count,
                "reason": "delivery",
            },
        )
        assert response.status == 201
    acme = await add_customer(client.app, "Acme Ltd", "+1 555 123 4567")

    agent, write = await login(aiohttp_client, client, "carla", "inbound_agent")
    created = await agent.post(
        "/api/v1/orders",
        headers=write,
        json={
            "customer_id": acme,
            "lines": [{"product_id": chair, "quantity": 2}, {"product_id": mat, "quantity": 3}],
            "notes": "deliver before noon",
            "call_id": "1700000000.42",
        },
    )
    assert created.status == 201, await created.text()
    order = await created.json()
    assert order["status"] == "draft" and order["amount"] == "135.00"
    assert order["call_id"] == "1700000000.42" and order["warehouse"]["code"] == "M"
    assert order["next"] == ["awaiting_confirmation", "cancelled"] and order["editable"]
    assert [(x["product_code"], x["line_total"]) for x in order["lines"]] == [
        ("CH-1", "99.00"),
        ("MAT", "36.00"),
    ]
    path = f"/api/v1/orders/{order['id']}"
    changed = await agent.patch(
        path, headers=write, json={"lines": [{"product_id": chair, "quantity": 3}]}
    )
    assert (await changed.json())["amount"] == "148.50"
    for to, next_moves in (
        ("awaiting_confirmation", ["confirmed", "cancelled"]),
        ("confirmed", ["shipped", "cancelled"]),
        ("shipped", ["completed"]),
        ("completed", []),
    ):
        moved = await agent.post(path + "/transitions", headers=write, json={"to": to})
        assert moved.status == 200, await moved.text()
        assert (await moved.json())["next"] == next_moves
    done = await (await agent.get(path)).json()
    assert [(e["from"], e["to"], e["user"]) for e in done["events"]] == [
        (None, "draft", "Carla"),
        ("draft", "awaiting_confirmation", "Carla"),
        ("awaiting_confirmation", "confirmed", "Carla"),
        ("confirmed", "shipped", "Carla"),
        ("shipped", "completed", "Carla"),
    ]
    stock = await (await agent.get(f"/api/v1/products/{chair}")).json()
    assert stock["stock"] == 1
    assert stock["movements"][0]["order_reference"] == order["reference"]

    second = await (
        await agent.post(
            "/api/v1/orders",
            headers=write,
            json={"customer_id": acme, "lines": [{"product_id": mat, "quantity": 10}]},
        )
    ).json()
    for to in ("awaiting_confirmation", "confirmed"):
        await agent.post(
            f"/api/v1/orders/{second['id']}/transitions", headers=write, json={"to": to}
        )
    assert (await (await agent.get(f"/api/v1/products/{mat}")).json())["stock"] == 0
    cancelled = await agent.post(
        f"/api/v1/orders/{second['id']}/transitions",
        headers=write,
        json={"to": "cancelled", "note": "customer changed their mind"},
    )
    assert (await cancelled.json())["events"][-1]["note"] == "customer changed their mind"
    assert (await (await agent.get(f"/api/v1/products/{mat}")).json())["stock"] == 10

    listed = await (await agent.get(f"/api/v1/orders?customer_id={acme}&status=completed")).json()
    assert [o["reference"] for o in listed["items"]] == [order["reference"]]
    assert listed["items"][0]["customer"] == "Acme Ltd"
    mine = await (
        await agent.get(f"/api/v1/orders?product_id={mat}&status=cancelled,completed")
    ).json()
    assert [o["id"] for o in mine["items"]] == [second["id"]]


@pytest.fixture
async def shop(client) -> Shop:
    return await open_shop(client.app[db_key], client.app[clock_key])


async def test_without_orders_write_a_role_reads_orders_but_gets_403_for_changes(
    aiohttp_client, client, shop
):
    order_id = await shop.order((shop.chair, 1))
    lead, headers = await login(aiohttp_client, client, "lena", "team_lead")  # orders.read only
    assert (await lead.get("/api/v1/orders")).status == 200
    assert (await lead.get(f"/api/v1/orders/{order_id}")).status == 200
    before = await snapshot(client.app)
    body = {"customer_id": shop.customer, "lines": [{"product_id": shop.chair, "quantity": 1}]}
    assert (await lead.post("/api/v1/orders", headers=headers, json=body)).status == 403
    assert (
        await lead.post(
            f"/api/v1/orders/{order_id}/transitions", headers=headers, json={"to": "confirmed"}
        )
    ).status == 403
    assert (
        await lead.patch(f"/api/v1/orders/{order_id}", headers=headers, json={"notes": "x"})
    ).status == 403
    assert (await lead.get("/orders/new")).status == 403
    assert await snapshot(client.app) == before
    staff, _ = await login(aiohttp_client, client, "sam", "service_staff")  # no orders.read
    assert (await staff.get("/api/v1/orders")).status == 403
    assert (await staff.get(f"/orders/{order_id}")).status == 403


@pytest.mark.parametrize(
    ("line", "field", "status"),
    [
        ({"quantity": -1}, "lines.0.quantity", 422),
        ({"quantity": 0}, "lines.0.quantity", 422),
        ({"quantity": "two"}, "lines.0.quantity", 422),
        ({"unit_price": "19.999"}, "lines.0.unit_price", 422),
        ({"unit_price": "1.00"}, "lines.0.unit_price", 403),  # an agent's own price
        ({"product_id": 4242}, "lines.0.product_id", 422),
        ({"product_id": "chair"}, "lines.0.product_id", 422),
    ],
)
async def test_a_bad_line_is_refused_naming_its_field_and_nothing_changes(
    aiohttp_client, client, shop, line, field, status
):
    agent, headers = await login(aiohttp_client, client, "carla", "inbound_agent")
    before = await snapshot(client.app)
    body = {
        "customer_id": shop.customer,
        "lines": [{"product_id": shop.chair, "quantity": 1, **line}],
    }
    response = await agent.post("/api/v1/orders", headers=headers, json=body)
    assert response.status == status, await response.text()
    assert field in (await response.json())["fields"]
    assert await snapshot(client.app) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": []}, "lines"),
        ({"customer_id": 4242}, "customer_id"),
        ({"call_id": "bad id; DROP"}, "call_id"),
        ({"warehouse_id": 99}, "warehouse_id"),
        ({"notes": "x" * 2001}, "notes"),
    ],
)
async def test_a_bad_order_names_its_field(aiohttp_client, client, shop, body, field):
    agent, headers = await login(aiohttp_client, client, "carla", "inbound_agent")
    before = await snapshot(client.app)
    given = {"customer_id": shop.customer, "lines": [{"product_id": shop.chair, "quantity": 1}]}
    response = await agent.post("/api/v1/orders", headers=headers, json={**given, **body})
    assert response.status == 422, await response.text()
    assert field in (await response.json())["fields"]
    assert await snapshot(client.app) == before


async def test_a_manager_may_set_a_price(aiohttp_client, client, shop):
    boss, headers = await login(aiohttp_client, client, "boss", "admin")
    body = {
        "customer_id": shop.customer,
        "lines": [{"product_id": shop.chair, "quantity": 2, "unit_price": 15}],
    }
    response = await boss.post("/api/v1/orders", headers=headers, json=body)
    assert response.status == 201 and (await response.json())["amount"] == "30.00"


@pytest.mark.parametrize(
    ("moves", "to"),
    [
        ((), "shipped"),
        ((), "completed"),
        ((), "draft"),
        (("awaiting_confirmation",), "completed"),
        (("awaiting_confirmation", "cancelled"), "awaiting_confirmation"),
    ],
)
async def test_a_move_the_status_does_not_allow_is_409_naming_to_and_changes_nothing(
    aiohttp_client, client, shop, moves, to
):
    order_id = await shop.order((shop.chair, 1), submit=False)
    for move in moves:
        await shop.move(order_id, move)
    agent, headers = await login(aiohttp_client, client, "carla", "inbound_agent")
    before = await snapshot(client.app)
    response = await agent.post(
        f"/api/v1/orders/{order_id}/transitions", headers=headers, json={"to": to}
    )
    assert response.status == 409, await response.text()
    problem = await response.json()
    assert problem["error"] == "conflict" and "to" in problem["fields"]
    assert await snapshot(client.app) == before
    unknown = await agent.post(
        f"/api/v1/orders/{order_id}/transitions", headers=headers, json={"to": "lost"}
    )
    assert unknown.status == 422 and "to" in (await unknown.json())["fields"]
    missing = await agent.post("/api/v1/orders/999/transitions", headers=headers, json={"to": to})
    assert missing.status == 404


async def test_confirming_more_than_is_in_stock_is_409_with_what_is_left(
    aiohttp_client, client, shop
):
    order_id = await shop.order((shop.chair, 1), (shop.desk, 5))
    agent, headers = await login(aiohttp_client, client, "carla", "inbound_agent")
    before = await snapshot(client.app)
    response = await agent.post(
        f"/api/v1/orders/{order_id}/transitions", headers=headers, json={"to": "confirmed"}
    )
    assert response.status == 409
    problem = await response.json()
    assert problem["error"] == "out_of_stock"
    assert problem["fields"] == {"lines.1.quantity": "P-7 Desk: only 2 left in Main, 5 wanted"}
    assert problem["shortages"] == [
        {"product_id": shop.desk, "warehouse_id": shop.main, "available": 2, "wanted": 5}
    ]
    assert await snapshot(client.app) == before


async def test_the_list_filters_and_pages_and_names_a_bad_filter(
    aiohttp_client, client, shop, clock
):
    first = await shop.order((shop.chair, 1))
    clock.advance(days=2)
    second = await shop.order((shop.desk, 1), by=shop.bob, submit=False)
    agent, _ = await login(aiohttp_client, client, "carla", "inbound_agent")

    async def ids(query: str) -> list[int]:
        response = await agent.get("/api/v1/orders" + query)
        assert response.status == 200, await response.text()
        return [o["id"] for o in (await response.json())["items"]]

    assert await ids("") == [second, first]
    assert await ids(f"?created_by={shop.bob.user_id}") == [second]
    assert await ids("?status=awaiting_confirmation") == [first]
    assert await ids("?placed_from=2026-11-26") == [second]
    assert await ids("?placed_to=2026-11-25") == [first]
    assert await ids(f"?product_id={shop.chair}") == [first]
    assert await ids("?per_page=1&page=2") == [first]
    for query, field in (
        ("?placed_from=yesterday", "placed_from"),
        ("?status=open", "status.0"),
        ("?per_page=1000", "per_page"),
        ("?placed_from=2026-11-27&placed_to=2026-11-26", "placed_to"),
    ):
        response = await agent.get("/api/v1/orders" + query)
        assert response.status == 422, query
        assert field in (await response.json())["fields"], query


async def test_an_agent_takes_an_order_on_the_pages_and_moves_it_with_the_buttons(client, shop):
    await add_user(client.app, "carla", "inbound_agent")
    await web_login(client, "carla")
    form_page = await client.get(f"/orders/new?customer_id={shop.customer}&call_id=1700000000.9")
    html = await form_page.text()
    assert "Acme Ltd" in html and 'name="lines.0.unit_price"' not in html  # no price for agents
    token = await page_csrf(client, "/orders")
    form = {
        "csrf_token": token,
        "customer_id": str(shop.customer),
        "call_id": "1700000000.9",
        "lines.0.product_id": str(shop.chair),
        "lines.0.quantity": "2",
        "lines.1.product_id": "",
        "lines.1.quantity": "",
        "lines.2.product_id": str(shop.desk),
        "lines.2.quantity": "-1",
        "then": "submit",
    }
    refused = await client.post("/orders/new", data=form)
    assert refused.status == 422
    assert 'data-field="lines.1.quantity"' in await refused.text()  # the desk, shown second
    saved = await client.post(
        "/orders/new", data={**form, "lines.2.quantity": "1"}, allow_redirects=False
    )
    assert saved.status == 303
    order_path = saved.headers["Location"].split("?")[0]
    page = await (await client.get(order_path)).text()
    assert "44.98 USD" in page and "1700000000.9" in page
    assert 'value="confirmed"' in page and 'value="cancelled"' in page
    assert 'value="shipped"' not in page
    moved = await client.post(
        order_path + "/transitions",
        data={"csrf_token": token, "to": "confirmed", "note": "on the phone"},
        allow_redirects=False,
    )
    assert moved.status == 303
    wrong = await client.post(
        order_path + "/transitions", data={"csrf_token": token, "to": "completed"}
    )
    assert wrong.status == 409 and "cannot become completed" in await wrong.text()
    page = await (await client.get(order_path)).text()
    assert 'data-status="confirmed"' in page and "on the phone" in page
    listing = await (await client.get(f"/orders?customer_id={shop.customer}")).text()
    assert "Acme Ltd" in listing and "confirmed" in listing
    customer = await (await client.get(f"/customers/{shop.customer}")).text()
    assert f'href="{order_path}"' in customer
    assert f'href="/orders/new?customer_id={shop.customer}"' in customer
    async with client.app[db_key]() as db:
        card = await customer_card(db, shop.customer)
    assert [o["summary"] for o in card["open_orders"]] == ["2 × P-100 Chair, 1 × P-7 Desk"]
