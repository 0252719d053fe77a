"""Failed-login throttling: a pure rule over the times of recent failures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Throttled:
    scope: str  # "account" or "client"
    retry_after: timedelta


def blocked_until(
    failures: Sequence[datetime], *, limit: int, window: timedelta
) -> datetime | None:
    """With `limit` failures inside the window, logins wait until the oldest of the last `limit`
    failures leaves it. `failures` are the failure times inside the window, oldest first."""
    if len(failures) < limit:
        return None
    return failures[-limit] + window


def check(
    *,
    now: datetime,
    window: timedelta,
    account_failures: Sequence[datetime],
    account_limit: int,
    client_failures: Sequence[datetime],
    client_limit: int,
) -> Throttled | None:
    for scope, failures, limit in (
        ("account", account_failures, account_limit),
        ("client", client_failures, client_limit),
    ):
        until = blocked_until(failures, limit=limit, window=window)
        if until is not None and until > now:
            return Throttled(scope=scope, retry_after=until - now)
    return None
