"""The unit of work: commit is explicit, rollback the default; on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.db import create_engine, session_factory
from crm_core.models import DictionaryEntry
from crm_core.uow import UnitOfWork


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def an_entry(code: str) -> DictionaryEntry:
    return DictionaryEntry(category="region", code=code, label=code.title())


async def saved(sessions: async_sessionmaker[AsyncSession], code: str) -> bool:
    """Whether the entry is there for a session of its own (another request, say)."""
    async with sessions() as other:
        found = await other.scalar(
            select(DictionaryEntry.id).where(
                DictionaryEntry.category == "region", DictionaryEntry.code == code
            )
        )
    return found is not None


async def test_changes_are_seen_elsewhere_only_once_committed(sessions):
    async with UnitOfWork(sessions) as uow:
        uow.session.add(an_entry("atlantis"))
        await uow.session.flush()  # written inside the transaction, not yet committed
        assert not await saved(sessions, "atlantis")
        await uow.commit()
        assert await saved(sessions, "atlantis")
    assert await saved(sessions, "atlantis")


async def test_an_exception_inside_the_block_rolls_back(sessions):
    with pytest.raises(RuntimeError, match="boom"):
        async with UnitOfWork(sessions) as uow:
            uow.session.add(an_entry("lemuria"))
            await uow.session.flush()
            raise RuntimeError("boom")
    assert not await saved(sessions, "lemuria")


async def test_leaving_without_commit_rolls_back(sessions):
    async with UnitOfWork(sessions) as uow:
        uow.session.add(an_entry("mu"))
        await uow.session.flush()
    assert not await saved(sessions, "mu")


async def test_what_follows_a_commit_needs_a_commit_of_its_own(sessions):
    async with UnitOfWork(sessions) as uow:
        uow.session.add(an_entry("hyperborea"))
        await uow.commit()
        uow.session.add(an_entry("thule"))
        await uow.session.flush()
    assert await saved(sessions, "hyperborea")
    assert not await saved(sessions, "thule")


async def test_rows_read_stay_readable_after_the_unit_ends(sessions):
    # An owner may return what it read (a view renders it after the block).
    async with UnitOfWork(sessions) as uow:
        north = await uow.session.scalar(
            select(DictionaryEntry).where(
                DictionaryEntry.category == "region", DictionaryEntry.code == "north"
            )
        )
    assert north is not None and north.label


async def test_the_session_exists_only_inside_the_block(sessions):
    uow = UnitOfWork(sessions)
    with pytest.raises(RuntimeError):
        uow.session  # noqa: B018
    async with uow:
        assert isinstance(uow.session, AsyncSession)
    with pytest.raises(RuntimeError):
        uow.session  # noqa: B018
