"""Request middlewares, outermost first: request context (id, logs, metrics, errors), then
authentication and permission, then CSRF."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from crm_core import sessions
from crm_core.errors import DomainError, InvalidInput
from web.access import LOGGED_IN, PUBLIC, access_of
from web.appkeys import (
    clock_key,
    db_key,
    metrics_key,
    principal_key,
    request_id_key,
    session_policy_key,
)
from web.inputs import BadInput, domain_to_bad_input, read_form
from web.principal import Principal
from web.render import render
from web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    clear_session_cookie,
    prelogin_token_valid,
    tokens_match,
)

log = structlog.get_logger("web")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/v1/")


def error_response(
    request: web.Request, status: int, message: str, *, code: str,
    fields: dict[str, str] | None = None, headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    if is_api(request):
        body: dict[str, Any] = {"error": code, "message": message}
        if fields:
            body["fields"] = fields
        return web.json_response(body, status=status, headers=headers)
    response = render(
        request, "error.html", {"status": status, "message": message, "fields": fields or {}},
        status=status,
    )
    if headers:
        response.headers.update(headers)
    return response


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-ID", "")
    request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
    request[request_id_key] = request_id
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "-"
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id, route=route)
    started = time.perf_counter()
    status = 500
    try:
        response = await _handle_errors(request, handler)
        status = response.status
        response.headers["X-Request-ID"] = request_id
        return response
    except web.HTTPException as exc:  # redirects, and errors already shaped
        status = exc.status
        exc.headers["X-Request-ID"] = request_id
        raise
    finally:
        elapsed = time.perf_counter() - started
        metrics = request.app[metrics_key]
        metrics.http_requests.labels(request.method, route, str(status)).inc()
        metrics.http_seconds.labels(route).observe(elapsed)
        if not route.startswith("/static"):
            log.info("http.request", method=request.method, path=request.path,
                     status=status, duration_ms=round(elapsed * 1000, 2))


async def _handle_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadInput as exc:
        return error_response(request, exc.status, exc.message, code="invalid_input",
                              fields=exc.fields)
    except InvalidInput as exc:
        bad = domain_to_bad_input(exc)
        return error_response(request, 422, bad.message, code="invalid_input", fields=bad.fields)
    except DomainError as exc:
        fields = {exc.field: exc.message} if exc.field else None
        code = type(exc).__name__.lower()
        return error_response(request, exc.status, exc.message, code=code, fields=fields)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return error_response(request, exc.status, exc.reason, code=_code(exc.status),
                                  headers={k: v for k, v in exc.headers.items()
                                           if k in ("Allow", "Retry-After")})
        raise
    except Exception:
        log.exception("http.unhandled_error", method=request.method, path=request.path)
        return error_response(request, 500, "internal error", code="internal_error")


def _code(status: int) -> str:
    return {401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 413: "too_large", 429: "throttled"}.get(status, "error")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if isinstance(request.match_info.route.resource, web.StaticResource):
        return await handler(request)  # no session lookup for a stylesheet
    token = request.cookies.get(SESSION_COOKIE)
    found = None
    if token and len(token) <= 128:
        async with request.app[db_key]() as db:
            found = await sessions.resolve(
                db, token, now=request.app[clock_key](), policy=request.app[session_policy_key]
            )
    if found is not None:
        row, user = found
        request[principal_key] = Principal(
            user_id=user.id, username=user.username, display_name=user.display_name,
            roles=tuple(user.role_names), permissions=user.permissions,
            session_id=row.id, csrf_token=row.csrf_token,
        )
        structlog.contextvars.bind_contextvars(user=user.username)

    access = access_of(request)
    if access == PUBLIC:
        return await _respond(request, handler, token, found)
    if found is None:
        if is_api(request):
            raise web.HTTPUnauthorized(
                text='{"error":"unauthorized","message":"log in first"}',
                content_type="application/json",
            )
        location = "/login?next=" + request.path_qs if request.method == "GET" else "/login"
        response = web.HTTPFound(location)
        if token:
            clear_session_cookie(response)
        raise response
    if access != LOGGED_IN and access not in request[principal_key].permissions:
        raise web.HTTPForbidden(reason=f"you do not have the permission {access!r}")
    return await handler(request)


async def _respond(
    request: web.Request, handler: Handler, token: str | None, found: object
) -> web.StreamResponse:
    response = await handler(request)
    if token and found is None and not response.prepared:
        clear_session_cookie(response)  # a dead cookie is not sent again
    return response


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in UNSAFE:
        return await handler(request)
    who: Principal | None = request.get(principal_key)
    if is_api(request):
        # JSON bodies only (cross-site forms cannot send them) and, with a session, the header.
        if request.content_type != "application/json" and request.content_length:
            raise BadInput("expected a JSON body (Content-Type: application/json)", status=415)
        if who is not None and not tokens_match(who.csrf_token, request.headers.get(CSRF_HEADER)):
            raise web.HTTPForbidden(reason=f"missing or wrong {CSRF_HEADER} header")
        return await handler(request)
    form = await read_form(request)
    given = (form.get(CSRF_FIELD) or [""])[-1]
    # The login form carries the pre-login token, whether or not a session exists yet.
    ok = (who is not None and tokens_match(who.csrf_token, given)) or prelogin_token_valid(
        request, given
    )
    if not ok:
        raise web.HTTPForbidden(reason="the form has expired or came from another site; "
                                       "reload the page and try again")
    return await handler(request)
