"""Many confirmations at once for the last units: exactly as many succeed as there are units,
stock ends at zero and is never negative.

On PostgreSQL every confirmation runs in its own session on its own connection, all at once (the
conditional UPDATE waits for the row's lock, then finds too little). SQLite has one writer at a
time, so there they run one after the other through the same code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.audit import SYSTEM
from crm_core.db import create_engine, session_factory
from crm_core.models import Order, StockLevel, StockMovement
from crm_core.products import OutOfStock, ProductService, StockMovementCreate
from crm_core.uow import UnitOfWork
from tests.support.shop import Shop, open_shop

RACERS = 24


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    # A connection for every racer: none waits for the pool, they all reach the database.
    engine = create_engine(database_url, pool_size=RACERS + 2, max_overflow=0)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def race(backend: str, attempts: list[Callable[[], Awaitable[None]]]) -> list[str]:
    """Run the attempts (at once on PostgreSQL, one by one on SQLite); what became of each."""

    async def outcome(attempt: Callable[[], Awaitable[None]]) -> str:
        try:
            await attempt()
        except OutOfStock:
            return "short"
        return "done"

    if backend == "postgresql":
        return list(await asyncio.gather(*(outcome(a) for a in attempts)))
    return [await outcome(a) for a in attempts]


async def levels(shop: Shop) -> list[int]:
    async with shop.sessions() as db:
        return list(await db.scalars(select(StockLevel.quantity).order_by(StockLevel.product_id)))


async def test_parallel_confirmations_for_the_last_units_sell_exactly_what_is_there(
    sessions, clock, backend
):
    shop = await open_shop(sessions, clock, chairs=5, desks=0)
    orders = [await shop.order((shop.chair, 1)) for _ in range(RACERS)]
    outcomes = await race(backend, [lambda o=o: shop.move(o, "confirmed") for o in orders])
    assert outcomes.count("done") == 5 and outcomes.count("short") == RACERS - 5
    assert await levels(shop) == [0]
    async with sessions() as db:
        statuses = (
            await db.execute(select(Order.status, func.count()).group_by(Order.status))
        ).all()
        taken = await db.scalar(
            select(func.sum(StockMovement.quantity)).where(StockMovement.order_id.is_not(None))
        )
    assert dict(statuses) == {"confirmed": 5, "awaiting_confirmation": RACERS - 5}
    assert taken == -5


async def test_orders_of_two_products_in_either_line_order_neither_deadlock_nor_oversell(
    sessions, clock, backend
):
    shop = await open_shop(sessions, clock, chairs=6, desks=6)
    orders = [
        await shop.order(*([(shop.chair, 1), (shop.desk, 1)][:: 1 if n % 2 else -1]))
        for n in range(RACERS)
    ]
    outcomes = await race(backend, [lambda o=o: shop.move(o, "confirmed") for o in orders])
    assert outcomes.count("done") == 6
    assert await levels(shop) == [0, 0]


async def test_parallel_takes_by_hand_never_take_more_than_is_there(sessions, clock, backend):
    shop = await open_shop(sessions, clock, chairs=0, desks=3)

    async def take_one() -> None:
        async with UnitOfWork(sessions) as uow:
            await ProductService(uow.session, clock=clock).move(
                shop.desk,
                StockMovementCreate(warehouse_id=shop.main, kind="out", quantity=1, reason="sold"),
                SYSTEM,
            )
            await uow.commit()

    outcomes = await race(backend, [take_one] * RACERS)
    assert outcomes.count("done") == 3
    assert await levels(shop) == [0]


async def test_the_database_itself_refuses_a_negative_level(sessions, clock):
    shop = await open_shop(sessions, clock, chairs=1, desks=0)
    async with sessions() as db:
        with pytest.raises(IntegrityError):
            await db.execute(
                update(StockLevel)
                .where(StockLevel.product_id == shop.chair)
                .values(quantity=StockLevel.quantity - 2)
            )
    assert await levels(shop) == [1]
