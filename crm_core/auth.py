"""Logging in and out: throttling, password check, one live session per user, audit.

Nothing here commits. A refused login still wrote its attempt and audit row (what throttling
counts): the owner commits those before passing BadCredentials or LoginThrottled on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit, throttle
from crm_core.audit import Actor
from crm_core.clock import Clock
from crm_core.errors import Throttled, Unauthorized, whole_seconds
from crm_core.models import LoginAttempt, User, UserSession
from crm_core.passwords import Passwords
from crm_core.sessions import SessionPolicy, end_session, open_session


@dataclass(frozen=True, slots=True)
class LoginLimits:
    window: timedelta
    per_account: int
    per_client: int


@dataclass(frozen=True, slots=True)
class LoggedIn:
    token: str
    session: UserSession
    user: User
    ended_session_ids: list[str]


class BadCredentials(Unauthorized):
    """Wrong user name or password (deliberately not saying which)."""

    code = "bad_credentials"

    def __init__(self, message: str = "wrong user name or password") -> None:
        super().__init__(message)


class LoginThrottled(Throttled):
    def __init__(self, throttled: throttle.Throttled) -> None:
        seconds = whole_seconds(throttled.retry_after)
        super().__init__(
            f"too many failed logins; retry in {seconds} s",
            retry_after=throttled.retry_after,
            scope=throttled.scope,
        )
        self.throttled = throttled


class LoginService:
    def __init__(
        self,
        session: AsyncSession,
        *,
        passwords: Passwords,
        clock: Clock,
        policy: SessionPolicy,
        limits: LoginLimits,
    ) -> None:
        self.session = session
        self.passwords = passwords
        self.clock = clock
        self.policy = policy
        self.limits = limits

    async def login(
        self, username: str, password: str, *, remember: bool, client_ip: str, user_agent: str
    ) -> LoggedIn:
        now = self.clock()
        actor = Actor(user_id=None, name=username, client_ip=client_ip)
        blocked = await self._throttled(username, client_ip)
        if blocked is not None:
            audit.record(
                self.session,
                actor,
                at=now,
                action="auth.login_throttled",
                entity_type="username",
                entity_id=username,
                after={"scope": blocked.scope},
            )
            raise LoginThrottled(blocked)

        user = await self.session.scalar(select(User).where(User.username == username))
        ok = await self.passwords.verify(user.password_hash if user else None, password)
        if not ok or user is None or not user.is_active:
            self.session.add(
                LoginAttempt(at=now, username=username, client_ip=client_ip, succeeded=False)
            )
            reason = "bad_password" if user else "unknown_user"
            if user is not None and not user.is_active and ok:
                reason = "disabled"
            audit.record(
                self.session,
                actor,
                at=now,
                action="auth.login_failed",
                entity_type="username",
                entity_id=username,
                after={"reason": reason},
            )
            raise BadCredentials()

        if self.passwords.needs_rehash(user.password_hash):
            user.password_hash = await self.passwords.hash(password)
        self.session.add(
            LoginAttempt(at=now, username=username, client_ip=client_ip, succeeded=True)
        )
        token, row, ended = await open_session(
            self.session,
            user,
            now=now,
            policy=self.policy,
            remember=remember,
            client_ip=client_ip,
            user_agent=user_agent,
        )
        actor = Actor(user_id=user.id, name=user.username, client_ip=client_ip)
        audit.record(
            self.session,
            actor,
            at=now,
            action="auth.login",
            entity_type="user",
            entity_id=user.id,
            after={"remember": remember, "replaced": len(ended)},
        )
        return LoggedIn(token=token, session=row, user=user, ended_session_ids=ended)

    async def logout(self, session_id: str, actor: Actor) -> None:
        now = self.clock()
        await end_session(self.session, session_id, now, "logout")
        audit.record(
            self.session,
            actor,
            at=now,
            action="auth.logout",
            entity_type="user",
            entity_id=actor.user_id,
        )

    async def _throttled(self, username: str, client_ip: str) -> throttle.Throttled | None:
        now = self.clock()
        since = now - self.limits.window
        # An account's failures count from its last successful login on.
        last_success = await self.session.scalar(
            select(func.max(LoginAttempt.at)).where(
                LoginAttempt.username == username, LoginAttempt.succeeded.is_(True)
            )
        )
        account_since = max(since, last_success) if last_success else since
        account = await self._failure_times(LoginAttempt.username == username, account_since)
        client = await self._failure_times(LoginAttempt.client_ip == client_ip, since)
        return throttle.check(
            now=now,
            window=self.limits.window,
            account_failures=account,
            account_limit=self.limits.per_account,
            client_failures=client,
            client_limit=self.limits.per_client,
        )

    async def _failure_times(
        self, condition: ColumnElement[bool], since: datetime
    ) -> list[datetime]:
        rows = await self.session.scalars(
            select(LoginAttempt.at)
            .where(condition, LoginAttempt.succeeded.is_(False), LoginAttempt.at > since)
            .order_by(LoginAttempt.at)
        )
        return list(rows.all())
