"""Request middlewares, outermost first: request context (id, logs, metrics, errors), then
authentication and permission, then CSRF."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from crm_core import sessions
from crm_core.errors import DomainError, Forbidden, Unauthorized
from crm_core.uow import UnitOfWork
from web.access import PUBLIC, access_of, allowed
from web.appkeys import (
    clock_key,
    db_key,
    metrics_key,
    principal_key,
    request_id_key,
    session_policy_key,
)
from web.errors import INTERNAL_ERROR, Problem, problem_of
from web.inputs import UnsupportedBody, read_form
from web.principal import Principal
from web.render import render
from web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    clear_session_cookie,
    prelogin_token_valid,
    session_token,
    sets_session_cookie,
    tokens_match,
)

log = structlog.get_logger("web")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_FORM = "/login"


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/v1/")


def error_response(request: web.Request, problem: Problem) -> web.StreamResponse:
    """The API's one JSON shape, or the error page."""
    if is_api(request):
        return web.json_response(
            problem.body(), status=problem.status, headers=problem.headers or None
        )
    response = render(
        request,
        "error.html",
        {
            "status": problem.status,
            "message": problem.message,
            "fields": problem.fields,
        },
        status=problem.status,
    )
    response.headers.update(problem.headers)
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
    except web.HTTPException as exc:  # redirects
        status = exc.status
        exc.headers["X-Request-ID"] = request_id
        raise
    finally:
        elapsed = time.perf_counter() - started
        metrics = request.app[metrics_key]
        metrics.http_requests.labels(request.method, route, str(status)).inc()
        metrics.http_seconds.labels(route).observe(elapsed)
        if not route.startswith("/static"):
            log.info(
                "http.request",
                method=request.method,
                path=request.path,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )


async def _handle_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error, the domain's and aiohttp's (no route, wrong method, body too large), through
    the one table in web/errors.py."""
    try:
        return await handler(request)
    except DomainError as exc:
        return error_response(request, problem_of(exc))
    except web.HTTPException as exc:
        if exc.status >= 400:
            return error_response(request, problem_of(exc))
        raise  # a redirect
    except Exception:
        log.exception("http.unhandled_error", method=request.method, path=request.path)
        return error_response(request, INTERNAL_ERROR)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if isinstance(request.match_info.route.resource, web.StaticResource):
        return await handler(request)  # no session lookup for a stylesheet
    token = session_token(request)
    found = None
    if token and len(token) <= 128:
        async with UnitOfWork(request.app[db_key]) as uow:
            found = await sessions.resolve(
                uow.session,
                token,
                now=request.app[clock_key](),
                policy=request.app[session_policy_key],
            )
            # Keeps the session's touch (or its end on expiry); ending a read-only
            # transaction costs the same round trip as the rollback would.
            await uow.commit()
    if found is not None:
        row, user = found
        request[principal_key] = Principal(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            roles=tuple(user.role_names),
            permissions=user.permissions,
            session_id=row.id,
            csrf_token=row.csrf_token,
        )
        structlog.contextvars.bind_contextvars(user=user.username)

    access = access_of(request)
    if access == PUBLIC:
        return await _respond(request, handler, token, found)
    if found is None:
        if is_api(request):
            raise Unauthorized("log in first")
        location = "/login?next=" + request.path_qs if request.method == "GET" else "/login"
        response = web.HTTPFound(location)
        if token:
            clear_session_cookie(response)
        raise response
    if not allowed(access, request[principal_key].permissions):
        needed = " or ".join(repr(p) for p in access.split("|"))
        raise Forbidden(f"you do not have the permission {needed}")
    return await handler(request)


async def _respond(
    request: web.Request, handler: Handler, token: str | None, found: object
) -> web.StreamResponse:
    response = await handler(request)
    # A dead cookie is not sent again, unless this response (a login) replaces it.
    if token and found is None and not response.prepared and not sets_session_cookie(response):
        clear_session_cookie(response)
    return response


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in UNSAFE:
        return await handler(request)
    who: Principal | None = request.get(principal_key)
    if is_api(request):
        # JSON bodies only (cross-site forms cannot send them) and, with a session, the header.
        uploads = getattr(request.match_info.handler, "upload", ())
        if request.content_type in uploads:
            pass  # a file to import: a raw body a cross-site form cannot send with the header
        elif request.content_type != "application/json" and request.content_length:
            raise UnsupportedBody("expected a JSON body (Content-Type: application/json)")
        if who is not None and not tokens_match(who.csrf_token, request.headers.get(CSRF_HEADER)):
            raise Forbidden(f"missing or wrong {CSRF_HEADER} header")
        return await handler(request)
    form = await read_form(request)
    given = (form.get(CSRF_FIELD) or [""])[-1]
    # Every form needs the token of the session posting it. The login form may instead carry
    # the pre-login token (there may be no session yet), and only the login form may.
    ok = who is not None and tokens_match(who.csrf_token, given)
    if not ok and request.path == LOGIN_FORM:
        ok = prelogin_token_valid(request, given)
    if not ok:
        raise Forbidden(
            "the form has expired or came from another site; reload the page and try again"
        )
    return await handler(request)
