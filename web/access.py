"""Who may reach a route: marked on the handler, enforced by the auth middleware.

A handler without a mark needs a logged-in user (the safe default). A mark is ``public``,
``logged_in``, one permission, or several joined by "|": any one of them lets the user in."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aiohttp import web

F = TypeVar("F", bound=Callable[..., object])
PUBLIC = "public"
LOGGED_IN = "logged_in"


def public(handler: F) -> F:
    handler.access = PUBLIC  # type: ignore[attr-defined]
    return handler


def any_of(*permissions: str) -> str:
    """The mark of a route that any one of these permissions opens."""
    return "|".join(permissions)


def check_access(access: str) -> str:
    """The mark itself, or ValueError when it names a permission that does not exist."""
    from crm_core.permissions import PERMISSIONS

    if access in (PUBLIC, LOGGED_IN):
        return access
    unknown = [p for p in access.split("|") if p not in PERMISSIONS]
    if unknown:
        raise ValueError(f"unknown permission {unknown[0]!r}")
    return access


def allowed(access: str, held: frozenset[str] | set[str]) -> bool:
    """Whether a logged-in user holding ``held`` may reach a route marked ``access``."""
    return access in (PUBLIC, LOGGED_IN) or any(p in held for p in access.split("|"))


def requires(permission: str) -> Callable[[F], F]:
    check_access(permission)

    def mark(handler: F) -> F:
        handler.access = permission  # type: ignore[attr-defined]
        return handler

    return mark


def access_of(request: web.Request) -> str:
    match = request.match_info
    if match.http_exception is not None or isinstance(match.route.resource, web.StaticResource):
        return PUBLIC
    return getattr(match.handler, "access", LOGGED_IN)
