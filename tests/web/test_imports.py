"""Importing customer and product lists and exporting the customer list, through the API:
UTF-8, UTF-8 with BOM, GBK and xlsx; every refused row reported with its reason; a file that
is no list at all refused whole; formula cells made inert on the way out."""

from __future__ import annotations

import csv
import io
import os

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from crm_core.models import AuditEntry, Customer, PhoneNumber, Product
from tests.conftest import add_user, api_login
from tests.web.telephony import add_customer
from web.appkeys import db_key

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _upload(client, token, kind: str, body: bytes, content_type: str = "text/csv"):
    return await client.post(
        f"/api/v1/imports/{kind}?filename=list.csv",
        data=body,
        headers={"X-CSRF-Token": token, "Content-Type": content_type},
    )


async def _count(app, model) -> int:
    async with app[db_key]() as db:
        return await db.scalar(select(func.count()).select_from(model))


async def test_a_utf8_list_imports_the_good_rows_and_reports_each_refused_one(client, app):
    await add_user(app, "ann", "inbound_agent")
    token = await api_login(client, "ann")
    await add_customer(app, "Existing", "+1 555 000 0001")
    async with app[db_key]() as db:
        existing = await db.scalar(select(Customer).where(Customer.name == "Existing"))
        existing.account_number = "AC-1"
        await db.commit()
    text = (
        "Name,Phone,Account_Number,Level,Region,Company\n"
        "Acme Ltd,+1 555 000 1111;(555) 000-2222,AC-2,gold,north,Acme Group\n"
        ",+1 555 000 3333,,,,\n"  # row 3: no name
        "Bad Number,banana,,,,\n"  # row 4
        "Made-up Level,,,platinum,,\n"  # row 5
        "Taken Account,,AC-1,,,\n"  # row 6: the database has it
        "Twice,,AC-3,,,\n"
        "Twice Again,,AC-3,,,\n"  # row 8: the file had it already
        "王小明,+86 138 0013 8000,,,,\n"
    )
    response = await _upload(client, token, "customers", text.encode("utf-8"))
    assert response.status == 200, await response.text()
    result = await response.json()
    assert (result["imported"], result["rejected"]) == (3, 5)
    assert [r["row"] for r in result["first_rejections"]] == [3, 4, 5, 6, 8]
    report = await client.get(result["report"])
    rows = list(csv.reader(io.StringIO((await report.read()).decode("utf-8-sig"))))
    assert rows[0][:2] == ["row", "reason"]
    reasons = {int(row[0]): row[1] for row in rows[1:]}
    assert "name" in reasons[3] and "phone number" in reasons[4] and "dictionary" in reasons[5]
    assert "exists already" in reasons[6] and "exists already" in reasons[8]
    async with app[db_key]() as db:
        acme = await db.scalar(select(Customer).where(Customer.name == "Acme Ltd"))
        assert (acme.level, acme.region, acme.company) == ("gold", "north", "Acme Group")
        assert sorted(n.e164 for n in acme.numbers) == ["+15550001111", "+15550002222"]
    # A call from an imported number pops the imported customer.
    found = await (await client.get("/api/v1/customers", params={"number": "555-000-2222"})).json()
    assert found["cards"][0]["name"] == "Acme Ltd"
    async with app[db_key]() as db:
        (entry,) = await db.scalars(
            select(AuditEntry).where(AuditEntry.action == "customers.import")
        )
    assert entry.after["imported"] == 3 and entry.after["rejected"] == 5


async def test_gbk_and_bom_files_and_an_xlsx_keep_chinese_names(client, app):
    await add_user(app, "ann", "inbound_agent")
    token = await api_login(client, "ann")
    gbk = "name,numbers\n张伟,+86 138 0013 8001\n".encode("gbk")
    bom = "\ufeffname,numbers\n李娜,+86 138 0013 8002\n".encode()
    book = Workbook()
    book.active.append(["Name", "Numbers"])
    book.active.append(["王芳", 5550001234])  # a number typed into a cell (region US)
    xlsx = io.BytesIO()
    book.save(xlsx)
    for body, kind in ((gbk, "text/csv"), (bom, "text/csv"), (xlsx.getvalue(), XLSX)):
        response = await _upload(client, token, "customers", body, kind)
        assert response.status == 200, await response.text()
        assert (await response.json())["imported"] == 1
    async with app[db_key]() as db:
        names = set(await db.scalars(select(Customer.name)))
        numbers = set(await db.scalars(select(PhoneNumber.e164)))
    assert names == {"张伟", "李娜", "王芳"}
    assert "+15550001234" in numbers


