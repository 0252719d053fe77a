"""Cookies, CSRF tokens, client address and Origin checks: the small security pieces."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit

from aiohttp import web

from config.settings import IpNetwork
from web.appkeys import secret_key, settings_key

SESSION_COOKIE = "cc_session"
# Before login there is no session to hold a CSRF token; this cookie seeds one for the login form.
PRELOGIN_COOKIE = "cc_prelogin"
# Over TLS the cookies are named __Host-…: a browser then keeps them only if Secure, Path=/ and
# without Domain, so neither a sibling subdomain nor a page on plain http can plant or overwrite
# them (session fixation by cookie tossing). The prefix needs Secure, and Secure cookies are kept
# only from secure origins (browsers count http://localhost as one; aiohttp's cookie jar does not),
# so a request over plain http (the demo on http://127.0.0.1) uses the plain names. Each kind of
# request reads only its own name: a plain cookie planted over http is never believed over TLS.
HOST_PREFIX = "__Host-"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
FORWARDING_HEADERS = ("X-Forwarded-For", "X-Forwarded-Proto", "Forwarded", "X-Real-IP")


def client_ip(request: web.Request) -> str:
    """The client's address. X-Forwarded-For counts only when the peer is a trusted proxy; then
    the client is the right-most hop that is not one (what is left of it, anyone can write)."""
    networks = request.app[settings_key].trusted_networks
    peer = request.remote or ""
    if not _trusted(peer, networks):
        return peer[:64]
    nearest = _address(peer)
    for hop in reversed(_header_list(request, "X-Forwarded-For")):
        address = _address(hop)
        if address is None:
            break  # junk where a proxy of ours wrote an address: keep the nearest trusted hop
        nearest = address
        if not _in(address, networks):
            break
    return str(nearest or peer)[:64]


def from_trusted_proxy(request: web.Request) -> bool:
    return _trusted(request.remote or "", request.app[settings_key].trusted_networks)


def came_over_tls(request: web.Request) -> bool:
    """TLS to us, or to the trusted proxy in front (its X-Forwarded-Proto, the right-most)."""
    if request.secure:
        return True
    protos = _header_list(request, "X-Forwarded-Proto")
    return bool(protos) and protos[-1].lower() == "https" and from_trusted_proxy(request)


def is_loopback_client(request: web.Request) -> bool:
    """A client on this machine talking to us directly (a proxy on this machine would add
    forwarding headers: then it is not)."""
    address = _address(request.remote or "")
    if address is None or not address.is_loopback:
        return False
    return not any(name in request.headers for name in FORWARDING_HEADERS)


def is_secure(request: web.Request) -> bool:
    """Whether our cookies are Secure (and so named __Host-…)."""
    settings = request.app[settings_key]
    if settings.cookie_secure != "auto":
        return settings.cookie_secure == "always"
    return came_over_tls(request)


def cookie_name(request: web.Request, base: str) -> str:
    return HOST_PREFIX + base if is_secure(request) else base


def session_token(request: web.Request) -> str | None:
    return request.cookies.get(cookie_name(request, SESSION_COOKIE))


def sets_session_cookie(response: web.StreamResponse) -> bool:
    """Whether the response starts a session (it must not also clear the cookie)."""
    names = (SESSION_COOKIE, HOST_PREFIX + SESSION_COOKIE)
    return any(name in response.cookies and response.cookies[name].value for name in names)


def set_session_cookie(
    request: web.Request, response: web.StreamResponse, token: str, max_age: int | None
) -> None:
    response.set_cookie(
        cookie_name(request, SESSION_COOKIE),
        token,
        max_age=max_age,
        httponly=True,
        samesite="Lax",
        secure=is_secure(request),
        path="/",
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    """Both names: whichever the browser holds goes (a __Host- one only goes with Secure)."""
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(HOST_PREFIX + SESSION_COOKIE, path="/", secure=True)


def prelogin_token(request: web.Request, response: web.StreamResponse) -> str:
    """The login form's CSRF token: an HMAC of a random cookie, checked on submit (and good for
    nothing but the login form)."""
    seed = request.cookies.get(cookie_name(request, PRELOGIN_COOKIE))
    if not seed or len(seed) > 100:
        seed = secrets.token_urlsafe(24)
        response.set_cookie(
            cookie_name(request, PRELOGIN_COOKIE),
            seed,
            httponly=True,
            samesite="Strict",
            secure=is_secure(request),
            path="/",
        )
    return _sign(request, seed)


def prelogin_token_valid(request: web.Request, token: str) -> bool:
    seed = request.cookies.get(cookie_name(request, PRELOGIN_COOKIE))
    return bool(seed) and hmac.compare_digest(_sign(request, seed).encode(), token.encode())


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


def _header_list(request: web.Request, name: str) -> list[str]:
    """A comma-list header's values, over every copy of the header, in order."""
    joined = ",".join(request.headers.getall(name, ()))
    return [part.strip() for part in joined.split(",") if part.strip()]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return address


def _in(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Sequence[IpNetwork]
) -> bool:
    return any(address in network for network in networks)


def _trusted(text: str, networks: Sequence[IpNetwork]) -> bool:
    address = _address(text) if networks else None
    return address is not None and _in(address, networks)
