"""The unit of work (Cosmic Python): one transaction per request, event or job.

Services take `uow.session`, change state, add their audit rows and never commit; the owner of
the unit (a view, an event consumer, a command) commits once. Rollback is the default: leaving
the block without `commit()`, or with an exception, keeps nothing.

    async with UnitOfWork(app[db_key]) as uow:
        user = await UserService(uow.session, ...).create(data, actor)
        await uow.commit()
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class UnitOfWork:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use it in `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("a unit of work is entered once at a time")
        self._session = self._sessions()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self.session, None
        try:
            if exc_type is not None:
                # Also expires what was loaded: nothing half-done is read after a failure.
                await session.rollback()
        finally:
            # Closing ends a transaction still open with a ROLLBACK, so what was not committed
            # is dropped; unlike rollback() it leaves what was read loaded (detached), so an
            # owner may return the rows it read.
            await session.close()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
