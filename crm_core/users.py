"""Users and roles: create, change, disable, reset passwords, map roles to permissions.

Every change writes an audit row in the same transaction, and no change may leave the system
without an active user able to administer users and roles.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import Actor
from crm_core.clock import Clock
from crm_core.errors import Conflict, InvalidInput, NotFound, Refused
from crm_core.models import Role, RolePermission, User
from crm_core.models.users import user_roles
from crm_core.passwords import Passwords, password_problem
from crm_core.permissions import ADMIN_PERMISSIONS, UnknownPermission, validate_permissions
from crm_core.schemas import UserCreate, UserUpdate
from crm_core.sessions import end_user_sessions


def user_snapshot(user: User) -> dict[str, Any]:
    """What the audit trail keeps of a user (never the password hash)."""
    return {
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "extension": user.extension,
        "is_active": user.is_active,
        "roles": user.role_names,
    }


class UserService:
    def __init__(self, session: AsyncSession, *, passwords: Passwords, clock: Clock) -> None:
        self.session = session
        self.passwords = passwords
        self.clock = clock

    async def list_users(self) -> list[User]:
        return list((await self.session.scalars(select(User).order_by(User.username))).all())

    async def get(self, user_id: int) -> User:
        user = await self.session.get(User, user_id)
        if user is None:
            raise NotFound(f"no user with id {user_id}")
        return user

    async def by_username(self, username: str) -> User | None:
        return await self.session.scalar(select(User).where(User.username == username.lower()))

    async def create(self, data: UserCreate, actor: Actor) -> User:
        if await self.by_username(data.username) is not None:
            raise Conflict(f"user name {data.username!r} is taken", field="username")
        _check_password(data.password, data.username)
        now = self.clock()
        user = User(
            username=data.username,
            display_name=data.display_name,
            email=data.email,
            extension=data.extension,
            password_hash=await self.passwords.hash(data.password),
            is_active=True,
            created_at=now,
            updated_at=now,
            password_changed_at=now,
            roles=await self._roles_named(data.roles),
        )
        self.session.add(user)
        await self.session.flush()
        audit.record(
            self.session,
            actor,
            at=now,
            action="user.create",
            entity_type="user",
            entity_id=user.id,
            after=user_snapshot(user),
        )
        return user

    async def update(self, user_id: int, data: UserUpdate, actor: Actor) -> list[str]:
        """Apply the change; returns the ids of sessions the change ends (to notify browsers)."""
        user = await self.get(user_id)
        before = user_snapshot(user)
        changes = data.model_dump(exclude_unset=True)
        if "roles" in changes and changes["roles"] is not None:
            user.roles = await self._roles_named(changes.pop("roles"))
        # An explicit null clears the optional fields; for the required ones it means "keep".
        for key in ("email", "extension"):
            if key in changes:
                setattr(user, key, changes[key])
        for key in ("display_name", "is_active"):
            if changes.get(key) is not None:
                setattr(user, key, changes[key])
        after = user_snapshot(user)
        if after == before:
            return []
        user.updated_at = self.clock()
        await self.session.flush()
        await ensure_an_admin_remains(self.session)
        audit.record(
            self.session,
            actor,
            at=user.updated_at,
            action="user.update",
            entity_type="user",
            entity_id=user.id,
            before=before,
            after=after,
        )
        if before["is_active"] and not user.is_active:
            return await end_user_sessions(self.session, user.id, self.clock(), "disabled")
        return []

    async def reset_password(self, user_id: int, password: str, actor: Actor) -> list[str]:
        user = await self.get(user_id)
        _check_password(password, user.username)
        now = self.clock()
        user.password_hash = await self.passwords.hash(password)
        user.password_changed_at = now
        user.updated_at = now
        audit.record(
            self.session,
            actor,
            at=now,
            action="user.password_reset",
            entity_type="user",
            entity_id=user.id,
        )
        return await end_user_sessions(self.session, user.id, now, "password_reset")

    async def _roles_named(self, names: list[str]) -> list[Role]:
        wanted = set(names)
        roles = list((await self.session.scalars(select(Role).where(Role.name.in_(wanted)))).all())
        unknown = sorted(wanted - {r.name for r in roles})
        if unknown:
            raise InvalidInput(f"unknown role(s): {', '.join(unknown)}", field="roles")
        return roles


def _check_password(password: str, username: str) -> None:
    if problem := password_problem(password, username):
        raise InvalidInput(f"password: {problem}", fields={"password": problem})


async def current_permissions(
    session: AsyncSession, user_ids: list[int]
) -> dict[int, frozenset[str]]:
    """What each of these users may do now; a user disabled or gone is not in the answer.
    Rows, not user objects: the websocket hub asks for every connected user now and then."""
    rows = await session.execute(
        select(User.id, RolePermission.permission)
        .outerjoin(user_roles, user_roles.c.user_id == User.id)
        .outerjoin(RolePermission, RolePermission.role_id == user_roles.c.role_id)
        .where(User.id.in_(user_ids), User.is_active.is_(True))
    )
    held: dict[int, set[str]] = {}
    for user_id, permission in rows:
        permissions = held.setdefault(user_id, set())
        if permission is not None:
            permissions.add(permission)
    return {user_id: frozenset(permissions) for user_id, permissions in held.items()}


async def holders_of(session: AsyncSession, role_name: str) -> list[int]:
    """The users who hold this role."""
    rows = await session.scalars(
        select(user_roles.c.user_id)
        .join(Role, Role.id == user_roles.c.role_id)
        .where(Role.name == role_name)
    )
    return list(rows.all())


async def permitted_users(
    session: AsyncSession, permission: str, *, with_phone: bool = False
) -> list[tuple[int, str]]:
    """The active users some role of whom grants ``permission`` (``with_phone``: and who
    have an extension): (id, display name), by name."""
    phone = (func.coalesce(User.extension, "") != "",) if with_phone else ()
    rows = await session.execute(
        select(User.id, User.display_name)
        .join(user_roles, user_roles.c.user_id == User.id)
        .join(RolePermission, RolePermission.role_id == user_roles.c.role_id)
        .where(User.is_active.is_(True), RolePermission.permission == permission, *phone)
        .group_by(User.id, User.display_name)
        .order_by(User.display_name)
    )
    return [(user_id, name) for user_id, name in rows]


async def ensure_an_admin_remains(session: AsyncSession) -> None:
    """Refuse (roll back) a change that leaves no active user able to administer users/roles."""
    for permission in sorted(ADMIN_PERMISSIONS):
        holders = await session.scalar(
            select(func.count(func.distinct(User.id)))
            .join(user_roles, user_roles.c.user_id == User.id)
            .join(RolePermission, RolePermission.role_id == user_roles.c.role_id)
            .where(User.is_active.is_(True), RolePermission.permission == permission)
        )
        if not holders:
            raise Refused(
                f"refused: no active user would hold {permission!r}; "
                "keep at least one active administrator"
            )


class RoleService:
    def __init__(self, session: AsyncSession, *, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def list_roles(self) -> list[Role]:
        return list((await self.session.scalars(select(Role).order_by(Role.id))).all())

    async def get(self, name: str) -> Role:
        role = await self.session.scalar(select(Role).where(Role.name == name))
        if role is None:
            raise NotFound(f"no role named {name!r}", field="role")
        return role

    async def set_permissions(self, name: str, permissions: list[str], actor: Actor) -> Role:
        role = await self.get(name)
        try:
            wanted = validate_permissions(permissions)
        except UnknownPermission as exc:
            raise InvalidInput(str(exc), field="permissions") from exc
        before = sorted(role.permission_names)
        if set(before) == wanted:
            return role
        role.permissions = [RolePermission(permission=p) for p in sorted(wanted)]
        await self.session.flush()
        await ensure_an_admin_remains(self.session)
        audit.record(
            self.session,
            actor,
            at=self.clock(),
            action="role.permissions",
            entity_type="role",
            entity_id=role.name,
            before={"permissions": before},
            after={"permissions": sorted(wanted)},
        )
        return role


async def active_user_id_by_extension(session: AsyncSession, extension: str) -> int | None:
    """The agent whose phone has this extension (who a ringing queue member is)."""
    if not extension:
        return None
    return await session.scalar(
        select(User.id).where(User.extension == extension, User.is_active.is_(True))
    )
