"""The operations shared by the pages and their API twins: each owns one unit of work and
commits it once (the services never commit); the browsers of any ended sessions are told after
the commit."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
from crm_core.uow import UnitOfWork
from crm_core.users import RoleService, UserService, holders_of
from desk.notifications import DirectoryChanged
from web.appkeys import (
    clock_key,
    db_key,
    login_limits_key,
    metrics_key,
    notifier_key,
    passwords_key,
    session_policy_key,
)
from web.hub import announce_permissions_changed, announce_sessions_ended
from web.principal import actor, require_principal
from web.security import client_ip


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[db_key])


def _users(request: web.Request, db: AsyncSession) -> UserService:
    return UserService(db, passwords=request.app[passwords_key], clock=request.app[clock_key])


def _logins(request: web.Request, db: AsyncSession) -> LoginService:
    return LoginService(
        db,
        passwords=request.app[passwords_key],
        clock=request.app[clock_key],
        policy=request.app[session_policy_key],
        limits=request.app[login_limits_key],
    )


async def login(request: web.Request, data: LoginInput) -> LoggedIn:
    metrics = request.app[metrics_key]
    address = client_ip(request)
    async with _uow(request) as uow:
        # Written down (and committed) before anything is checked: concurrent attempts count it.
        attempt = await _logins(request, uow.session).record_attempt(data.username, address)
        await uow.commit()
    async with _uow(request) as uow:
        try:
            done = await _logins(request, uow.session).login(
                attempt,
                data.username,
                data.password,
                remember=data.remember,
                client_ip=address,
                user_agent=request.headers.get("User-Agent", ""),
            )
        except (BadCredentials, LoginThrottled) as exc:
            # The refusal is recorded (attempt and audit row): throttling counts those, so
            # they are kept although the login fails.
            await uow.commit()
            metrics.logins.labels(exc.code).inc()
            raise
        await uow.commit()
    metrics.logins.labels("ok").inc()
    await announce_sessions_ended(request.app[notifier_key], done.ended_session_ids, "replaced")
    return done


async def logout(request: web.Request) -> None:
    who = require_principal(request)
    async with _uow(request) as uow:
        await _logins(request, uow.session).logout(who.session_id, actor(request))
        await uow.commit()
    await announce_sessions_ended(request.app[notifier_key], [who.session_id], "logout")


async def list_users(request: web.Request) -> list[User]:
    async with _uow(request) as uow:
        return await _users(request, uow.session).list_users()


async def get_user(request: web.Request, user_id: int) -> User:
    async with _uow(request) as uow:
        return await _users(request, uow.session).get(user_id)


async def create_user(request: web.Request, data: UserCreate) -> User:
    async with _uow(request) as uow:
        user = await _users(request, uow.session).create(data, actor(request))
        await uow.commit()
    await request.app[notifier_key].publish(DirectoryChanged())
    return user


async def update_user(request: web.Request, user_id: int, data: UserUpdate) -> User:
    async with _uow(request) as uow:
        service = _users(request, uow.session)
        ended = await service.update(user_id, data, actor(request))
        await uow.commit()
        user = await service.get(user_id)
    await announce_sessions_ended(request.app[notifier_key], ended, "disabled")
    # Roles or status may have changed: open sockets must not keep what was taken away.
    await announce_permissions_changed(request.app[notifier_key], [user_id])
    await request.app[notifier_key].publish(DirectoryChanged())
    return user


async def reset_password(request: web.Request, user_id: int, password: str) -> None:
    async with _uow(request) as uow:
        ended = await _users(request, uow.session).reset_password(user_id, password, actor(request))
        await uow.commit()
    await announce_sessions_ended(request.app[notifier_key], ended, "password_reset")


async def list_roles(request: web.Request) -> list[Role]:
    async with _uow(request) as uow:
        return await RoleService(uow.session, clock=request.app[clock_key]).list_roles()


async def set_role_permissions(request: web.Request, name: str, permissions: list[str]) -> Role:
    async with _uow(request) as uow:
        role = await RoleService(uow.session, clock=request.app[clock_key]).set_permissions(
            name, permissions, actor(request)
        )
        holders = await holders_of(uow.session, name)
        await uow.commit()
    await announce_permissions_changed(request.app[notifier_key], holders)
    return role


async def dictionary_entries(request: web.Request, category: str) -> list[DictionaryEntry]:
    async with _uow(request) as uow:
        return await DictionaryService(uow.session, clock=request.app[clock_key]).entries(category)


async def create_dictionary_entry(
    request: web.Request, category: str, data: DictionaryEntryCreate
) -> DictionaryEntry:
    async with _uow(request) as uow:
        entry = await DictionaryService(uow.session, clock=request.app[clock_key]).create(
            category, data, actor(request)
        )
        await uow.commit()
        return entry


async def update_dictionary_entry(
    request: web.Request, category: str, code: str, data: DictionaryEntryUpdate
) -> DictionaryEntry:
    async with _uow(request) as uow:
        entry = await DictionaryService(uow.session, clock=request.app[clock_key]).update(
            category, code, data, actor(request)
        )
        await uow.commit()
        return entry


async def audit_entries(request: web.Request, *, limit: int = 200) -> list[AuditEntry]:
    async with _uow(request) as uow:
        rows = await uow.session.scalars(
            select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        )
        return list(rows.all())
