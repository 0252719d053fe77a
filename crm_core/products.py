"""Products, warehouses and stock (产品信息, 库存).

A product has a unique code (kept upper-case, so ``p-100`` and ``P-100`` are one product), a name,
a category from the data dictionary (``product_category``), a unit price in integer cents and an
active flag; a product no longer sold is deactivated, never deleted (orders name it).

Stock is one level per product and warehouse, changed only by movements, each kept with its
kind, signed quantity, reason, who and when:

- ``in``: goods received (quantity > 0);
- ``out``: goods taken (quantity > 0 given, stored negative); an order's confirmation takes its
  lines this way (``order_id`` set) and its cancellation puts them back as ``in``;
- ``adjustment``: a correction after a count, signed (``-3``: three found missing).

A level never goes below zero. Stock is taken with one conditional UPDATE
(``quantity = quantity - n WHERE ... AND quantity >= n``) and the row count says whether it was
there, so two orders for the last unit cannot both have it: on PostgreSQL the second UPDATE
waits for the first's commit and then finds too little; SQLite runs one writer at a time. The
table's CHECK (quantity >= 0) is the backstop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, ValidationInfo, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import Actor
from crm_core.clock import Clock
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import (
    DictionaryEntry,
    Order,
    Product,
    StockLevel,
    StockMovement,
    User,
    Warehouse,
)
from crm_core.money import Currency, Price, cents, money
from crm_core.schemas import Code, Input
from crm_core.text import Line

PRODUCT_CATEGORY = "product_category"  # the dictionary category of products
MAX_QUANTITY = 1_000_000  # of one movement or one order line

ItemCode = Annotated[
    str,
    BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),
    StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9._-]*$"),
    Field(description="1–32 letters, digits, '.', '_', '-'; kept upper-case"),
]


class ProductCreate(Input):
    code: ItemCode
    name: Line(200)  # type: ignore[valid-type]
    category: Code
    unit_price: Price
    currency: Currency = "USD"
    is_active: bool = True


class ProductUpdate(Input):
    """Only the fields given change. The code stays: other systems and old orders name it."""

    name: Line(200) | None = None  # type: ignore[valid-type]
    category: Code | None = None
    unit_price: Price | None = None
    is_active: bool | None = None


class WarehouseCreate(Input):
    code: ItemCode
    name: Line(200)  # type: ignore[valid-type]


class WarehouseUpdate(Input):
    name: Line(200) | None = None  # type: ignore[valid-type]
    is_active: bool | None = None


class StockMovementCreate(Input):
    warehouse_id: int = Field(ge=1)
    kind: Literal["in", "out", "adjustment"]
    quantity: int = Field(
        ge=-MAX_QUANTITY,
        le=MAX_QUANTITY,
        description="in and out: how many (> 0); adjustment: the signed correction",
    )
    reason: Line(500)  # type: ignore[valid-type]

    @field_validator("quantity")
    @classmethod
    def _sign_fits_kind(cls, value: int, info: ValidationInfo) -> int:
        kind = info.data.get("kind")
        if kind in ("in", "out") and value <= 0:
            raise ValueError(f"a movement {kind} needs a quantity above zero")
        if kind == "adjustment" and value == 0:
            raise ValueError("an adjustment of zero changes nothing")
        return value


class ProductFilter(Input):
    q: Line(64, min_length=0) = ""  # type: ignore[valid-type]
    category: Code | None = None
    active: bool | None = None  # None: active and inactive


class OutOfStock(Conflict):
    """Too little of a product where it was to be taken; ``fields`` names each input at fault."""

    code = "out_of_stock"

    def __init__(self, message: str, *, shortages: list[Shortage], fields: dict[str, str]) -> None:
        super().__init__(message, fields=fields)
        self.shortages = shortages

    def details(self) -> dict[str, Any]:
        return {"shortages": [s.as_dict() for s in self.shortages]}


@dataclass(frozen=True, slots=True)
class Shortage:
    product_id: int
    product: str  # code and name, as the message says it
    warehouse_id: int
    available: int
    wanted: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "warehouse_id": self.warehouse_id,
            "available": self.available,
            "wanted": self.wanted,
        }

    def message(self, warehouse: str) -> str:
        left = f"only {self.available} left" if self.available else "none left"
        return f"{self.product}: {left} in {warehouse}, {self.wanted} wanted"


@dataclass(frozen=True, slots=True)
class StockTake:
    """One quantity of one product to take from one warehouse; ``field`` is the input it came
    from (``quantity``, ``lines.2.quantity``), named in the error when there is too little."""

    product_id: int
    warehouse_id: int
    quantity: int
    field: str = "quantity"


def product_json(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "code": product.code,
        "name": product.name,
        "category": product.category,
        "unit_price": money(product.unit_price_cents),
        "currency": product.currency,
        "is_active": product.is_active,
        "created_at": product.created_at.isoformat(),
        "updated_at": product.updated_at.isoformat(),
    }


def warehouse_json(warehouse: Warehouse) -> dict[str, Any]:
    return {
        "id": warehouse.id,
        "code": warehouse.code,
        "name": warehouse.name,
        "is_active": warehouse.is_active,
    }


def _product_snapshot(product: Product) -> dict[str, Any]:
    return {
        "code": product.code,
        "name": product.name,
        "category": product.category,
        "unit_price": money(product.unit_price_cents),
        "currency": product.currency,
        "is_active": product.is_active,
    }


def label(product: Product) -> str:
    return f"{product.code} {product.name}"


# Stock: the two primitives every change of a level goes through.


async def take_stock(
    session: AsyncSession,
    takes: list[StockTake],
    *,
    at: datetime,
    user_id: int | None,
    reason: str,
    order_id: int | None = None,
    kind: str = "out",
) -> list[StockMovement]:
    """Take every quantity or none: each with one conditional UPDATE, in product order (two
    orders taking the same products lock their rows in the same order, so they cannot
    deadlock). Raises OutOfStock naming every one short; the caller's unit of work then rolls
    back the takes that succeeded."""
    shortages: list[tuple[StockTake, int]] = []
    for take in sorted(takes, key=lambda t: (t.product_id, t.warehouse_id)):
        result = await session.execute(
            update(StockLevel)
            .where(
                StockLevel.product_id == take.product_id,
                StockLevel.warehouse_id == take.warehouse_id,
                StockLevel.quantity >= take.quantity,
            )
            .values(quantity=StockLevel.quantity - take.quantity)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            shortages.append((take, await stock_level(session, take.product_id, take.warehouse_id)))
    if shortages:
        raise await _out_of_stock(session, shortages)
    return _movements(
        session, takes, -1, at=at, user_id=user_id, reason=reason, order_id=order_id, kind=kind
    )


async def put_stock(
    session: AsyncSession,
    puts: list[StockTake],
    *,
    at: datetime,
    user_id: int | None,
    reason: str,
    order_id: int | None = None,
    kind: str = "in",
) -> list[StockMovement]:
    """Add to the levels, creating a level the first time a product comes to a warehouse (one
    upsert, so two first deliveries at once both count)."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    for put in sorted(puts, key=lambda t: (t.product_id, t.warehouse_id)):
        statement = insert(StockLevel).values(
            product_id=put.product_id, warehouse_id=put.warehouse_id, quantity=put.quantity
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[StockLevel.product_id, StockLevel.warehouse_id],
                set_={"quantity": StockLevel.quantity + statement.excluded.quantity},
            )
        )
    return _movements(
        session, puts, 1, at=at, user_id=user_id, reason=reason, order_id=order_id, kind=kind
    )


def _movements(
    session: AsyncSession,
    changes: list[StockTake],
    sign: int,
    *,
    at: datetime,
    user_id: int | None,
    reason: str,
    order_id: int | None,
    kind: str,
) -> list[StockMovement]:
    rows = [
        StockMovement(
            product_id=change.product_id,
            warehouse_id=change.warehouse_id,
            kind=kind,
            quantity=sign * change.quantity,
            reason=reason[:500],
            order_id=order_id,
            user_id=user_id,
            created_at=at,
        )
        for change in changes
    ]
    session.add_all(rows)
    return rows


async def stock_level(session: AsyncSession, product_id: int, warehouse_id: int) -> int:
    found = await session.scalar(
        select(StockLevel.quantity).where(
            StockLevel.product_id == product_id, StockLevel.warehouse_id == warehouse_id
        )
    )
    return found or 0


async def _out_of_stock(
    session: AsyncSession, shortages: list[tuple[StockTake, int]]
) -> OutOfStock:
    products = {
        p.id: p
        for p in await session.scalars(
            select(Product).where(Product.id.in_({t.product_id for t, _ in shortages}))
        )
    }
    warehouses = {
        w.id: w
        for w in await session.scalars(
            select(Warehouse).where(Warehouse.id.in_({t.warehouse_id for t, _ in shortages}))
        )
    }
    found = [
        Shortage(
            product_id=take.product_id,
            product=label(products[take.product_id]),
            warehouse_id=take.warehouse_id,
            available=available,
            wanted=take.quantity,
        )
        for take, available in shortages
    ]
    messages = [s.message(warehouses[s.warehouse_id].name) for s in found]
    fields = {take.field: message for (take, _), message in zip(shortages, messages, strict=True)}
    return OutOfStock("not enough stock: " + "; ".join(messages), shortages=found, fields=fields)


