"""Sales opportunities and the development plan an account manager works each one through."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models.base import Base


class Opportunity(Base):
    __tablename__ = "opportunities"
    __table_args__ = (Index("ix_opportunities_stage_owner", "stage", "assigned_to"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    # The prospect, until a won opportunity becomes a customer.
    prospect_name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    phone_raw: Mapped[str] = mapped_column(String(64), default="")
    phone_e164: Mapped[str] = mapped_column(String(20), default="")
    source: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    value_cents: Mapped[int] = mapped_column(default=0)
    probability: Mapped[int] = mapped_column(default=0)  # percent
    # new (unassigned), assigned, developing, won, lost, terminated
    stage: Mapped[str] = mapped_column(String(16), default="new", index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime | None]
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )  # the customer a won opportunity became
    close_reason: Mapped[str] = mapped_column(String(500), default="")
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PlanStep(Base):
    """One planned step of an opportunity's development plan, and its result once done."""

    __tablename__ = "plan_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    planned_on: Mapped[date] = mapped_column(Date)
    action: Mapped[str] = mapped_column(String(500))
    result: Mapped[str] = mapped_column(Text, default="")
    done_at: Mapped[datetime | None]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
