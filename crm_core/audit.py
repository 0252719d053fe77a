"""Writes the audit trail. Services call it inside their own transaction, so a change and its
audit row commit or roll back together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import AuditEntry


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a logged-in user, or the system (CLI, scheduler, AMI link)."""

    user_id: int | None
    name: str
    client_ip: str | None = None
    request_id: str | None = None


SYSTEM = Actor(user_id=None, name="system")


def record(
    session: AsyncSession,
    actor: Actor,
    *,
    at: datetime,
    action: str,
    entity_type: str,
    entity_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=at,
        actor_id=actor.user_id,
        actor_name=actor.name[:64],
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id)[:64],
        before=before,
        after=after,
        client_ip=actor.client_ip,
        request_id=actor.request_id,
    )
    session.add(entry)
    return entry