@dataclass(frozen=True, slots=True)
class StockRow:
    warehouse: Warehouse
    quantity: int

    def as_dict(self) -> dict[str, Any]:
        return {"warehouse": warehouse_json(self.warehouse), "quantity": self.quantity}


@dataclass(frozen=True, slots=True)
class MovementRow:
    movement: StockMovement
    warehouse_name: str
    user_name: str | None
    order_reference: str | None

    def as_dict(self) -> dict[str, Any]:
        m = self.movement
        return {
            "id": m.id,
            "product_id": m.product_id,
            "warehouse_id": m.warehouse_id,
            "warehouse": self.warehouse_name,
            "kind": m.kind,
            "quantity": m.quantity,
            "reason": m.reason,
            "order_id": m.order_id,
            "order_reference": self.order_reference,
            "user_id": m.user_id,
            "user": self.user_name,
            "at": m.created_at.isoformat(),
        }


class ProductService:
    def __init__(self, session: AsyncSession, *, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    # Products.

    async def search(
        self, wanted: ProductFilter, *, limit: int = 50, offset: int = 0
    ) -> list[Product]:
        """By code: products whose code or name starts with ``q`` (any case), in the category,
        active or not as asked."""
        query = select(Product).order_by(Product.code)
        if wanted.q:
            escaped = wanted.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(
                Product.code.like(escaped.upper() + "%", escape="\\")
                | func.lower(Product.name).like(escaped.lower() + "%", escape="\\")
            )
        if wanted.category is not None:
            query = query.where(Product.category == wanted.category)
        if wanted.active is not None:
            query = query.where(Product.is_active.is_(wanted.active))
        return list(await self.session.scalars(query.limit(limit).offset(offset)))

    async def get(self, product_id: int) -> Product:
        product = await self.session.get(Product, product_id)
        if product is None:
            raise NotFound(f"no product {product_id}", field="product_id")
        return product

    async def create(self, data: ProductCreate, actor: Actor) -> Product:
        await self._check_category(data.category)
        if await self.session.scalar(select(Product.id).where(Product.code == data.code)):
            raise Conflict(f"product code {data.code} is taken", field="code")
        now = self.clock()
        product = Product(
            code=data.code,
            name=data.name,
            category=data.category,
            unit_price_cents=cents(data.unit_price),
            currency=data.currency,
            is_active=data.is_active,
            created_at=now,
            updated_at=now,
        )
        self.session.add(product)
        await self._flush_unique(f"product code {data.code} is taken", "code")
        audit.record(
            self.session,
            actor,
            at=now,
            action="product.create",
            entity_type="product",
            entity_id=product.id,
            after=_product_snapshot(product),
        )
        return product

    async def update(self, product_id: int, data: ProductUpdate, actor: Actor) -> Product:
        product = await self.get(product_id)
        before = _product_snapshot(product)
        if data.category is not None and data.category != product.category:
            await self._check_category(data.category)
            product.category = data.category
        if data.name is not None:
            product.name = data.name
        if data.unit_price is not None:
            product.unit_price_cents = cents(data.unit_price)
        if data.is_active is not None:
            product.is_active = data.is_active
        after = _product_snapshot(product)
        if after != before:
            product.updated_at = self.clock()
            action = "product.update"
            if after["is_active"] != before["is_active"]:
                action = "product.activate" if product.is_active else "product.deactivate"
            audit.record(
                self.session,
                actor,
                at=product.updated_at,
                action=action,
                entity_type="product",
                entity_id=product.id,
                before=before,
                after=after,
            )
        return product

    async def categories(self) -> list[DictionaryEntry]:
        return list(
            await self.session.scalars(
                select(DictionaryEntry)
                .where(DictionaryEntry.category == PRODUCT_CATEGORY)
                .order_by(DictionaryEntry.sort_order, DictionaryEntry.code)
            )
        )

    async def _check_category(self, code: str) -> None:
        found = await self.session.scalar(
            select(DictionaryEntry.id).where(
                DictionaryEntry.category == PRODUCT_CATEGORY,
                DictionaryEntry.code == code,
                DictionaryEntry.is_active.is_(True),
            )
        )
        if found is None:
            raise InvalidInput(
                f"{code!r} is not a product category in the data dictionary", field="category"
            )

    async def _flush_unique(self, message: str, field: str) -> None:
        """Flush; a unique code taken meanwhile by another request is a conflict, not a 500."""
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise Conflict(message, field=field) from exc

    # Warehouses.

    async def warehouses(self, *, active_only: bool = False) -> list[Warehouse]:
        query = select(Warehouse).order_by(Warehouse.code)
        if active_only:
            query = query.where(Warehouse.is_active.is_(True))
        return list(await self.session.scalars(query))

    async def warehouse(self, warehouse_id: int) -> Warehouse:
        found = await self.session.get(Warehouse, warehouse_id)
        if found is None:
            raise NotFound(f"no warehouse {warehouse_id}", field="warehouse_id")
        return found

    async def named_warehouse(self, warehouse_id: int, *, field: str = "warehouse_id") -> Warehouse:
        """A warehouse an input names: one that does not exist is bad input (422)."""
        found = await self.session.get(Warehouse, warehouse_id)
        if found is None:
            raise InvalidInput(f"there is no warehouse {warehouse_id}", field=field)
        return found

    async def create_warehouse(self, data: WarehouseCreate, actor: Actor) -> Warehouse:
        if await self.session.scalar(select(Warehouse.id).where(Warehouse.code == data.code)):
            raise Conflict(f"warehouse code {data.code} is taken", field="code")
        warehouse = Warehouse(code=data.code, name=data.name, is_active=True)
        self.session.add(warehouse)
        await self._flush_unique(f"warehouse code {data.code} is taken", "code")
        audit.record(
            self.session,
            actor,
            at=self.clock(),
            action="warehouse.create",
            entity_type="warehouse",
            entity_id=warehouse.id,
            after=warehouse_json(warehouse),
        )
        return warehouse

    async def update_warehouse(
        self, warehouse_id: int, data: WarehouseUpdate, actor: Actor
    ) -> Warehouse:
        warehouse = await self.warehouse(warehouse_id)
        before = warehouse_json(warehouse)
        if data.name is not None:
            warehouse.name = data.name
        if data.is_active is not None:
            warehouse.is_active = data.is_active
        after = warehouse_json(warehouse)
        if after != before:
            audit.record(
                self.session,
                actor,
                at=self.clock(),
                action="warehouse.update",
                entity_type="warehouse",
                entity_id=warehouse.id,
                before=before,
                after=after,
            )
        return warehouse

    # Stock.

    async def stock(self, product_id: int) -> list[StockRow]:
        """The product's level in every warehouse (zero where it never came), by code;
        inactive warehouses only where something is left."""
        rows = await self.session.execute(
            select(Warehouse, func.coalesce(StockLevel.quantity, 0))
            .outerjoin(
                StockLevel,
                (StockLevel.warehouse_id == Warehouse.id) & (StockLevel.product_id == product_id),
            )
            .where(Warehouse.is_active.is_(True) | (StockLevel.quantity > 0))
            .order_by(Warehouse.code)
        )
        return [StockRow(warehouse, quantity) for warehouse, quantity in rows]

    async def stock_totals(self, product_ids: list[int]) -> dict[int, int]:
        rows = await self.session.execute(
            select(StockLevel.product_id, func.sum(StockLevel.quantity))
            .where(StockLevel.product_id.in_(product_ids))
            .group_by(StockLevel.product_id)
        )
        return {product_id: int(total) for product_id, total in rows}

    async def movements(
        self, product_id: int, *, limit: int = 50, offset: int = 0
    ) -> list[MovementRow]:
        """Newest first."""
        return await self._movement_rows(
            StockMovement.product_id == product_id, limit=limit, offset=offset
        )

    async def movement(self, movement_id: int) -> MovementRow:
        [row] = await self._movement_rows(StockMovement.id == movement_id, limit=1, offset=0)
        return row

    async def _movement_rows(self, where: Any, *, limit: int, offset: int) -> list[MovementRow]:
        rows = await self.session.execute(
            select(StockMovement, Warehouse.name, User.display_name, Order.reference)
            .join(Warehouse, Warehouse.id == StockMovement.warehouse_id)
            .outerjoin(User, User.id == StockMovement.user_id)
            .outerjoin(Order, Order.id == StockMovement.order_id)
            .where(where)
            .order_by(StockMovement.created_at.desc(), StockMovement.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [MovementRow(*row) for row in rows]

    async def move(self, product_id: int, data: StockMovementCreate, actor: Actor) -> StockMovement:
        """A movement by hand: goods in, goods out, or a correction after a count."""
        product = await self.get(product_id)
        warehouse = await self.named_warehouse(data.warehouse_id)
        change = StockTake(product.id, warehouse.id, abs(data.quantity))
        now = self.clock()
        common = {"at": now, "user_id": actor.user_id, "reason": data.reason, "kind": data.kind}
        if data.kind == "in" or (data.kind == "adjustment" and data.quantity > 0):
            [movement] = await put_stock(self.session, [change], **common)
        else:
            [movement] = await take_stock(self.session, [change], **common)
        await self.session.flush()
        audit.record(
            self.session,
            actor,
            at=now,
            action="stock.move",
            entity_type="product",
            entity_id=product.id,
            after={
                "warehouse": warehouse.code,
                "kind": data.kind,
                "quantity": movement.quantity,
                "reason": data.reason,
                "level": await stock_level(self.session, product.id, warehouse.id),
            },
        )
        return movement
