"""Call records: one per call, answered or not, keyed by the PBX's Linkedid."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models.base import Base


class CallRecord(Base):
    __tablename__ = "call_records"
    __table_args__ = (
        Index("ix_call_records_ended_at", "ended_at"),
        Index("ix_call_records_callback", "callback_needed", "ended_at"),
    )

    linked_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    caller_raw: Mapped[str] = mapped_column(String(64), default="")
    caller_e164: Mapped[str] = mapped_column(String(20), default="", index=True)
    customer_number: Mapped[str] = mapped_column(String(64), default="")
    queue: Mapped[str] = mapped_column(String(64), default="")
    agent_interface: Mapped[str] = mapped_column(String(128), default="")
    agent_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    offered_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime]
    wait_seconds: Mapped[float] = mapped_column(default=0.0)
    talk_seconds: Mapped[float] = mapped_column(default=0.0)
    hangup_cause: Mapped[int | None]
    disposition: Mapped[str | None] = mapped_column(String(64))
    # From the call's end to the agent's disposition (None until the agent wraps up).
    wrapup_seconds: Mapped[float | None]
    # Abandoned inbound calls go to the callback list (the dialer takes them from there).
    callback_needed: Mapped[bool] = mapped_column(default=False)
    recorded_at: Mapped[datetime]
    # The fencing token of the PBX driver that wrote it (cti.leader): a record written by a
    # driver that had lost its lease gives way to its successor's.
    fence: Mapped[int] = mapped_column(default=0, server_default="0")
    # The end was inferred, not seen (a resynchronisation, a failover): times are estimates.
    estimated: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class CallLegRecord(Base):
    """One part of a call's life: a stay in a queue, or one agent's connection to the customer
    (a call moved on by a transfer or a Redirect has several). Written with its call record."""

    __tablename__ = "call_legs"
    __table_args__ = (Index("ix_call_legs_agent", "agent_user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_linked_id: Mapped[str] = mapped_column(
        ForeignKey("call_records.linked_id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]  # in the order the parts began
    kind: Mapped[str] = mapped_column(String(8))  # queue | agent
    queue: Mapped[str] = mapped_column(String(64), default="")
    agent_interface: Mapped[str] = mapped_column(String(128), default="")
    agent_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    # Queue: time in it; agent: Asterisk's HoldTime. Agent only: Asterisk's TalkTime.
    wait_seconds: Mapped[float] = mapped_column(default=0.0)
    talk_seconds: Mapped[float] = mapped_column(default=0.0)
    # Queue: answered, abandoned, queue_timeout, left. Agent: hung_up, transferred, moved,
    # call_ended.
    result: Mapped[str] = mapped_column(String(16))
