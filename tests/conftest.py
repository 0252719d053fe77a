"""Fixtures shared by the whole suite.

Every test that takes `database_url` (directly or through `settings`, `app`, `client`) runs
twice: once on SQLite and once on a real PostgreSQL server started for the session. Each test
gets a fresh database copied from one migrated at the start, so tests do not see each other."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
import uuid
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bench.servers import Postgres, Redis, postgres_server, redis_server
from config.logs import configure_logging
from config.settings import Settings
from crm_core.audit import SYSTEM
from crm_core.db import create_engine
from crm_core.migrate import upgrade_to_head
from crm_core.models import User
from crm_core.schemas import UserCreate
from crm_core.users import UserService
from web.app import create_app
from web.appkeys import clock_key, db_key, passwords_key

T = TypeVar("T")
BACKENDS = [
    b for b in os.environ.get("CALLCENTRE_TEST_DATABASES", "sqlite,postgresql").split(",") if b
]
PASSWORD = "correct horse battery"

configure_logging("json", "WARNING")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from synchronous fixture code, on a thread of its own."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


async def _admin_sql(pg: Postgres, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg.dsn("postgres"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        run_async(_admin_sql(server, "CREATE DATABASE cc_template"))
        run_async(_migrate(server.url("cc_template")))
        yield server


@pytest.fixture(scope="session")
def redis() -> Iterator[Redis]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    run_async(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        target = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    pg: Postgres = request.getfixturevalue("pg")
    name = "t_" + uuid.uuid4().hex[:16]
    run_async(_admin_sql(pg, f"CREATE DATABASE {name} TEMPLATE cc_template"))
    yield pg.url(name)
    run_async(_admin_sql(pg, f"DROP DATABASE {name} WITH (FORCE)"))


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))


def test_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": "test-secret-key-not-for-production",
        # Cheap hashes: the suite hashes hundreds of passwords.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 256,
        "argon2_parallelism": 1,
        "log_format": "json",
        # Tests of the PBX side ask for it; the others run without a link.
        "pbx": "none",
    }
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return test_settings(database_url, tmp_path)


@pytest.fixture
def app(settings: Settings, clock: FakeClock) -> web.Application:
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(aiohttp_client: Any, app: web.Application) -> TestClient:
    return await aiohttp_client(app)


async def add_user(
    app: web.Application,
    username: str,
    *roles: str,
    password: str = PASSWORD,
    extension: str | None = None,
    display_name: str | None = None,
) -> User:
    async with app[db_key]() as db:
        service = UserService(db, passwords=app[passwords_key], clock=app[clock_key])
        user = await service.create(
            UserCreate(
                username=username,
                display_name=display_name or username.title(),
                password=password,
                roles=list(roles),
                extension=extension,
            ),
            SYSTEM,
        )
        await db.commit()
        return user


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


async def web_login(
    client: TestClient, username: str, password: str = PASSWORD, *, remember: bool = False
) -> Any:
    """Sign in through the login form, as a browser does."""
    page = await client.get("/login")
    form = {
        "csrf_token": csrf_from(await page.text()),
        "username": username,
        "password": password,
        "next": "/",
    }
    if remember:
        form["remember"] = "on"
    return await client.post("/login", data=form, allow_redirects=False)


async def api_login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the API; returns the CSRF token for later changes."""
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status == 200, await response.text()
    return (await response.json())["csrf_token"]


async def page_csrf(client: TestClient, path: str = "/") -> str:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return csrf_from(await response.text())


def same_origin(client: TestClient) -> dict[str, str]:
    """The Origin header a page served by this client's server sends."""
    return {"Origin": f"http://{client.host}:{client.port}"}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say plainly which databases the suite ran on, and how it went on each."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if report.when != "call" and outcome != "error":
                continue
            match = re.search(r"\[(sqlite|postgresql)\b", report.nodeid)
            if match:
                per = counts.setdefault(match.group(1), {})
                per[outcome] = per.get(outcome, 0) + 1
    if counts:
        terminalreporter.section("databases")
        for name, per in sorted(counts.items()):
            summary = ", ".join(f"{n} {o}" for o, n in sorted(per.items()))
            terminalreporter.write_line(f"{name}: {summary}")
