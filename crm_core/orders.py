"""Orders with lines, their workflow, and the queries the pages, the API and the call lists use.

The workflow is a table (``NEXT``) and one pure function (``step``), tested directly:

    draft ─▶ awaiting_confirmation ─▶ confirmed ─▶ shipped ─▶ completed
      └────────────┴──────────────────────┴─▶ cancelled

Every move is an ``OrderEvent`` (who, when, from, to, note) and an audit row. Confirming takes
stock for every line from the order's warehouse, all or nothing; cancelling a confirmed order
puts back exactly what its confirmation took. Both are ``StockMovement`` rows naming the order.

Lines: a product (active), a quantity > 0, and the unit price, which is the product's price
when the line is written. A line may carry another price only when the user also holds
``products.manage`` (the views pass ``may_set_price``): an agent with ``orders.write`` takes
the catalogue price, a manager may give a discount. An edited order keeps the price a line for
the same product already had, so an agent changing a quantity does not undo a manager's price.
Lines change while the order is a draft or awaits confirmation; from confirmation on (stock
taken) they are fixed: cancel and order again.

Money: unit prices and totals are integer cents (``crm_core.money``); the API shows decimals.
Dates of the list filters are UTC days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints
from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from crm_core import audit
from crm_core.audit import Actor
from crm_core.clock import Clock
from crm_core.customers import customer_exists
from crm_core.errors import Conflict, Forbidden, InvalidInput, NotFound
from crm_core.models import (
    Customer,
    Order,
    OrderEvent,
    OrderLine,
    Product,
    StockMovement,
    User,
    Warehouse,
)
from crm_core.money import MAX_CENTS, Price, cents, money
from crm_core.products import MAX_QUANTITY, StockTake, label, put_stock, take_stock
from crm_core.schemas import Input
from crm_core.text import Line, Paragraph

# The workflow.

DRAFT = "draft"
AWAITING_CONFIRMATION = "awaiting_confirmation"
CONFIRMED = "confirmed"
SHIPPED = "shipped"
COMPLETED = "completed"
CANCELLED = "cancelled"
STATUSES = (DRAFT, AWAITING_CONFIRMATION, CONFIRMED, SHIPPED, COMPLETED, CANCELLED)
NEXT: dict[str, tuple[str, ...]] = {
    DRAFT: (AWAITING_CONFIRMATION, CANCELLED),
    AWAITING_CONFIRMATION: (CONFIRMED, CANCELLED),
    CONFIRMED: (SHIPPED, CANCELLED),
    SHIPPED: (COMPLETED,),
    COMPLETED: (),
    CANCELLED: (),
}
OPEN_STATUSES = (DRAFT, AWAITING_CONFIRMATION, CONFIRMED, SHIPPED)  # the card shows these
EDITABLE_STATUSES = (DRAFT, AWAITING_CONFIRMATION)  # before stock is taken
# What the button for a move to each status says.
ACTIONS = {
    AWAITING_CONFIRMATION: "Submit for confirmation",
    CONFIRMED: "Confirm",
    SHIPPED: "Mark shipped",
    COMPLETED: "Mark completed",
    CANCELLED: "Cancel order",
}
Status = Literal["draft", "awaiting_confirmation", "confirmed", "shipped", "completed", "cancelled"]


class TransitionRefused(Conflict):
    """The order's status does not allow that move (now)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One allowed move and what it does besides changing the status."""

    from_status: str
    to_status: str

    @property
    def takes_stock(self) -> bool:
        return self.to_status == CONFIRMED

    @property
    def returns_stock(self) -> bool:
        return self.from_status == CONFIRMED and self.to_status == CANCELLED


def step(from_status: str, to_status: str) -> Step:
    """The move from one status to another, or TransitionRefused. Pure."""
    if to_status not in NEXT:
        raise InvalidInput(f"{to_status!r} is not an order status", field="to")
    allowed = NEXT.get(from_status, ())
    if to_status not in allowed:
        then = ", ".join(allowed) if allowed else "nothing (it is closed)"
        raise TransitionRefused(
            f"an order {from_status} cannot become {to_status}; it can become {then}",
            field="to",
        )
    return Step(from_status, to_status)


# Money of lines and orders (pure).


def line_total(quantity: int, unit_price_cents: int) -> int:
    return quantity * unit_price_cents


def order_total(lines: Sequence[OrderLine]) -> int:
    return sum(line.line_total_cents for line in lines)


# Inputs.

CallId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


