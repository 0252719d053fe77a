"""The API's operations: auth, users, roles, the data dictionary and the audit trail."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crm_core.dictionary import CATEGORIES, NUMBERS, entry_snapshot
from crm_core.errors import NotFound
from crm_core.models import AuditEntry, Role, User
from crm_core.permissions import PERMISSIONS, ROLES
from crm_core.schemas import (
    DictionaryEntryCreate,
    DictionaryEntryUpdate,
    LoginInput,
    PasswordReset,
    RolePermissionsUpdate,
    UserCreate,
    UserUpdate,
)
from crm_core.users import user_snapshot
from web import operations
from web.access import PUBLIC
from web.api.registry import ApiRoutes
from web.appkeys import api_key, settings_key
from web.principal import require_principal
from web.security import clear_session_cookie, set_session_cookie

api = ApiRoutes()


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        **user_snapshot(user),
        "created_at": user.created_at.isoformat(),
        "updated_at": user.updated_at.isoformat(),
    }


def role_json(role: Role) -> dict[str, Any]:
    return {
        "name": role.name,
        "label": role.label,
        "description": role.description,
        "permissions": sorted(role.permission_names),
    }


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor_name,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "before": entry.before,
        "after": entry.after,
        "client_ip": entry.client_ip,
        "request_id": entry.request_id,
    }


@api.route(
    "POST",
    "/auth/login",
    summary="Log in; ends any other session of the user",
    access=PUBLIC,
    body=LoginInput,
    tag="auth",
)
async def login(request: web.Request, data: LoginInput) -> Any:
    # BadCredentials (401) and LoginThrottled (429, Retry-After) go to the error middleware.
    done = await operations.login(request, data)
    response = web.json_response(
        {"user": user_json(done.user), "csrf_token": done.session.csrf_token}
    )
    max_age = request.app[settings_key].remember_me_days * 86400 if data.remember else None
    set_session_cookie(request, response, done.token, max_age)
    return response


@api.route("POST", "/auth/logout", summary="Log out (ends the session)", tag="auth")
async def logout(request: web.Request) -> Any:
    await operations.logout(request)
    response = web.json_response({"ok": True})
    clear_session_cookie(response)
    return response


@api.route("GET", "/me", summary="The logged-in user, roles, permissions, CSRF token", tag="auth")
async def me(request: web.Request) -> Any:
    who = require_principal(request)
    return {
        "id": who.user_id,
        "username": who.username,
        "display_name": who.display_name,
        "roles": list(who.roles),
        "permissions": sorted(who.permissions),
        "csrf_token": who.csrf_token,
    }


@api.route("GET", "/users", summary="List users", access="users.admin")
async def list_users(request: web.Request) -> Any:
    return {"users": [user_json(u) for u in await operations.list_users(request)]}


@api.route(
    "POST", "/users", summary="Create a user", access="users.admin", body=UserCreate, status=201
)
async def create_user(request: web.Request, data: UserCreate) -> Any:
    return user_json(await operations.create_user(request, data))


def _user_id(request: web.Request) -> int:
    try:
        return int(request.match_info["user_id"])
    except ValueError as exc:
        raise NotFound(f"no user with id {request.match_info['user_id'][:20]!r}") from exc


@api.route("GET", "/users/{user_id}", summary="One user", access="users.admin")
async def get_user(request: web.Request) -> Any:
    return user_json(await operations.get_user(request, _user_id(request)))


@api.route(
    "PATCH",
    "/users/{user_id}",
    summary="Change, disable or re-enable a user",
    access="users.admin",
    body=UserUpdate,
)
async def update_user(request: web.Request, data: UserUpdate) -> Any:
    return user_json(await operations.update_user(request, _user_id(request), data))


@api.route(
    "POST",
    "/users/{user_id}/password",
    summary="Reset a user's password",
    access="users.admin",
    body=PasswordReset,
)
async def reset_password(request: web.Request, data: PasswordReset) -> Any:
    await operations.reset_password(request, _user_id(request), data.password)
    return {"ok": True}


@api.route("GET", "/roles", summary="Roles and their permissions", access="roles.admin")
async def list_roles(request: web.Request) -> Any:
    return {
        "roles": [role_json(r) for r in await operations.list_roles(request)],
        "known_roles": ROLES,
    }


@api.route(
    "PUT",
    "/roles/{name}/permissions",
    summary="Set a role's permissions",
    access="roles.admin",
    body=RolePermissionsUpdate,
    tag="roles",
)
async def set_role_permissions(request: web.Request, data: RolePermissionsUpdate) -> Any:
    role = await operations.set_role_permissions(
        request, request.match_info["name"], data.permissions
    )
    return role_json(role)


@api.route("GET", "/permissions", summary="Every permission the system knows", tag="roles")
async def list_permissions(request: web.Request) -> Any:
    return {"permissions": PERMISSIONS}


@api.route("GET", "/dictionary", summary="Dictionary categories", tag="dictionary")
async def dictionary_categories(request: web.Request) -> Any:
    return {
        "categories": [
            {
                "name": name,
                "label": label,
                "time_limit": NUMBERS.get(name, ("",))[0] == "time_limit_minutes",
                "number": NUMBERS[name][0] if name in NUMBERS else None,
            }
            for name, label in CATEGORIES.items()
        ]
    }


@api.route("GET", "/dictionary/{category}", summary="Entries of one category", tag="dictionary")
async def dictionary_entries(request: web.Request) -> Any:
    # Every logged-in user reads the dictionary: it is where forms take their choices from.
    entries = await operations.dictionary_entries(request, request.match_info["category"])
    return {"entries": [entry_snapshot(e) for e in entries]}


@api.route(
    "POST",
    "/dictionary/{category}",
    summary="Add an entry",
    access="dictionary.admin",
    body=DictionaryEntryCreate,
    status=201,
    tag="dictionary",
)
async def dictionary_create(request: web.Request, data: DictionaryEntryCreate) -> Any:
    entry = await operations.create_dictionary_entry(request, request.match_info["category"], data)
    return entry_snapshot(entry)


@api.route(
    "PATCH",
    "/dictionary/{category}/{code}",
    summary="Change or retire an entry",
    access="dictionary.admin",
    body=DictionaryEntryUpdate,
    tag="dictionary",
)
async def dictionary_update(request: web.Request, data: DictionaryEntryUpdate) -> Any:
    entry = await operations.update_dictionary_entry(
        request, request.match_info["category"], request.match_info["code"], data
    )
    return entry_snapshot(entry)


@api.route("GET", "/audit", summary="The latest audit trail entries", access="audit.read")
async def audit(request: web.Request) -> Any:
    return {"entries": [audit_json(e) for e in await operations.audit_entries(request)]}


@api.route("GET", "/openapi.json", summary="This document", access=PUBLIC, tag="docs")
async def openapi(request: web.Request) -> Any:
    return request.app[api_key].openapi()
