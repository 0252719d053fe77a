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

# Category → its label.
CATEGORIES: dict[str, str] = {
    "customer_level": "Customer levels",
    "region": "Regions",
    "service_request_type": "Service request types",
    "disposition": "Call dispositions",
    "pause_reason": "Agent pause reasons",
    "churn_measure": "Churn measures",
    "department": "Departments",
    "product_category": "Product categories",
    "churn_reason": "Churn reasons",
}
# The numbers some categories' entries carry (an attribute each, set on the admin page):
# category → (attribute, what it is).
NUMBERS: dict[str, tuple[str, str]] = {
    "pause_reason": ("time_limit_minutes", "Time limit in minutes"),
    "service_request_type": ("deadline_hours", "Deadline in hours"),
}
NUMBER_NAMES = ("time_limit_minutes", "deadline_hours")


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
            attributes=self._numbers(category, data.model_dump(include=set(NUMBER_NAMES))),
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
        given = {name: changes[name] for name in NUMBER_NAMES if name in changes}
        if given:
            # Only the numbers given: other attributes stay; a number given as None is unset.
            kept = {k: v for k, v in (entry.attributes or {}).items() if k not in given}
            entry.attributes = kept | self._numbers(category, given)
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
    def _numbers(category: str, given: dict[str, int | None]) -> dict[str, Any]:
        """The attributes set from ``given``; one the category does not carry is refused."""
        own = NUMBERS.get(category, ("", ""))[0]
        for name, value in given.items():
            if value is not None and name != own:
                raise InvalidInput(f"entries of {category!r} have no {name}", field=name)
        return {own: given[own]} if given.get(own) is not None else {}
