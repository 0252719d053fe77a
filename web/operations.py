"""The operations shared by the pages and their API twins: one unit of work each, committed
here, with the browsers of any ended sessions told afterwards."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from crm_core.auth import BadCredentials, LoggedIn, LoginService, LoginThrottled
from crm_core.dictionary import DictionaryService
from crm_core.models import AuditEntry, DictionaryEntry, Role, User
from crm_core.schemas import (
    DictionaryEntryCreate,
    DictionaryEntryUpdate,
    LoginInput,
    UserCreate,
    UserUpdate,
)
from crm_core.users import RoleService, UserService
from web.appkeys import (
    bus_key,
    clock_key,
    db_key,
    login_limits_key,
    metrics_key,
    passwords_key,
    session_policy_key,
)
from web.directory import announce_directory_changed
from web.hub import announce_sessions_ended
from web.principal import actor, require_principal
from web.security import client_ip


def _users(request: web.Request, db: Any) -> UserService:
    return UserService(db, passwords=request.app[passwords_key], clock=request.app[clock_key])


async def login(request: web.Request, data: LoginInput) -> LoggedIn:
    metrics = request.app[metrics_key]
    async with request.app[db_key]() as db:
        service = LoginService(
            db, passwords=request.app[passwords_key], clock=request.app[clock_key],
            policy=request.app[session_policy_key], limits=request.app[login_limits_key],
        )
        try:
            done = await service.login(
                data.username, data.password, remember=data.remember,
                client_ip=client_ip(request), user_agent=request.headers.get("User-Agent", ""),
            )
        except BadCredentials:
            metrics.logins.labels("bad_credentials").inc()
            raise
        except LoginThrottled:
            metrics.logins.labels("throttled").inc()
            raise
    metrics.logins.labels("ok").inc()
    await announce_sessions_ended(request.app[bus_key], done.ended_session_ids, "replaced")
    return done


async def logout(request: web.Request) -> None:
    who = require_principal(request)
    async with request.app[db_key]() as db:
        service = LoginService(
            db, passwords=request.app[passwords_key], clock=request.app[clock_key],
            policy=request.app[session_policy_key], limits=request.app[login_limits_key],
        )
        await service.logout(who.session_id, actor(request))
    await announce_sessions_ended(request.app[bus_key], [who.session_id], "logout")


async def list_users(request: web.Request) -> list[User]:
    async with request.app[db_key]() as db:
        return await _users(request, db).list_users()


async def get_user(request: web.Request, user_id: int) -> User:
    async with request.app[db_key]() as db:
        return await _users(request, db).get(user_id)


async def create_user(request: web.Request, data: UserCreate) -> User:
    async with request.app[db_key]() as db:
        user = await _users(request, db).create(data, actor(request))
        await db.commit()
    await announce_directory_changed(request.app[bus_key])
    return user


async def update_user(request: web.Request, user_id: int, data: UserUpdate) -> User:
    async with request.app[db_key]() as db:
        service = _users(request, db)
        ended = await service.update(user_id, data, actor(request))
        await db.commit()
        user = await service.get(user_id)
    await announce_sessions_ended(request.app[bus_key], ended, "disabled")
    await announce_directory_changed(request.app[bus_key])
    return user


async def reset_password(request: web.Request, user_id: int, password: str) -> None:
    async with request.app[db_key]() as db:
        ended = await _users(request, db).reset_password(user_id, password, actor(request))
        await db.commit()
    await announce_sessions_ended(request.app[bus_key], ended, "password_reset")


async def list_roles(request: web.Request) -> list[Role]:
    async with request.app[db_key]() as db:
        return await RoleService(db, clock=request.app[clock_key]).list_roles()


async def set_role_permissions(request: web.Request, name: str, permissions: list[str]) -> Role:
    async with request.app[db_key]() as db:
        role = await RoleService(db, clock=request.app[clock_key]).set_permissions(
            name, permissions, actor(request)
        )
        await db.commit()
        return role


async def dictionary_entries(request: web.Request, category: str) -> list[DictionaryEntry]:
    async with request.app[db_key]() as db:
        return await DictionaryService(db, clock=request.app[clock_key]).entries(category)


async def create_dictionary_entry(
    request: web.Request, category: str, data: DictionaryEntryCreate
) -> DictionaryEntry:
    async with request.app[db_key]() as db:
        entry = await DictionaryService(db, clock=request.app[clock_key]).create(
            category, data, actor(request)
        )
        await db.commit()
        return entry


async def update_dictionary_entry(
    request: web.Request, category: str, code: str, data: DictionaryEntryUpdate
) -> DictionaryEntry:
    async with request.app[db_key]() as db:
        entry = await DictionaryService(db, clock=request.app[clock_key]).update(
            category, code, data, actor(request)
        )
        await db.commit()
        return entry


async def audit_entries(request: web.Request, *, limit: int = 200) -> list[AuditEntry]:
    async with request.app[db_key]() as db:
        rows = await db.scalars(
            select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        )
        return list(rows.all())
