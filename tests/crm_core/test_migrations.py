"""The schema comes only from migrations, which run the same on SQLite and PostgreSQL and
produce exactly the tables the models describe."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from crm_core.clock import utc_now
from crm_core.db import create_engine
from crm_core.migrate import alembic_config, current_revision, head_revision, upgrade_to_head
from crm_core.models import Base
from crm_core.permissions import PERMISSIONS, ROLES
from crm_core.users import RoleService
from tests.conftest import BACKENDS, _admin_sql
from web.appkeys import db_key


@pytest.fixture(params=BACKENDS)
async def empty_engine(request, tmp_path):
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
        yield engine
        await engine.dispose()
        return
    pg = request.getfixturevalue("pg")
    name = "m_" + uuid.uuid4().hex[:12]
    await _admin_sql(pg, f"CREATE DATABASE {name}")
    engine = create_engine(pg.url(name))
    yield engine
    await engine.dispose()
    await _admin_sql(pg, f"DROP DATABASE {name} WITH (FORCE)")


async def test_migrations_build_exactly_the_schema_the_models_describe(empty_engine):
    await upgrade_to_head(empty_engine)
    assert await current_revision(empty_engine) == head_revision()

    def differences(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with empty_engine.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_migrations_go_down_to_nothing_and_up_again(empty_engine):
    def run(connection, target, direction):
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        getattr(command, direction)(cfg, target)

    def tables(connection):
        return set(inspect(connection).get_table_names()) - {"alembic_version"}

    await upgrade_to_head(empty_engine)
    async with empty_engine.begin() as conn:
        await conn.run_sync(run, "base", "downgrade")
    async with empty_engine.connect() as conn:
        assert await conn.run_sync(tables) == set()
    await upgrade_to_head(empty_engine)
    async with empty_engine.connect() as conn:
        assert await conn.run_sync(tables) == set(Base.metadata.tables)


async def test_the_eight_roles_are_seeded_and_the_admin_holds_every_permission(app, client):
    async with app[db_key]() as db:
        roles = {r.name: r for r in await RoleService(db, clock=utc_now).list_roles()}
    assert set(roles) == set(ROLES)
    assert roles["admin"].permission_names == frozenset(PERMISSIONS)
    for role in roles.values():
        assert role.permission_names <= frozenset(PERMISSIONS), role.name