class LineInput(Input):
    product_id: int = Field(ge=1)
    quantity: int = Field(gt=0, le=MAX_QUANTITY)
    unit_price: Price | None = Field(
        default=None,
        description="Another price than the product's: needs products.manage as well",
    )


class OrderCreate(Input):
    customer_id: int = Field(ge=1)
    lines: list[LineInput] = Field(min_length=1, max_length=100)
    warehouse_id: int | None = Field(
        default=None, ge=1, description="Where it ships from; default: the first active one"
    )
    notes: Paragraph(2000) = ""  # type: ignore[valid-type]
    call_id: CallId | None = Field(default=None, description="The call it was taken during")


class OrderUpdate(Input):
    """Only the fields given change; ``lines`` given replace the order's lines."""

    lines: list[LineInput] | None = Field(default=None, min_length=1, max_length=100)
    warehouse_id: int | None = Field(default=None, ge=1)
    notes: Paragraph(2000) | None = None  # type: ignore[valid-type]


class TransitionInput(Input):
    to: Status
    note: Line(500, min_length=0) = ""  # type: ignore[valid-type]


class OrderFilter(Input):
    customer_id: int | None = Field(default=None, ge=1)
    created_by: int | None = Field(default=None, ge=1, description="The agent who took it")
    status: list[Status] = Field(default_factory=list, max_length=len(STATUSES))
    placed_from: date | None = Field(default=None, description="First UTC day, inclusive")
    placed_to: date | None = Field(default=None, description="Last UTC day, inclusive")
    product_id: int | None = Field(default=None, ge=1, description="Orders with this product")


# Reading orders back.


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "reference": order.reference,
        "status": order.status,
        "customer_id": order.customer_id,
        "summary": order.summary,
        "amount": money(order.amount_cents),
        "currency": order.currency,
        "placed_at": order.placed_at.isoformat(),
        "updated_at": order.updated_at.isoformat() if order.updated_at else None,
        "created_by": order.created_by,
        "call_id": order.call_linked_id,
        "warehouse_id": order.warehouse_id,
        "notes": order.notes,
        "next": list(NEXT.get(order.status, ())),
        "editable": order.status in EDITABLE_STATUSES,
    }


@dataclass(frozen=True, slots=True)
class OrderRow:
    """An order as a list shows it: with its customer's and its agent's names."""

    order: Order
    customer_name: str
    created_by_name: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            **order_json(self.order),
            "customer": self.customer_name,
            "created_by_name": self.created_by_name,
        }


@dataclass(frozen=True, slots=True)
class AwaitingOrder:
    """An order waiting for the customer's confirmation: an entry of a confirmation call list."""

    order_id: int
    reference: str
    customer_id: int
    customer_name: str
    amount_cents: int
    currency: str
    placed_at: datetime
    awaiting_since: datetime
    created_by: int | None
    call_linked_id: str | None


