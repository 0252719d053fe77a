"""Login sessions stored server-side: one live session per user, ended on logout, on a new
login, on expiry after inactivity or after their absolute lifetime, when the user is disabled
or their password is reset."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import User, UserSession


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta
    remember: timedelta
    touch_every: timedelta
    # However active, a session ends this long after its login: activity slides the idle
    # deadline on, never past this (a stolen cookie cannot be kept alive for ever).
    max_age: timedelta = timedelta(hours=12)
    remember_max_age: timedelta = timedelta(days=30)

    def lifetime(self, remember: bool) -> timedelta:
        return self.remember if remember else self.idle

    def end_of_life(self, *, created_at: datetime, remember: bool) -> datetime:
        return created_at + (self.remember_max_age if remember else self.max_age)

    def deadline(self, *, created_at: datetime, now: datetime, remember: bool) -> datetime:
        """When a session seen active `now` ends, unless seen again before."""
        end = self.end_of_life(created_at=created_at, remember=remember)
        return min(now + self.lifetime(remember), end)


def session_id_for(token: str) -> str:
    """The stored id is a hash of the cookie token: a leaked table does not log anyone in."""
    return hashlib.sha256(token.encode()).hexdigest()


async def end_user_sessions(
    session: AsyncSession, user_id: int, now: datetime, reason: str
) -> list[str]:
    """End every live session of a user; returns their ids so browsers can be told."""
    ids = list(
        (
            await session.scalars(
                select(UserSession.id).where(
                    UserSession.user_id == user_id, UserSession.ended_at.is_(None)
                )
            )
        ).all()
    )
    if ids:
        await session.execute(
            update(UserSession)
            .where(UserSession.id.in_(ids))
            .values(ended_at=now, end_reason=reason)
        )
    return ids


async def open_session(
    session: AsyncSession,
    user: User,
    *,
    now: datetime,
    policy: SessionPolicy,
    remember: bool,
    client_ip: str,
    user_agent: str,
) -> tuple[str, UserSession, list[str]]:
    """Start a session for the user, ending any other. Returns (cookie token, row, ended ids)."""
    ended = await end_user_sessions(session, user.id, now, "replaced")
    token = secrets.token_urlsafe(32)
    row = UserSession(
        id=session_id_for(token),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=policy.deadline(created_at=now, now=now, remember=remember),
        remember=remember,
        csrf_token=secrets.token_urlsafe(32),
        client_ip=client_ip[:64],
        user_agent=user_agent[:300],
    )
    session.add(row)
    return token, row, ended


async def resolve(
    session: AsyncSession, token: str, *, now: datetime, policy: SessionPolicy
) -> tuple[UserSession, User] | None:
    """The live session and its active user for a cookie token, or None. May end an expired
    session or slide a live one on: the caller's unit of work commits that."""
    found = (
        await session.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.id == session_id_for(token))
        )
    ).first()
    if found is None:
        return None
    row, user = found
    if not user.is_active or not await _keep_alive(session, row, now=now, policy=policy):
        return None
    return row, user


async def keep_alive(
    session: AsyncSession, session_id: str, *, now: datetime, policy: SessionPolicy
) -> bool:
    """Activity in an open page (no request made): slide the session on. False if it is over.
    The caller commits."""
    row = await session.get(UserSession, session_id)
    return row is not None and await _keep_alive(session, row, now=now, policy=policy)


async def _keep_alive(
    session: AsyncSession, row: UserSession, *, now: datetime, policy: SessionPolicy
) -> bool:
    """Slides the idle deadline forward (never past the absolute one), writing at most once per
    `touch_every`."""
    if row.ended_at is not None:
        return False
    # Rows written before the absolute lifetime existed may have slid past it.
    too_old = policy.end_of_life(created_at=row.created_at, remember=row.remember) <= now
    if row.expires_at <= now or too_old:
        row.ended_at, row.end_reason = now, "expired"
        return False
    if now - row.last_seen_at >= policy.touch_every:
        row.last_seen_at = now
        row.expires_at = policy.deadline(created_at=row.created_at, now=now, remember=row.remember)
    return True


async def over_among(
    session: AsyncSession, session_ids: list[str], *, now: datetime
) -> dict[str, str]:
    """Which of these sessions are over (ended, or idle past their deadline), and why."""
    if not session_ids:
        return {}
    rows = await session.execute(
        select(
            UserSession.id, UserSession.ended_at, UserSession.end_reason, UserSession.expires_at
        ).where(UserSession.id.in_(session_ids))
    )
    over: dict[str, str] = {}
    seen = set()
    for sid, ended_at, reason, expires_at in rows:
        seen.add(sid)
        if ended_at is not None:
            over[sid] = reason or "ended"
        elif expires_at <= now:
            over[sid] = "expired"
    over.update(dict.fromkeys(set(session_ids) - seen, "ended"))
    return over


async def end_session(session: AsyncSession, session_id: str, now: datetime, reason: str) -> None:
    await session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )
