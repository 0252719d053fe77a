"""Typed errors of the AMI link, so that callers handle each case on purpose."""

from __future__ import annotations

from typing import Any


class AmiError(Exception):
    pass


class LinkDown(AmiError):
    """The link is not connected (or dropped while the action was in flight)."""


class ActionTimeout(AmiError):
    def __init__(self, action: str, action_id: str, seconds: float) -> None:
        super().__init__(f"{action} ({action_id}) had no answer within {seconds:g} s")
        self.action = action
        self.action_id = action_id


class ActionFailed(AmiError):
    """Asterisk answered `Response: Error` (or an originate failed)."""

    def __init__(self, action: str, message: str, response: Any = None) -> None:
        super().__init__(f"{action} failed: {message}")
        self.action = action
        self.message = message
        self.response = response


class LoginFailed(AmiError):
    pass
