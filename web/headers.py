"""Security headers on every response: pages, the API, errors, redirects and static files.

A response-prepare signal rather than a middleware: it also sees what no handler returned (the
redirects and refusals the middlewares raise, static files)."""

from __future__ import annotations

from aiohttp import web

from web.security import came_over_tls

# The pages load only our own scripts, styles and sockets (no inline script, style or event
# attribute anywhere: keep it so), and nobody may frame them (clickjacking of admin forms).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'; object-src 'none'"
)
HSTS = "max-age=31536000"
SERVER = "callcentre"  # instead of the Python and aiohttp versions


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Frame-Options"] = "DENY"  # frame-ancestors, for browsers that predate it
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["Server"] = SERVER
    if not isinstance(request.match_info.route.resource, web.StaticResource):
        # Pages and API answers hold someone's data: no browser or proxy keeps a copy (the
        # back button after sign-out shows nothing). Static assets are versioned, cacheable.
        headers["Cache-Control"] = "no-store"
    if came_over_tls(request):
        # Only over TLS (browsers ignore it on plain http), as told by TLS itself or by a
        # trusted proxy: a forged X-Forwarded-Proto must not pin browsers to https.
        headers["Strict-Transport-Security"] = HSTS
