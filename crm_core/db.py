"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, make_url
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 15}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # Bounded waits: a database that went away must surface as an error, not a hang.
    return create_async_engine(
        url, pool_pre_ping=True, connect_args={"timeout": 5, "command_timeout": 30}, **kwargs
    )


def _private_sqlite_file(url: str) -> None:
    """The database file readable by our user alone (SQLite would create it 0644, by the
    umask); its -wal and -shm files take the same mode. A file already there is tightened.
    A folder that does not exist is left alone: connecting then fails, and says so."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to change
            if each.stat().st_mode & 0o077:
                each.chmod(0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def lookup_engine(url: str) -> AsyncEngine:
    """For the screen pop's reads on PostgreSQL: autocommit (no BEGIN/ROLLBACK around a
    read) and no pre-ping (a dropped connection is retried by the caller instead)."""
    return create_async_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=4,
        max_overflow=4,
        connect_args={"timeout": 5, "command_timeout": 5},
    )


def sqlite_reader(url: str) -> Engine | None:
    """A synchronous engine on the same SQLite file, for short reads made right on the event
    loop (the screen pop's lookup): an indexed SQLite read takes microseconds, less than the
    thread hop aiosqlite makes for every statement. None for other databases."""
    if not url.startswith("sqlite"):
        return None
    engine = create_sync_engine(url.replace("+aiosqlite", "", 1), connect_args={"timeout": 0.1})
    event.listen(engine, "connect", _reader_pragmas)
    return engine


def _reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Never wait long on a lock here: this connection runs on the event loop.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=100")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
