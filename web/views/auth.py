"""The login page and logout."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from crm_core.auth import BadCredentials, LoginThrottled
from crm_core.schemas import LoginInput
from web import operations
from web.access import public
from web.appkeys import settings_key
from web.errors import problem_of
from web.inputs import BadInput, form_problem, form_values, read_form, validate
from web.render import render
from web.security import clear_session_cookie, prelogin_token, set_session_cookie

routes = web.RouteTableDef()

REASONS = {
    "replaced": "You were signed out because your account signed in somewhere else.",
    "expired": "Your session expired after a period of inactivity. Please sign in again.",
    "logout": "You have signed out.",
    "disabled": "Your account was disabled.",
    "password_reset": "Your password was reset by an administrator. Please sign in again.",
}


def safe_next(target: str | None) -> str:
    """Only a path on this site, never another host (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc or "\\" in target else target


def _login_form(
    request: web.Request,
    *,
    status: int = 200,
    error: str = "",
    notice: str = "",
    fields: dict[str, str] | None = None,
    values: dict[str, object] | None = None,
    target: str = "/",
) -> web.Response:
    carrier = web.Response()  # collects the pre-login cookie, if one has to be set
    page = render(
        request,
        "login.html",
        {
            "login_csrf": prelogin_token(request, carrier),
            "error": error,
            "notice": notice,
            "fields": fields or {},
            "values": values or {},
            "next": target,
        },
        status=status,
    )
    for cookie in carrier.cookies.values():
        page.cookies[cookie.key] = cookie
    return page


@routes.get("/login", name="login")
@public
async def login_page(request: web.Request) -> web.Response:
    return _login_form(
        request,
        notice=REASONS.get(request.query.get("reason", ""), ""),
        target=safe_next(request.query.get("next")),
    )


@routes.post("/login")
@public
async def login_submit(request: web.Request) -> web.Response:
    values = form_values(await read_form(request))
    target = safe_next(str(values.pop("next", "/")))
    values["remember"] = values.get("remember") in ("on", "true", "1")
    shown = {"username": values.get("username", ""), "remember": values["remember"]}
    # Refusals re-render the form (status from the one error table) rather than an error page.
    try:
        data = validate(LoginInput, values)
        done = await operations.login(request, data)
    except BadInput as exc:
        status, error, fields = form_problem(exc)
        return _login_form(
            request, status=status, error=error, fields=fields, values=shown, target=target
        )
    except BadCredentials as exc:
        return _login_form(
            request,
            status=problem_of(exc).status,
            error="Wrong user name or password.",
            values=shown,
            target=target,
        )
    except LoginThrottled as exc:
        seconds = exc.retry_after_seconds
        page = _login_form(
            request,
            status=problem_of(exc).status,
            values=shown,
            target=target,
            error=f"Too many failed sign-ins. Try again in {seconds} seconds.",
        )
        page.headers["Retry-After"] = str(seconds)
        return page
    response = web.HTTPSeeOther(target)
    settings = request.app[settings_key]
    max_age = settings.remember_me_days * 86400 if data.remember else None
    set_session_cookie(request, response, done.token, max_age)
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    await operations.logout(request)
    response = web.HTTPSeeOther("/login?reason=logout")
    clear_session_cookie(response)
    raise response
