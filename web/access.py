"""Who may reach a route: marked on the handler, enforced by the auth middleware.

A handler without a mark needs a logged-in user (the safe default)."""

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


def requires(permission: str) -> Callable[[F], F]:
    from crm_core.permissions import PERMISSIONS

    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def mark(handler: F) -> F:
        handler.access = permission  # type: ignore[attr-defined]
        return handler

    return mark


def access_of(request: web.Request) -> str:
    match = request.match_info
    if match.http_exception is not None or isinstance(match.route.resource, web.StaticResource):
        return PUBLIC
    return getattr(match.handler, "access", LOGGED_IN)
