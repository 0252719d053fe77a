"""A small shop for the order and stock tests: a warehouse, products with stock, a customer and
two agents, written through the services (as the pages and the API write them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.audit import SYSTEM, Actor
from crm_core.clock import Clock
from crm_core.customers import CustomerService
from crm_core.models import User
from crm_core.orders import LineInput, OrderCreate, OrderService
from crm_core.products import (
    ProductCreate,
    ProductService,
    StockMovementCreate,
    WarehouseCreate,
)
from crm_core.schemas import CustomerCreate
from crm_core.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Shop:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    main: int  # the warehouse
    chair: int  # 19.99, 5 in stock
    desk: int  # 5.00, 2 in stock
    customer: int
    ann: Actor  # two agents who take orders
    bob: Actor

    async def order(
        self, *lines: tuple[int, int], by: Actor | None = None, submit: bool = True
    ) -> int:
        """An order of (product, quantity) lines, put up for confirmation unless ``submit`` is
        false."""
        async with UnitOfWork(self.sessions) as uow:
            service = OrderService(uow.session, clock=self.clock)
            order = await service.create(
                OrderCreate(
                    customer_id=self.customer,
                    lines=[LineInput(product_id=p, quantity=q) for p, q in lines],
                ),
                by or self.ann,
                may_set_price=False,
            )
            if submit:
                await service.transition(order.id, "awaiting_confirmation", by or self.ann)
            await uow.commit()
            return order.id

    async def move(self, order_id: int, to: str, by: Actor | None = None) -> None:
        async with UnitOfWork(self.sessions) as uow:
            await OrderService(uow.session, clock=self.clock).transition(
                order_id, to, by or self.ann
            )
            await uow.commit()

    async def stock(self, product_id: int) -> int:
        async with UnitOfWork(self.sessions) as uow:
            rows = await ProductService(uow.session, clock=self.clock).stock(product_id)
        return sum(r.quantity for r in rows)


async def add_agent(session: AsyncSession, username: str, at: datetime) -> Actor:
    user = User(
        username=username,
        display_name=username.title(),
        password_hash="not-a-hash",
        is_active=True,
        created_at=at,
        updated_at=at,
        password_changed_at=at,
    )
    session.add(user)
    await session.flush()
    return Actor(user_id=user.id, name=username)


async def open_shop(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, *, chairs: int = 5, desks: int = 2
) -> Shop:
    async with UnitOfWork(sessions) as uow:
        products = ProductService(uow.session, clock=clock)
        main = await products.create_warehouse(WarehouseCreate(code="main", name="Main"), SYSTEM)
        chair = await products.create(
            ProductCreate(
                code="p-100", name="Chair", category="hardware", unit_price=Decimal("19.99")
            ),
            SYSTEM,
        )
        desk = await products.create(
            ProductCreate(code="P-7", name="Desk", category="hardware", unit_price=Decimal("5")),
            SYSTEM,
        )
        for product, count in ((chair, chairs), (desk, desks)):
            if count:
                await products.move(
                    product.id,
                    StockMovementCreate(
                        warehouse_id=main.id, kind="in", quantity=count, reason="delivery"
                    ),
                    SYSTEM,
                )
        customer = await CustomerService(uow.session, clock=clock, region="US").create(
            CustomerCreate(name="Acme Ltd"), SYSTEM
        )
        ann = await add_agent(uow.session, "ann", clock())
        bob = await add_agent(uow.session, "bob", clock())
        await uow.commit()
    return Shop(sessions, clock, main.id, chair.id, desk.id, customer.id, ann, bob)
