"""Every role against every page and API route: a route marked with a permission answers 403
to each role the role table does not give it, and never 401/403 to a role it does; a route for
any logged-in user refuses nobody signed in. The role table is read from the database (what an
administrator may have changed), the routes from the running app (what a new module adds is
walked without a change here)."""

from __future__ import annotations

import re

from sqlalchemy import select

from crm_core.models import Role
from crm_core.permissions import ROLES
from tests.conftest import add_user, api_login
from web.access import LOGGED_IN, allowed
from web.appkeys import db_key

# Routes a walk must not take: they end the walker's own session or need a socket.
SKIPPED = {("POST", "/logout"), ("POST", "/api/v1/auth/logout"), ("GET", "/ws")}


def _routes(app) -> list[tuple[str, str, str]]:
    """(method, path with every {parameter} filled, access) for every route of the app."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path")
        if path is None or route.method in ("HEAD", "OPTIONS", "*"):
            continue
        if (route.method, path) in SKIPPED or path.startswith("/static"):
            continue
        access = getattr(route.handler, "access", LOGGED_IN)
        found.append((route.method, _filled(path, info.get("pattern")), access))
    return sorted(set(found))


def _filled(path: str, pattern: re.Pattern[str] | None) -> str:
    """A path that reaches the handler: every parameter "1", or, where the route only takes
    some words (``{action:assign|close}``), the first of them."""
    filled = re.sub(r"\{[^}]+\}", "1", path)
    if pattern is None or pattern.fullmatch(filled):
        return filled
    for name, choices in re.findall(r"\(\?P<(\w+)>\(?([\w|-]+)\)?\)", pattern.pattern):
        path = path.replace("{" + name + "}", choices.split("|")[0])
    return re.sub(r"\{[^}]+\}", "1", path)


async def _permissions_by_role(app) -> dict[str, frozenset[str]]:
    async with app[db_key]() as db:
        roles = (await db.scalars(select(Role))).all()
        return {role.name: frozenset(p.permission for p in role.permissions) for role in roles}


async def test_every_role_gets_exactly_the_routes_its_permissions_allow(aiohttp_client, client):
    app = client.app
    held = await _permissions_by_role(app)
    assert set(held) == set(ROLES)
    routes = _routes(app)
    assert len(routes) > 40  # the walk sees the app's routes, not an empty table
    wrong: list[str] = []
    for role in sorted(ROLES):
        walker = await aiohttp_client(client.server)
        await add_user(app, f"u-{role}", role)
        token = await api_login(walker, f"u-{role}")
        for method, path, access in routes:
            headers = {"X-CSRF-Token": token, "Origin": str(walker.make_url("/")).rstrip("/")}
            if path.startswith("/api/"):
                response = await walker.request(method, path, headers=headers, json={})
            else:
                data = {"csrf_token": token} if method != "GET" else None
                response = await walker.request(
                    method, path, headers=headers, data=data, allow_redirects=False
                )
            status = response.status
            response.release()
            may = allowed(access, held[role])
            if may and status in (401, 403):
                wrong.append(f"{role} {method} {path} ({access}): {status}, should be allowed")
            if not may and status != 403:
                wrong.append(f"{role} {method} {path} ({access}): {status}, should be 403")
    assert wrong == [], "\n".join(wrong)
