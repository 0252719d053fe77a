"""The one error model of the web layer. Every refusal, whether a domain error a service or view
raised or an HTTPException aiohttp raised (no such route, wrong method, body too large), becomes
one `Problem`: a status and, for the API, one body

    {"error": code, "message": "...", "fields": {...}}   (fields only when inputs are at fault;
                                                          a throttled one adds retry_after, scope)

The middleware (web/middlewares.py) renders it; form pages read the same table to re-render a
refused form with the same status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from crm_core.errors import DomainError, Throttled

# The table: each error code and its HTTP status. An HTTPException that aiohttp raises takes the
# first code listed for its status, so a 409 reads "conflict" wherever it comes from.
STATUS: dict[str, int] = {
    "bad_request": 400,
    "unauthorized": 401,
    "bad_credentials": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "refused": 409,
    "out_of_stock": 409,
    "too_large": 413,
    "unsupported_media_type": 415,
    "invalid_input": 422,
    "throttled": 429,
    "internal_error": 500,
    "upstream_failed": 502,
    "unavailable": 503,
}
CODE_FOR_STATUS: dict[int, str] = {status: code for code, status in reversed(STATUS.items())}
# Headers of an aiohttp HTTPException worth keeping on the shaped response.
KEPT_HEADERS = ("Allow", "Retry-After")


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    code: str
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        body.update(self.extra)
        return body


INTERNAL_ERROR = Problem(500, "internal_error", "internal error")


def problem_of(exc: DomainError | web.HTTPException) -> Problem:
    if isinstance(exc, DomainError):
        headers = {}
        if isinstance(exc, Throttled):
            headers["Retry-After"] = str(exc.retry_after_seconds)
        # A code missing from the table is a bug (tests/web/test_error_model.py looks); 400
        # is the least wrong answer meanwhile.
        return Problem(
            STATUS.get(exc.code, 400),
            exc.code,
            exc.message,
            dict(exc.fields),
            exc.details(),
            headers,
        )
    return Problem(
        exc.status,
        code_for_status(exc.status),
        exc.reason,
        headers={k: v for k, v in exc.headers.items() if k in KEPT_HEADERS},
    )


def code_for_status(status: int) -> str:
    return CODE_FOR_STATUS.get(status) or ("internal_error" if status >= 500 else "bad_request")