async def test_a_file_that_is_no_list_is_refused_whole_and_changes_nothing(client, app):
    await add_user(app, "ann", "inbound_agent")
    token = await api_login(client, "ann")
    garbage = os.urandom(10 * 1024 * 1024)
    for body, field_hint in (
        (garbage, "file"),
        (b"numbers,company\n+1 555 000 1111,Acme\n", "name"),  # the required column missing
        (b"", "empty"),
        (b"PK\x03\x04 not really a zip", "xlsx"),
    ):
        response = await _upload(client, token, "customers", body)
        assert response.status == 422, field_hint
        assert (await response.json())["fields"].get("file"), field_hint
    assert await _count(app, Customer) == 0


async def test_products_import_refuses_prices_with_three_decimals_and_unknown_categories(
    client, app
):
    await add_user(app, "boss", "admin")
    token = await api_login(client, "boss")
    text = (
        "code,name,unit_price,category,active\n"
        "P-1,Widget,19.99,hardware,yes\n"
        "P-2,Gadget,1.999,hardware,yes\n"
        "P-3,Gizmo,5,weapons,yes\n"
        "P-1,Widget again,1,,\n"
        "P-4,Old thing,-1,,no\n"
    )
    result = await (await _upload(client, token, "products", text.encode())).json()
    assert (result["imported"], result["rejected"]) == (1, 4)
    async with app[db_key]() as db:
        (widget,) = await db.scalars(select(Product))
    assert (widget.code, widget.unit_price_cents, widget.category) == ("P-1", 1999, "hardware")


async def test_imports_need_their_permission_and_a_csrf_header(aiohttp_client, client, app):
    await add_user(app, "tl", "team_lead")
    token = await api_login(client, "tl")
    assert (await _upload(client, token, "customers", b"name\nX\n")).status == 403
    await add_user(app, "ann", "inbound_agent")
    agent = await aiohttp_client(client.server)
    await api_login(agent, "ann")
    response = await agent.post(
        "/api/v1/imports/customers", data=b"name\nX\n", headers={"Content-Type": "text/csv"}
    )
    assert response.status == 403
    assert await _count(app, Customer) == 0


async def test_an_export_makes_formula_cells_inert_in_csv_and_xlsx(client, app):
    await add_user(app, "ann", "inbound_agent")
    await api_login(client, "ann")
    await add_customer(app, "=cmd|' /C calc'!A0", "+1 555 000 1111")
    await add_customer(app, "@SUM(1+1)", "+1 555 000 2222")
    await add_customer(app, "Acme Ltd", "+1 555 000 3333")
    response = await client.get("/customers", params={"format": "csv"})
    assert response.status == 200
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    names = [row[1] for row in rows[1:]]
    assert names == ["'=cmd|' /C calc'!A0", "'@SUM(1+1)", "Acme Ltd"]
    response = await client.get("/customers", params={"format": "xlsx", "q": "acme"})
    sheet = load_workbook(io.BytesIO(await response.read())).active
    assert [c.value for c in sheet[2]][1] == "Acme Ltd" and sheet.max_row == 2
    assert (await client.get("/customers", params={"format": "pdf"})).status == 422


async def test_every_list_page_exports_what_it_lists_as_csv_and_xlsx(client, app):
    await add_user(app, "boss", "admin")
    token = await api_login(client, "boss")
    text = "code,name,unit_price,category\nP-1,=HYPERLINK(evil),5,hardware\nP-2,Gadget,7,\n"
    assert (await (await _upload(client, token, "products", text.encode())).json())["imported"] == 2
    response = await client.get("/products", params={"format": "csv", "q": "P-1"})
    assert response.status == 200
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert "code" in rows[0] and len(rows) == 2
    assert rows[1][rows[0].index("name")] == "'=HYPERLINK(evil)"
    for path in ("/orders", "/service-requests", "/opportunities", "/churn-warnings", "/customers"):
        for kind in ("csv", "xlsx"):
            response = await client.get(path, params={"format": kind})
            assert response.status == 200, (path, kind)
            assert "attachment" in response.headers["Content-Disposition"], (path, kind)
        assert (await client.get(path, params={"format": "exe"})).status == 422, path
    page = await (await client.get("/orders", params={"status": "draft"})).text()
    assert "status=draft&amp;format=csv" in page
