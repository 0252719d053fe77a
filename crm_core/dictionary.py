"""The data dictionary: categories are fixed in code, their entries are edited by admins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import Actor
from crm_core.clock import Clock
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import DictionaryEntry
from crm_core.schemas import DictionaryEntryCreate, DictionaryEntryUpdate

# Category → (label, whether its entries carry a time limit).
CATEGORIES: dict[str, tuple[str, bool]] = {
    "customer_level": ("Customer levels", False),
    "region": ("Regions", False),
    "service_request_type": ("Service request types", False),
    "disposition": ("Call dispositions", False),
    "pause_reason": ("Agent pause reasons", True),
    "churn_measure": ("Churn measures", False),
    "department": ("Departments", False),
    "product_category": ("Product categories", False),
    "churn_reason": ("Churn reasons", False),
}


def entry_snapshot(entry: DictionaryEntry) -> dict[str, Any]:
    return {
        "code": entry.code,
        "label": entry.label,
        "sort_order": entry.sort_order,
        "is_active": entry.is_active,
        "attributes": dict(entry.attributes or {}),
    }


class DictionaryService:
    def __init__(self, session: AsyncSession, *, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    @staticmethod
    def check_category(category: str) -> str:
        if category not in CATEGORIES:
            raise NotFound(f"no dictionary category {category!r}", field="category")
        return category

    async def entries(self, category: str, *, active_only: bool = False) -> list[DictionaryEntry]:
        query = select(DictionaryEntry).where(
            DictionaryEntry.category == self.check_category(category)
        )
        if active_only:
            query = query.where(DictionaryEntry.is_active.is_(True))
        rows = await self.session.scalars(
            query.order_by(DictionaryEntry.sort_order, DictionaryEntry.code)
        )
        return list(rows.all())

    async def get(self, category: str, code: str) -> DictionaryEntry:
        entry = await self.session.scalar(
            select(DictionaryEntry).where(
                DictionaryEntry.category == self.check_category(category),
                DictionaryEntry.code == code,
            )
        )
        if entry is None:
            raise NotFound(f"no entry {code!r} in {category!r}", field="code")
        return entry

    async def create(
        self, category: str, data: DictionaryEntryCreate, actor: Actor
    ) -> DictionaryEntry:
        self.check_category(category)
        exists = await self.session.scalar(
            select(DictionaryEntry.id).where(
                DictionaryEntry.category == category, DictionaryEntry.code == data.code
            )
        )
        if exists is not None:
            raise Conflict(f"code {data.code!r} already exists in {category!r}", field="code")
        entry = DictionaryEntry(
            category=category,
            code=data.code,
            label=data.label,
            sort_order=data.sort_order,
            is_active=True,
            attributes=self._attributes(category, data.time_limit_minutes),
        )
        self.session.add(entry)
        await self.session.flush()
        audit.record(
            self.session,
            actor,
            at=self.clock(),
            action="dictionary.create",
            entity_type=f"dictionary.{category}",
            entity_id=entry.code,
            after=entry_snapshot(entry),
        )
        return entry

    async def update(
        self, category: str, code: str, data: DictionaryEntryUpdate, actor: Actor
    ) -> DictionaryEntry:
        entry = await self.get(category, code)
        before = entry_snapshot(entry)
        changes = data.model_dump(exclude_unset=True)
        for key in ("label", "sort_order", "is_active"):
            if changes.get(key) is not None:
                setattr(entry, key, changes[key])
        if "time_limit_minutes" in changes:
            # Only the time limit: other attributes (a request type's deadline) stay.
            kept = {k: v for k, v in (entry.attributes or {}).items() if k != "time_limit_minutes"}
            entry.attributes = kept | self._attributes(category, changes["time_limit_minutes"])
        after = entry_snapshot(entry)
        if after != before:
            audit.record(
                self.session,
                actor,
                at=self.clock(),
                action="dictionary.update",
                entity_type=f"dictionary.{category}",
                entity_id=entry.code,
                before=before,
                after=after,
            )
        return entry

    @staticmethod
    def _attributes(category: str, time_limit: int | None) -> dict[str, Any]:
        if time_limit is None:
            return {}
        if not CATEGORIES[category][1]:
            raise InvalidInput(
                f"entries of {category!r} have no time limit", field="time_limit_minutes"
            )
        return {"time_limit_minutes": time_limit}
