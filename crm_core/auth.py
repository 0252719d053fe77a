"""Logging in and out: throttling, password check, one live session per user, audit.

Nothing here commits. A login is two units of work: `record_attempt` writes the attempt down
as being checked (the owner commits it at once, so that concurrent attempts count it), then
`login` decides it. A refused login still wrote its attempt and audit row (what throttling
counts): the owner commits those before passing BadCredentials or LoginThrottled on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, or_, select, text, update
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
    per_account: int  # free failures of one account inside the window
    per_client: int  # free failures from one address inside the window
    first_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(seconds=30)

    def rule(self, free: int) -> throttle.Rule:
        return throttle.Rule(free=free, first_delay=self.first_delay, max_delay=self.max_delay)


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

    async def record_attempt(self, username: str, client_ip: str) -> int:
        """Write the attempt down as being checked, before anything is checked; returns its id.
        The owner commits this alone, at once: concurrent attempts then count it."""
        await self._one_at_a_time(username, client_ip)
        row = LoginAttempt(at=self.clock(), username=username, client_ip=client_ip)
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def login(
        self,
        attempt_id: int,
        username: str,
        password: str,
        *,
        remember: bool,
        client_ip: str,
        user_agent: str,
    ) -> LoggedIn:
        """Decide the attempt `record_attempt` wrote: throttled, refused, or a new session."""
        now = self.clock()
        actor = Actor(user_id=None, name=username, client_ip=client_ip)
        blocked = await self._throttled(attempt_id, username, client_ip)
        if blocked is not None:
            # Never checked, so it is no failure: hammering does not lengthen the wait.
            await self.session.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt_id))
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
            await self._settle(attempt_id, succeeded=False)
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
        await self._settle(attempt_id, succeeded=True)
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

    async def _one_at_a_time(self, username: str, client_ip: str) -> None:
        """On PostgreSQL, attempt ids come from a sequence before their commit: a lower id could
        commit after a higher one has counted. Holding a lock per account and per address until
        the commit makes numbering and commit order agree. SQLite has one writer at a time."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        for space, key in ((1, username), (2, client_ip)):  # always in this order: no deadlock
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"),
                {"space": space, "key": key},
            )

    async def _settle(self, attempt_id: int, *, succeeded: bool) -> None:
        await self.session.execute(
            update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(succeeded=succeeded)
        )

    async def _throttled(
        self, attempt_id: int, username: str, client_ip: str
    ) -> throttle.Throttled | None:
        """Counts the attempts made before this one (lower ids): each waits for those."""
        now = self.clock()
        since = now - self.limits.window
        before = LoginAttempt.id < attempt_id
        # An account's failures count from its last successful login on.
        last_success = await self.session.scalar(
            select(func.max(LoginAttempt.id)).where(
                before, LoginAttempt.username == username, LoginAttempt.succeeded.is_(True)
            )
        )
        account_since = [LoginAttempt.id > last_success] if last_success else []
        account = await self._recent(
            LoginAttempt.username == username, before, *account_since, since=since
        )
        client = await self._recent(LoginAttempt.client_ip == client_ip, before, since=since)
        return throttle.check(
            now=now,
            account=account,
            account_rule=self.limits.rule(self.limits.per_account),
            client=client,
            client_rule=self.limits.rule(self.limits.per_client),
        )

    async def _recent(self, *conditions: ColumnElement[bool], since: datetime) -> throttle.Recent:
        rows = await self.session.execute(
            select(LoginAttempt.at, LoginAttempt.succeeded)
            .where(
                *conditions,
                or_(LoginAttempt.succeeded.is_(False), LoginAttempt.succeeded.is_(None)),
                LoginAttempt.at > since,
            )
            .order_by(LoginAttempt.id)
        )
        failures, checking = [], []
        for at, succeeded in rows:
            (checking if succeeded is None else failures).append(at)
        return throttle.Recent(failures=failures, checking=checking)
