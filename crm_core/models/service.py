"""The history of a service request, and callbacks promised to customers (the request and
its current state: models.customers.ServiceRequest)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models.base import Base


class ServiceRequestEvent(Base):
    """One step of a request: opened, assigned, handled, closed (with satisfaction), reopened."""

    __tablename__ = "service_request_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("service_requests.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str] = mapped_column(String(32), default="")
    to_status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime]


class Callback(Base):
    """A call back promised to a customer: when, by whom."""

    __tablename__ = "callbacks"
    __table_args__ = (Index("ix_callbacks_owner_due", "owner_user_id", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    call_linked_id: Mapped[str | None] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(20), default="")  # E.164 to call, "" = any
    due_at: Mapped[datetime]
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(String(1000), default="")
    status: Mapped[str] = mapped_column(
        String(16), default="scheduled"
    )  # scheduled, done, cancelled
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
