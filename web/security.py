"""Cookies, CSRF tokens, client address and Origin checks: the small security pieces."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from web.appkeys import secret_key, settings_key

SESSION_COOKIE = "cc_session"
# Before login there is no session to hold a CSRF token; this cookie seeds one for the login form.
PRELOGIN_COOKIE = "cc_prelogin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def client_ip(request: web.Request) -> str:
    if request.app[settings_key].trust_proxy_headers:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return (request.remote or "")[:64]


def is_secure(request: web.Request) -> bool:
    settings = request.app[settings_key]
    if settings.cookie_secure != "auto":
        return settings.cookie_secure == "always"
    if settings.trust_proxy_headers and request.headers.get("X-Forwarded-Proto") == "https":
        return True
    return request.secure


def set_session_cookie(
    request: web.Request, response: web.StreamResponse, token: str, max_age: int | None
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="Lax",
        secure=is_secure(request),
        path="/",
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


def prelogin_token(request: web.Request, response: web.StreamResponse) -> str:
    """The login form's CSRF token: an HMAC of a random cookie, checked on submit."""
    seed = request.cookies.get(PRELOGIN_COOKIE)
    if not seed or len(seed) > 100:
        seed = secrets.token_urlsafe(24)
        response.set_cookie(
            PRELOGIN_COOKIE,
            seed,
            httponly=True,
            samesite="Strict",
            secure=is_secure(request),
            path="/",
        )
    return _sign(request, seed)


def prelogin_token_valid(request: web.Request, token: str) -> bool:
    seed = request.cookies.get(PRELOGIN_COOKIE)
    return bool(seed) and hmac.compare_digest(_sign(request, seed), token)


def _sign(request: web.Request, seed: str) -> str:
    key = request.app[secret_key].encode()
    return hmac.new(key, b"prelogin:" + seed.encode(), hashlib.sha256).hexdigest()


def tokens_match(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def origin_allowed(request: web.Request) -> bool:
    """A websocket may be opened only by our own pages (browsers always send Origin)."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    if origin in request.app[settings_key].allowed_origins:
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.host and parts.scheme in ("http", "https")
