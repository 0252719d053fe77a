"""Products, warehouses and stock through the JSON API and the pages: who may do what, bad input
named by field with nothing changed, and stock that never goes below zero."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_core.models import AuditEntry, Product, StockLevel, StockMovement, Warehouse
from tests.conftest import add_user, api_login, page_csrf, web_login
from tests.support.shop import open_shop
from web.appkeys import clock_key, db_key


async def snapshot(app) -> tuple[int, ...]:
    """Row counts of everything a refused request must leave alone, and the stock on hand."""
    async with app[db_key]() as db:
        counts = [
            await db.scalar(select(func.count()).select_from(model))
            for model in (Product, Warehouse, StockMovement, AuditEntry)
        ]
        counts.append(await db.scalar(select(func.coalesce(func.sum(StockLevel.quantity), 0))))
    return tuple(counts)


async def as_admin(client) -> dict[str, str]:
    await add_user(client.app, "boss", "admin")
    return {"X-CSRF-Token": await api_login(client, "boss")}


async def test_a_manager_creates_a_product_and_a_warehouse_and_receives_stock(client):
    headers = await as_admin(client)
    made = await client.post(
        "/api/v1/products",
        headers=headers,
        json={
            "code": " p-100 ",
            "name": "Office chair",
            "category": "hardware",
            "unit_price": "19.9",
        },
    )
    assert made.status == 201, await made.text()
    product = await made.json()
    assert (product["code"], product["unit_price"], product["currency"], product["is_active"]) == (
        "P-100",
        "19.90",
        "USD",
        True,
    )
    main = await (
        await client.post(
            "/api/v1/warehouses", headers=headers, json={"code": "main", "name": "Main"}
        )
    ).json()
    assert main["code"] == "MAIN"
    moved = await client.post(
        f"/api/v1/products/{product['id']}/stock-movements",
        headers=headers,
        json={"warehouse_id": main["id"], "kind": "in", "quantity": 12, "reason": "delivery 77"},
    )
    assert moved.status == 201, await moved.text()
    movement = await moved.json()
    assert (movement["kind"], movement["quantity"], movement["level"], movement["user"]) == (
        "in",
        12,
        12,
        "Boss",
    )
    for kind, quantity, level in (("out", 2, 10), ("adjustment", -1, 9), ("adjustment", 3, 12)):
        response = await client.post(
            f"/api/v1/products/{product['id']}/stock-movements",
            headers=headers,
            json={
                "warehouse_id": main["id"],
                "kind": kind,
                "quantity": quantity,
                "reason": "count",
            },
        )
        assert (await response.json())["level"] == level
    seen = await (await client.get(f"/api/v1/products/{product['id']}")).json()
    assert seen["stock"] == 12
    assert [(w["warehouse"]["code"], w["quantity"]) for w in seen["warehouses"]] == [("MAIN", 12)]
    assert [(m["kind"], m["quantity"]) for m in seen["movements"]] == [
        ("adjustment", 3),
        ("adjustment", -1),
        ("out", -2),
        ("in", 12),
    ]
    page = await (
        await client.get(f"/api/v1/products/{product['id']}/stock-movements?per_page=3&page=2")
    ).json()
    assert [m["quantity"] for m in page["items"]] == [12] and not page["more"]
    assert [w["code"] for w in await (await client.get("/api/v1/warehouses")).json()] == ["MAIN"]


async def test_products_are_searched_by_code_or_name_start_category_and_activity(client):
    headers = await as_admin(client)
    for code, name, category in (
        ("P-100", "Chair", "hardware"),
        ("P-101", "Armchair", "hardware"),
        ("S-1", "Chair assembly", "service"),
        ("X_1", "Office 100% cotton", "accessory"),
    ):
        response = await client.post(
            "/api/v1/products",
            headers=headers,
            json={"code": code, "name": name, "category": category, "unit_price": 1},
        )
        assert response.status == 201

    async def codes(query: str) -> list[str]:
        response = await client.get("/api/v1/products" + query)
        assert response.status == 200, await response.text()
        return [p["code"] for p in (await response.json())["items"]]

    assert await codes("?q=p-1") == ["P-100", "P-101"]
    assert await codes("?q=chair") == ["P-100", "S-1"]
    assert await codes("?q=x_") == ["X_1"] and await codes("?q=%25") == []
    assert await codes("?category=service") == ["S-1"]
    first = await (await client.get("/api/v1/products?per_page=2")).json()
    assert [p["code"] for p in first["items"]] == ["P-100", "P-101"] and first["more"]
    [chair] = [p for p in first["items"] if p["code"] == "P-100"]
    off = await client.patch(
        f"/api/v1/products/{chair['id']}", headers=headers, json={"is_active": False}
    )
    assert (await off.json())["is_active"] is False
    assert await codes("?active=true&q=p") == ["P-101"]
    assert await codes("?active=false") == ["P-100"]
    bad = await client.get("/api/v1/products?active=maybe")
    assert bad.status == 422 and "active" in (await bad.json())["fields"]
    async with client.app[db_key]() as db:
        actions = (await db.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions[-1] == "product.deactivate" and actions.count("product.create") == 4


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"unit_price": "19.999"}, "unit_price", 422),
        ({"unit_price": -1}, "unit_price", 422),
        ({"unit_price": "ten"}, "unit_price", 422),
        ({"category": "weapons"}, "category", 422),
        ({"code": "no spaces"}, "code", 422),
        ({"code": "P-1"}, "code", 409),  # taken, in any case
        ({"name": ""}, "name", 422),
        ({"currency": "usd"}, "currency", 422),
        ({"colour": "red"}, "colour", 422),
    ],
)
async def test_a_bad_product_names_its_field_and_changes_nothing(client, body, field, status):
    headers = await as_admin(client)
    valid = {"code": "p-1", "name": "Thing", "category": "hardware", "unit_price": "1.00"}
    assert (await client.post("/api/v1/products", headers=headers, json=valid)).status == 201
    before = await snapshot(client.app)
    response = await client.post("/api/v1/products", headers=headers, json={**valid, **body})
    assert response.status == status, await response.text()
    assert field in (await response.json())["fields"]
    assert await snapshot(client.app) == before


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"kind": "out", "quantity": 3}, "quantity", 409),  # only 2 there
        ({"kind": "adjustment", "quantity": -3}, "quantity", 409),
        ({"kind": "in", "quantity": -4}, "quantity", 422),
        ({"kind": "in", "quantity": 0}, "quantity", 422),
        ({"kind": "adjustment", "quantity": 0}, "quantity", 422),
        ({"kind": "in", "quantity": 1.5}, "quantity", 422),
        ({"kind": "stolen"}, "kind", 422),
        ({"reason": ""}, "reason", 422),
        ({"warehouse_id": 999}, "warehouse_id", 422),
    ],
)
async def test_a_bad_stock_movement_names_its_field_and_changes_nothing(
    client, body, field, status
):
    headers = await as_admin(client)
    shop = await open_shop(client.app[db_key], client.app[clock_key], chairs=0, desks=2)
    before = await snapshot(client.app)
    given = {"warehouse_id": shop.main, "kind": "in", "quantity": 1, "reason": "count", **body}
    response = await client.post(
        f"/api/v1/products/{shop.desk}/stock-movements", headers=headers, json=given
    )
    assert response.status == status, await response.text()
    problem = await response.json()
    assert field in problem["fields"]
    if status == 409:
        assert problem["error"] == "out_of_stock"
        assert problem["fields"]["quantity"] == "P-7 Desk: only 2 left in Main, 3 wanted"
        assert problem["shortages"][0]["available"] == 2
    assert await snapshot(client.app) == before


async def test_an_agent_looks_products_up_but_may_not_change_them(aiohttp_client, client):
    shop = await open_shop(client.app[db_key], client.app[clock_key])
    await add_user(client.app, "carla", "inbound_agent")
    headers = {"X-CSRF-Token": await api_login(client, "carla")}
    assert (await client.get("/api/v1/products")).status == 200
    assert (await client.get(f"/api/v1/products/{shop.chair}")).status == 200
    assert (await client.get("/api/v1/warehouses")).status == 200
    before = await snapshot(client.app)
    for method, path, body in (
        (
            "POST",
            "/api/v1/products",
            {"code": "Z", "name": "Z", "category": "hardware", "unit_price": 1},
        ),
        ("PATCH", f"/api/v1/products/{shop.chair}", {"is_active": False}),
        ("POST", "/api/v1/warehouses", {"code": "B", "name": "B"}),
        ("PATCH", f"/api/v1/warehouses/{shop.main}", {"name": "B"}),
        (
            "POST",
            f"/api/v1/products/{shop.chair}/stock-movements",
            {"warehouse_id": shop.main, "kind": "in", "quantity": 1, "reason": "x"},
        ),
    ):
        response = await client.request(method, path, headers=headers, json=body)
        assert response.status == 403, (method, path)
    assert await snapshot(client.app) == before
    for path in ("/products/new", f"/products/{shop.chair}/edit"):
        assert (await client.get(path)).status == 403
    await add_user(client.app, "pat", "pbx_admin")
    other = await aiohttp_client(client.server)
    await api_login(other, "pat")
    assert (await other.get("/api/v1/products")).status == 403
    assert (await other.get("/products")).status == 403


async def test_the_pages_list_show_create_edit_and_move_stock(client):
    await add_user(client.app, "boss", "admin")
    await web_login(client, "boss")
    token = await page_csrf(client, "/warehouses")
    response = await client.post(
        "/warehouses",
        data={"csrf_token": token, "code": "north", "name": "North depot"},
        allow_redirects=False,
    )
    assert response.status == 303
    token = await page_csrf(client, "/products/new")
    form = {
        "csrf_token": token,
        "code": "tea-1",
        "name": "Green <tea>",
        "category": "accessory",
        "unit_price": "3.5",
        "currency": "USD",
        "is_active": "on",
    }
    bad = await client.post("/products/new", data={**form, "unit_price": "3.555"})
    assert bad.status == 422
    assert 'data-field="unit_price"' in await bad.text()
    made = await client.post("/products/new", data=form, allow_redirects=False)
    assert made.status == 303
    product_path = made.headers["Location"].split("?")[0]
    page = await (await client.get(product_path)).text()
    assert "TEA-1" in page and "Green &lt;tea&gt;" in page and "3.50 USD" in page
    assert "North depot" in page
    async with client.app[db_key]() as db:
        north = await db.scalar(select(Warehouse.id))
    moved = await client.post(
        product_path + "/stock-movements",
        data={
            "csrf_token": token,
            "warehouse_id": str(north),
            "kind": "in",
            "quantity": "7",
            "reason": "first delivery",
        },
        allow_redirects=False,
    )
    assert moved.status == 303
    short = await client.post(
        product_path + "/stock-movements",
        data={
            "csrf_token": token,
            "warehouse_id": str(north),
            "kind": "out",
            "quantity": "9",
            "reason": "sold",
        },
    )
    assert short.status == 409 and "only 7 left in North depot" in await short.text()
    edited = await client.post(
        product_path + "/edit",
        data={"csrf_token": token, "name": "Green tea", "category": "accessory", "unit_price": "4"},
        allow_redirects=False,
    )
    assert edited.status == 303
    listing = await (await client.get("/products?active=all&q=tea")).text()
    assert "Green tea" in listing and "4.00 USD" in listing and "<td>7</td>" in listing
    assert "/products/new" in listing
    home = await (await client.get("/")).text()
    assert 'href="/products"' in home and 'href="/orders"' in home
