"""Who answers at each extension, and what they may see: the agents' directory, held in memory
so that a ringing phone turns into its user (and the pop into what that user may be shown)
without a database read on the pop's path.

Loaded at start, reloaded when a user or their permissions change (announced on the bus, so
every instance hears it) and every `refresh_seconds` (users created from the command line)."""

from __future__ import annotations

import asyncio
import time

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.models import User
from crm_core.users import active_user_id_by_extension, current_permissions
from cti.devices import extension_of
from desk.notifications import DirectoryChanged, Notifier, PermissionsChanged

log = structlog.get_logger("desk.directory")
MISS_SECONDS = 5.0


class AgentDirectory:
    def __init__(
        self, db: async_sessionmaker, notifier: Notifier, *, refresh_seconds: float = 60.0
    ) -> None:
        self.db = db
        self.notifier = notifier
        self.refresh_seconds = refresh_seconds
        self._users: dict[str, int] = {}  # extension -> user id
        self._permissions: dict[int, frozenset[str]] = {}  # user id -> what they may do
        self._missing: dict[str, float] = {}  # extension -> when it had no user
        self._reload: asyncio.Event = asyncio.Event()

    def user_for(self, interface: str) -> int | None:
        return self._users.get(extension_of(interface))

    def permissions_of(self, user_id: int) -> frozenset[str]:
        """What the agent may see (nothing for a user not loaded: a pop shows no customer)."""
        return self._permissions.get(user_id, frozenset())

    async def resolve(self, interface: str) -> int | None:
        """The user at this phone; a phone not in the directory is looked up (a user made
        since the last load, e.g. from the command line) and remembered."""
        extension = extension_of(interface)
        user_id = self._users.get(extension)
        if user_id is not None or not extension:
            return user_id
        now = time.monotonic()
        if now - self._missing.get(extension, float("-inf")) < MISS_SECONDS:
            return None  # asked a moment ago: a phone without a user sends many events
        async with self.db() as db:
            user_id = await active_user_id_by_extension(db, extension)
            if user_id is not None:
                self._permissions.update(await current_permissions(db, [user_id]))
        if user_id is None:
            self._missing[extension] = now
            return None
        self._users[extension] = user_id
        return user_id

    async def load(self) -> None:
        async with self.db() as db:
            rows = (
                await db.execute(
                    select(User.extension, User.id).where(
                        User.extension.is_not(None), User.is_active.is_(True)
                    )
                )
            ).all()
            users = {extension: user_id for extension, user_id in rows if extension}
            permissions = await current_permissions(db, list(users.values()))
        self._users, self._permissions = users, permissions
        self._missing.clear()
        log.info("directory.loaded", agents=len(self._users))

    async def start(self) -> None:
        try:
            await self.load()
        except Exception:  # the database may be away at start: the reload loop catches up
            log.warning("directory.load_failed", exc_info=True)
        await self.notifier.subscribe(DirectoryChanged, self._on_changed)
        await self.notifier.subscribe(PermissionsChanged, self._on_changed)

    async def run(self) -> None:
        """Reload on every announced change and every ``refresh_seconds``. A failed load
        raises: the worker supervisor logs it and runs this again, the last good directory
        still answering meanwhile."""
        while True:
            try:
                async with asyncio.timeout(self.refresh_seconds):  # not wait_for: see cti/ami/link
                    await self._reload.wait()
            except TimeoutError:
                pass
            self._reload.clear()
            await self.load()

    def _on_changed(self, _message: DirectoryChanged | PermissionsChanged) -> None:
        self._reload.set()
