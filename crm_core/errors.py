"""Errors the services raise; the web layer turns each into one HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses. `field` names the input at fault, when there is one."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    """The input clashes with what exists (a duplicate name)."""

    status = 409


class Refused(DomainError):
    """A rule forbids the change (e.g. disabling the last administrator)."""

    status = 409


class InvalidInput(DomainError):
    status = 422
