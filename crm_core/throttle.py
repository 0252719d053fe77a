"""Failed-login throttling: a pure rule over the times of recent attempts.

Nothing is blocked for long. A few failures are free; each one beyond them doubles the wait
before the next attempt is even checked, up to a cap. So a correct password waits at most the
cap however many failures others ran up (one address behind a call centre's NAT, or a user name
anybody can type, cannot lock people out), while guessing slows to one try per cap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_DOUBLINGS = 32  # far past any cap; keeps the arithmetic small


@dataclass(frozen=True, slots=True)
class Throttled:
    scope: str  # "account" or "client"
    retry_after: timedelta


@dataclass(frozen=True, slots=True)
class Rule:
    free: int  # failures inside the window that cost no wait
    first_delay: timedelta
    max_delay: timedelta

    def delay(self, failures: int) -> timedelta | None:
        """The wait after this many failures: none within the free ones, then doubling."""
        if failures < self.free:
            return None
        doublings = min(failures - self.free, MAX_DOUBLINGS)
        return min(self.max_delay, self.first_delay * 2**doublings)


@dataclass(frozen=True, slots=True)
class Recent:
    """One scope's attempts inside the window, before the one being decided: those that failed,
    and those still being checked (their outcome is not known yet)."""

    failures: Sequence[datetime] = ()
    checking: Sequence[datetime] = ()


def wait(attempts: Sequence[datetime], rule: Rule, *, now: datetime) -> timedelta | None:
    """How long the next attempt must wait after these (failed or unsettled) attempts."""
    delay = rule.delay(len(attempts))
    if delay is None:
        return None
    until = max(attempts) + delay
    return until - now if until > now else None


def check(
    *, now: datetime, account: Recent, account_rule: Rule, client: Recent, client_rule: Rule
) -> Throttled | None:
    """Whether an attempt may go on to the password check, or must wait (and how long)."""
    # Attempts on one account still being checked count as failures: they may be, and a burst
    # of concurrent guesses must not all reach the password check.
    account_attempts = [*account.failures, *account.checking]
    # From one address they count only once its free failures are spent: a shift of agents
    # behind one NAT address signs in at the same moment; an address already being slowed
    # down has one attempt checked at a time.
    client_attempts = list(client.failures)
    if len(client_attempts) >= client_rule.free:
        client_attempts += client.checking
    for scope, attempts, rule in (
        ("account", account_attempts, account_rule),
        ("client", client_attempts, client_rule),
    ):
        waiting = wait(attempts, rule, now=now)
        if waiting is not None:
            return Throttled(scope=scope, retry_after=waiting)
    return None