class OrderService:
    def __init__(self, session: AsyncSession, *, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def get(self, order_id: int) -> Order:
        order = await self.session.get(Order, order_id)
        if order is None:
            raise NotFound(f"no order {order_id}", field="order_id")
        return order

    # Changes.

    async def create(self, data: OrderCreate, actor: Actor, *, may_set_price: bool) -> Order:
        if not await customer_exists(self.session, data.customer_id):
            raise InvalidInput(f"there is no customer {data.customer_id}", field="customer_id")
        warehouse_id = await self._warehouse_id(data.warehouse_id)
        lines, currency, labels = await self._priced_lines(
            data.lines, {}, may_set_price=may_set_price
        )
        now = self.clock()
        order = Order(
            customer_id=data.customer_id,
            reference="",
            status=DRAFT,
            amount_cents=0,
            currency=currency,
            placed_at=now,
            updated_at=now,
            created_by=actor.user_id,
            call_linked_id=data.call_id,
            warehouse_id=warehouse_id,
            notes=data.notes,
        )
        self.session.add(order)
        await self.session.flush()
        order.reference = f"SO-{order.id:06d}"
        await self._set_lines(order, lines, labels)
        self.session.add(
            OrderEvent(
                order_id=order.id,
                from_status="",
                to_status=DRAFT,
                user_id=actor.user_id,
                note="",
                at=now,
            )
        )
        audit.record(
            self.session,
            actor,
            at=now,
            action="order.create",
            entity_type="order",
            entity_id=order.id,
            after=await self._snapshot(order),
        )
        return order

    async def update(
        self, order_id: int, data: OrderUpdate, actor: Actor, *, may_set_price: bool
    ) -> Order:
        order = await self._locked(order_id)
        if order.status not in EDITABLE_STATUSES:
            raise Conflict(
                f"order {order.reference} is {order.status}: its lines are fixed (cancel it "
                "and order again)",
                field="status",
            )
        before = await self._snapshot(order)
        if data.lines is not None:
            kept = {line.product_id: line.unit_price_cents for line in await self.lines(order.id)}
            lines, currency, labels = await self._priced_lines(
                data.lines, kept, may_set_price=may_set_price
            )
            order.currency = currency
            await self._set_lines(order, lines, labels)
        if data.warehouse_id is not None:
            order.warehouse_id = await self._warehouse_id(data.warehouse_id)
        if data.notes is not None:
            order.notes = data.notes
        after = await self._snapshot(order)
        if after != before:
            order.updated_at = self.clock()
            audit.record(
                self.session,
                actor,
                at=order.updated_at,
                action="order.update",
                entity_type="order",
                entity_id=order.id,
                before=before,
                after=after,
            )
        return order

    async def transition(
        self, order_id: int, to_status: str, actor: Actor, *, note: str = ""
    ) -> Order:
        """Move the order on, if its status allows; confirming takes the stock of every line
        (or raises OutOfStock and nothing changes), cancelling a confirmed order returns it."""
        order = await self.get(order_id)
        move = step(order.status, to_status)
        if move.takes_stock and order.warehouse_id is None:
            raise InvalidInput("choose the warehouse the order ships from", field="warehouse_id")
        now = self.clock()
        # Only from the status just read: of two moves at once, the second finds it changed.
        moved = await self.session.execute(
            update(Order)
            .where(Order.id == order.id, Order.status == move.from_status)
            .values(status=move.to_status, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            await self.session.refresh(order)
            raise TransitionRefused(
                f"order {order.reference} was changed meanwhile (it is {order.status} now)",
                field="to",
            )
        set_committed_value(order, "status", move.to_status)
        set_committed_value(order, "updated_at", now)
        reason = f"order {order.reference} {move.to_status}"
        if move.takes_stock:
            assert order.warehouse_id is not None
            takes = [
                StockTake(
                    line.product_id, order.warehouse_id, line.quantity, f"lines.{index}.quantity"
                )
                for index, line in enumerate(await self.lines(order.id))
            ]
            await take_stock(
                self.session,
                takes,
                at=now,
                user_id=actor.user_id,
                reason=reason,
                order_id=order.id,
            )
        if move.returns_stock:
            await put_stock(
                self.session,
                await self._taken(order.id),
                at=now,
                user_id=actor.user_id,
                reason=reason,
                order_id=order.id,
            )
        self.session.add(
            OrderEvent(
                order_id=order.id,
                from_status=move.from_status,
                to_status=move.to_status,
                user_id=actor.user_id,
                note=note,
                at=now,
            )
        )
        audit.record(
            self.session,
            actor,
            at=now,
            action="order.transition",
            entity_type="order",
            entity_id=order.id,
            before={"status": move.from_status},
            after={"status": move.to_status, "note": note},
        )
        await self.session.flush()
        return order

    async def _locked(self, order_id: int) -> Order:
        """The order, its row locked until the unit of work ends (PostgreSQL), so that an edit
        and a confirmation cannot interleave (SQLite has one writer at a time anyway)."""
        order = await self.session.scalar(
            select(Order).where(Order.id == order_id).with_for_update()
        )
        if order is None:
            raise NotFound(f"no order {order_id}", field="order_id")
        return order

    async def _taken(self, order_id: int) -> list[StockTake]:
        """What the order's confirmation took, per product and warehouse."""
        rows = await self.session.execute(
            select(
                StockMovement.product_id,
                StockMovement.warehouse_id,
                func.sum(StockMovement.quantity),
            )
            .where(StockMovement.order_id == order_id, StockMovement.kind == "out")
            .group_by(StockMovement.product_id, StockMovement.warehouse_id)
        )
        return [StockTake(p, w, -int(q)) for p, w, q in rows if q]

    async def _warehouse_id(self, given: int | None) -> int | None:
        if given is not None:
            if await self.session.get(Warehouse, given) is None:
                raise InvalidInput(f"there is no warehouse {given}", field="warehouse_id")
            return given
        return await self.session.scalar(
            select(Warehouse.id)
            .where(Warehouse.is_active.is_(True))
            .order_by(Warehouse.code)
            .limit(1)
        )

    async def _priced_lines(
        self, given: list[LineInput], kept: dict[int, int], *, may_set_price: bool
    ) -> tuple[list[OrderLine], str, dict[int, str]]:
        """Lines priced from the catalogue (or a kept or permitted price), each checked; the
        order's currency (every product's); the products' labels."""
        products = {
            p.id: p
            for p in await self.session.scalars(
                select(Product).where(Product.id.in_({line.product_id for line in given}))
            )
        }
        problems: dict[str, str] = {}
        lines: list[OrderLine] = []
        seen: dict[int, int] = {}
        currency: str | None = None
        for index, item in enumerate(given):
            product = products.get(item.product_id)
            at = f"lines.{index}"
            if product is None:
                problems[f"{at}.product_id"] = f"there is no product {item.product_id}"
                continue
            if not product.is_active:
                problems[f"{at}.product_id"] = f"{label(product)} is no longer sold"
                continue
            if item.product_id in seen:
                problems[f"{at}.product_id"] = (
                    f"{label(product)} is already on line {seen[item.product_id] + 1}"
                )
                continue
            seen[item.product_id] = index
            currency = currency or product.currency
            if product.currency != currency:
                problems[f"{at}.product_id"] = (
                    f"{label(product)} is priced in {product.currency}, the order in {currency}"
                )
                continue
            price = kept.get(product.id, product.unit_price_cents)
            if item.unit_price is not None and cents(item.unit_price) != price:
                if not may_set_price:
                    raise Forbidden(
                        "only a user who may manage products sets another price than the "
                        f"product's ({money(price)})",
                        field=f"{at}.unit_price",
                    )
                price = cents(item.unit_price)
            total = line_total(item.quantity, price)
            if total > MAX_CENTS:
                problems[f"{at}.quantity"] = f"the line's total is above {money(MAX_CENTS)}"
                continue
            lines.append(
                OrderLine(
                    product_id=product.id,
                    quantity=item.quantity,
                    unit_price_cents=price,
                    line_total_cents=total,
                )
            )
        if not problems and order_total(lines) > MAX_CENTS:
            problems["lines"] = f"the order's total is above {money(MAX_CENTS)}"
        if problems:
            raise InvalidInput("; ".join(f"{k}: {v}" for k, v in problems.items()), fields=problems)
        assert currency is not None
        return lines, currency, {p.id: label(p) for p in products.values()}

    async def _set_lines(
        self, order: Order, lines: list[OrderLine], labels: dict[int, str]
    ) -> None:
        for old in await self.lines(order.id):
            await self.session.delete(old)
        for line in lines:
            line.order_id = order.id
        self.session.add_all(lines)
        await self.session.flush()
        order.amount_cents = order_total(lines)
        order.summary = _summary(lines, labels)

    async def _snapshot(self, order: Order) -> dict[str, Any]:
        return {
            "reference": order.reference,
            "status": order.status,
            "customer_id": order.customer_id,
            "warehouse_id": order.warehouse_id,
            "amount": money(order.amount_cents),
            "currency": order.currency,
            "notes": order.notes,
            "lines": [
                {
                    "product_id": line.product_id,
                    "quantity": line.quantity,
                    "unit_price": money(line.unit_price_cents),
                }
                for line in await self.lines(order.id)
            ],
        }

    # Reads.

    async def lines(self, order_id: int) -> list[OrderLine]:
        return list(
            await self.session.scalars(
                select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)
            )
        )

    async def detail(self, order_id: int) -> dict[str, Any]:
        """The order with its customer, lines (with their products), warehouse and history."""
        order = await self.get(order_id)
        customer = await customer_brief(self.session, order.customer_id)
        names = await self._user_names(order.id, order.created_by)
        lines = await self.session.execute(
            select(OrderLine, Product.code, Product.name)
            .join(Product, Product.id == OrderLine.product_id)
            .where(OrderLine.order_id == order.id)
            .order_by(OrderLine.id)
        )
        events = await self.session.scalars(
            select(OrderEvent)
            .where(OrderEvent.order_id == order.id)
            .order_by(OrderEvent.at, OrderEvent.id)
        )
        warehouse = (
            await self.session.get(Warehouse, order.warehouse_id) if order.warehouse_id else None
        )
        return {
            **order_json(order),
            "customer": customer or {"id": order.customer_id, "name": ""},
            "created_by_name": names.get(order.created_by),
            "warehouse": (
                {"id": warehouse.id, "code": warehouse.code, "name": warehouse.name}
                if warehouse
                else None
            ),
            "lines": [
                {
                    "id": line.id,
                    "product_id": line.product_id,
                    "product_code": code,
                    "product_name": name,
                    "quantity": line.quantity,
                    "unit_price": money(line.unit_price_cents),
                    "line_total": money(line.line_total_cents),
                }
                for line, code, name in lines
            ],
            "events": [
                {
                    "from": event.from_status or None,
                    "to": event.to_status,
                    "at": event.at.isoformat(),
                    "user_id": event.user_id,
                    "user": names.get(event.user_id),
                    "note": event.note,
                }
                for event in events
            ],
        }

    async def _user_names(self, order_id: int, created_by: int | None) -> dict[int | None, str]:
        acting = select(OrderEvent.user_id).where(OrderEvent.order_id == order_id)
        rows = await self.session.execute(
            select(User.id, User.display_name).where(User.id.in_(acting) | (User.id == created_by))
        )
        return {user_id: name for user_id, name in rows}

    async def search(
        self, wanted: OrderFilter, *, limit: int = 50, offset: int = 0
    ) -> list[OrderRow]:
        """Newest first."""
        query = (
            select(Order, Customer.name, User.display_name)
            .join(Customer, Customer.id == Order.customer_id)
            .outerjoin(User, User.id == Order.created_by)
            .order_by(Order.placed_at.desc(), Order.id.desc())
        )
        query = _filtered(query, wanted)
        rows = await self.session.execute(query.limit(limit).offset(offset))
        return [OrderRow(*row) for row in rows]

    async def agents(self) -> list[tuple[int, str]]:
        """The users who have taken orders: the choices of the list's agent filter."""
        takers = select(Order.created_by).where(Order.created_by.is_not(None)).distinct()
        rows = await self.session.execute(
            select(User.id, User.display_name)
            .where(User.id.in_(takers))
            .order_by(User.display_name)
        )
        return [(user_id, name) for user_id, name in rows]


def _filtered(query: Select[Any], wanted: OrderFilter) -> Select[Any]:
    if wanted.customer_id is not None:
        query = query.where(Order.customer_id == wanted.customer_id)
    if wanted.created_by is not None:
        query = query.where(Order.created_by == wanted.created_by)
    if wanted.status:
        query = query.where(Order.status.in_(wanted.status))
    if wanted.placed_from and wanted.placed_to and wanted.placed_from > wanted.placed_to:
        raise InvalidInput("the last day is before the first", field="placed_to")
    if wanted.placed_from is not None:
        query = query.where(Order.placed_at >= _day_start(wanted.placed_from))
    if wanted.placed_to is not None:
        query = query.where(Order.placed_at < _day_start(wanted.placed_to + timedelta(days=1)))
    if wanted.product_id is not None:
        with_product = select(OrderLine.order_id).where(OrderLine.product_id == wanted.product_id)
        query = query.where(Order.id.in_(with_product))
    return query


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _summary(lines: list[OrderLine], labels: dict[int, str]) -> str:
    """What the customer card says of an order: ``2 × P-100 Chair, 1 × P-7 Desk``."""
    text = ", ".join(f"{line.quantity} × {labels[line.product_id]}" for line in lines)
    return text if len(text) <= 500 else text[:499] + "…"


async def customer_brief(session: AsyncSession, customer_id: int) -> dict[str, Any] | None:
    """Who an order is for, as its form's heading says it."""
    row = await session.execute(
        select(Customer.id, Customer.name).where(Customer.id == customer_id)
    )
    found = row.first()
    return {"id": found.id, "name": found.name} if found else None


async def orders_awaiting_confirmation(
    session: AsyncSession,
    *,
    waiting_since_before: datetime | None = None,
    after_id: int = 0,
    limit: int = 500,
) -> list[AwaitingOrder]:
    """Orders waiting for the customer's confirmation, oldest order first, in pages by id
    (``after_id``: the last id of the page before): the source of order-confirmation call
    lists. ``waiting_since_before`` keeps those that have waited since before that time."""
    since = (
        select(func.max(OrderEvent.at))
        .where(OrderEvent.order_id == Order.id, OrderEvent.to_status == AWAITING_CONFIRMATION)
        .scalar_subquery()
    )
    query = (
        select(
            Order.id,
            Order.reference,
            Order.customer_id,
            Customer.name,
            Order.amount_cents,
            Order.currency,
            Order.placed_at,
            func.coalesce(since, Order.updated_at, Order.placed_at),
            Order.created_by,
            Order.call_linked_id,
        )
        .join(Customer, Customer.id == Order.customer_id)
        .where(Order.status == AWAITING_CONFIRMATION, Order.id > after_id)
        .order_by(Order.id)
        .limit(limit)
    )
    if waiting_since_before is not None:
        query = query.where(since < waiting_since_before)
    return [AwaitingOrder(*row) for row in await session.execute(query)]
