"""Churn warnings (customers who stopped ordering), the measures taken against each, and the
runs of scheduled jobs (one row per occurrence: with several instances exactly one runs it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models.base import Base


class ChurnWarning(Base):
    __tablename__ = "churn_warnings"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # open (flagged), postponed (a measure taken), churned (confirmed), cleared (ordered again)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    last_order_at: Mapped[datetime | None]
    flagged_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500), default="")  # why the churn was confirmed
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None]


class ChurnMeasure(Base):
    __tablename__ = "churn_measures"

    id: Mapped[int] = mapped_column(primary_key=True)
    warning_id: Mapped[int] = mapped_column(
        ForeignKey("churn_warnings.id", ondelete="CASCADE"), index=True
    )
    measure: Mapped[str] = mapped_column(String(64))  # dictionary: churn_measure
    note: Mapped[str] = mapped_column(String(1000), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class JobRun(Base):
    """A scheduled job's occurrence, claimed by the instance that runs it."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "scheduled_for", name="uq_job_runs_occurrence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    scheduled_for: Mapped[datetime]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    instance: Mapped[str] = mapped_column(String(64), default="")
    result: Mapped[str] = mapped_column(String(500), default="")
