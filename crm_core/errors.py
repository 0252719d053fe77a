"""Errors the services raise. Each class has a stable `code`, the word API clients see; the web
layer's one table (web/errors.py) gives each code its HTTP status and the one JSON shape."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from math import ceil
from typing import Any, ClassVar


class DomainError(Exception):
    """A request the domain refuses. `field` names the input at fault, when there is one;
    `fields` maps each input at fault to its message."""

    code: ClassVar[str] = "bad_request"

    def __init__(
        self, message: str, *, field: str | None = None, fields: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.fields: dict[str, str] = dict(fields or {})
        if field and field not in self.fields:
            self.fields[field] = message

    def details(self) -> dict[str, Any]:
        """Keys an error adds to the body beside error, message and fields."""
        return {}


class InvalidInput(DomainError):
    code = "invalid_input"


class Unauthorized(DomainError):
    """Not logged in (or the session is over)."""

    code = "unauthorized"


class Forbidden(DomainError):
    """Logged in, but not allowed (a permission, a CSRF token, an Origin)."""

    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """The input clashes with what exists (a duplicate name), or with the state things are in
    (hanging up when not on a call)."""

    code = "conflict"


class Refused(DomainError):
    """A rule forbids the change (e.g. disabling the last administrator)."""

    code = "refused"


class Throttled(DomainError):
    """Too many attempts: try again after `retry_after`."""

    code = "throttled"

    def __init__(self, message: str, *, retry_after: timedelta, scope: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.scope = scope

    @property
    def retry_after_seconds(self) -> int:
        return whole_seconds(self.retry_after)

    def details(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"retry_after": self.retry_after_seconds}
        if self.scope:
            extra["scope"] = self.scope
        return extra


def whole_seconds(delta: timedelta) -> int:
    """Rounded up, at least one: what a Retry-After header can say without inviting an early
    retry."""
    return max(1, ceil(delta.total_seconds()))


class Unavailable(DomainError):
    """A service we depend on is not there: no PBX is configured, the PBX link is down."""

    code = "unavailable"


class UpstreamFailed(DomainError):
    """A service we depend on answered with a failure (the PBX refused an action)."""

    code = "upstream_failed"
