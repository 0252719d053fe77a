"""Who is making a request: resolved once by the auth middleware, read by handlers."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from crm_core.audit import Actor
from crm_core.errors import Unauthorized
from web.appkeys import principal_key, request_id_key
from web.security import client_ip


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    roles: tuple[str, ...]
    permissions: frozenset[str]
    session_id: str
    csrf_token: str

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def principal(request: web.Request) -> Principal | None:
    return request.get(principal_key)


def require_principal(request: web.Request) -> Principal:
    who = request.get(principal_key)
    if who is None:
        raise Unauthorized("log in first")
    return who


def actor(request: web.Request) -> Actor:
    who = principal(request)
    return Actor(
        user_id=who.user_id if who else None,
        name=who.username if who else "anonymous",
        client_ip=client_ip(request),
        request_id=request.get(request_id_key),
    )
