"""Outbound: campaigns, their call lists, the do-not-call register and the evidence of every
dial (which checks it passed), so that a complaint can be answered from the record."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models.base import Base


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    mode: Mapped[str] = mapped_column(String(16))  # preview, progressive, predictive
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft/running/paused/stopped
    queue: Mapped[str] = mapped_column(String(64), default="outbound")  # answered calls go here
    caller_id: Mapped[str] = mapped_column(String(32), default="")  # E.164 presented
    trunk: Mapped[str] = mapped_column(String(64), default="")  # "" = the dialplan's own
    max_lines: Mapped[int | None]  # the trunk's channel limit for this campaign
    abandon_cap: Mapped[float] = mapped_column(default=0.03)
    patience: Mapped[float] = mapped_column(default=2.0)  # seconds an answer may wait for an agent
    # Calling hours in the callee's local time: "HH:MM" each, on the weekdays listed (0 = Monday).
    hours_start: Mapped[str] = mapped_column(String(5), default="09:00")
    hours_end: Mapped[str] = mapped_column(String(5), default="21:00")
    weekdays: Mapped[str] = mapped_column(String(7), default="0123456")
    fallback_timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    region: Mapped[str] = mapped_column(String(2), default="")  # for numbers written nationally
    max_attempts: Mapped[int] = mapped_column(default=3)
    # Per outcome (busy, no_answer, machine, abandoned, callback): minutes before the next try.
    retry_minutes: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    machine_rule: Mapped[str] = mapped_column(String(16), default="retry")  # or hang_up
    script: Mapped[str] = mapped_column(Text, default="")  # with {first_name}, {reason}, ...
    # JSON list of the user ids of the agents who may work it; [] = anyone in its queue.
    agents: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    # The sound an answered call hears when no agent is free; "" = the dialplan's default.
    abandon_message: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime]


class CallListEntry(Base):
    """One number to call in a campaign, and what became of it. A number appears once per
    campaign: a second reason to call it is merged into the first entry."""

    __tablename__ = "call_list_entries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "number_e164", name="uq_call_list_entries_number"),
        Index("ix_call_list_entries_due", "campaign_id", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    number_e164: Mapped[str] = mapped_column(String(20))
    number_raw: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str] = mapped_column(String(200), default="")
    # order_confirmation, segment, abandoned_call, callback, upload, manual
    reason_kind: Mapped[str] = mapped_column(String(24))
    reason_ref: Mapped[str] = mapped_column(String(64), default="")  # order id, linked id, ...
    reason_text: Mapped[str] = mapped_column(String(500), default="")
    fields: Mapped[str] = mapped_column(Text, default="{}")  # JSON: the script's fields
    # pending (due at next_attempt_at), dialling, done, failed (attempts spent), dnc, cancelled
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_outcome: Mapped[str] = mapped_column(String(24), default="")
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    owner_user_id: Mapped[int | None] = mapped_column(  # a personal callback's agent
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Preview: the agent shown this entry, since when (nobody else is shown it meanwhile).
    reserved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reserved_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The campaign driver's fencing token when it claimed the entry for a dial: a driver that
    # lost its lease cannot claim (or finish) what its successor holds.
    fence: Mapped[int] = mapped_column(default=0, server_default="0")


class DoNotCall(Base):
    """A number nobody may dial: added by hand, by import, or by a "do not call" result."""

    __tablename__ = "do_not_call"

    number_e164: Mapped[str] = mapped_column(String(20), primary_key=True)
    reason: Mapped[str] = mapped_column(String(255), default="")
    source: Mapped[str] = mapped_column(String(16))  # manual, import, call_result
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[datetime]


class DialAttempt(Base):
    """Each dial placed for a list entry, with the checks it passed just before it."""

    __tablename__ = "dial_attempts"
    __table_args__ = (Index("ix_dial_attempts_campaign", "campaign_id", "dialled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("call_list_entries.id", ondelete="SET NULL"), index=True
    )
    number_e164: Mapped[str] = mapped_column(String(20), index=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)  # the call's Linkedid
    dialled_at: Mapped[datetime]
    # JSON: {"dnc": "clear", "local_time": "Tue 10:02 Europe/Paris", "attempt": "2 of 3", ...}
    checks: Mapped[str] = mapped_column(Text, default="{}")
    agent_user_id: Mapped[int | None] = mapped_column(  # preview: the agent who dialled
        ForeignKey("users.id", ondelete="SET NULL")
    )
    outcome: Mapped[str] = mapped_column(String(24), default="")  # "" until the call ends
    # answered calls: live answers count toward the abandonment cap; abandoned ones too
    live_answer: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    abandoned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    ended_at: Mapped[datetime | None]
    fence: Mapped[int] = mapped_column(default=0, server_default="0")


class ListRule(Base):
    """A standing rule that keeps filling a campaign's list as the CRM changes."""

    __tablename__ = "list_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))  # order_confirmation, segment, abandoned_call
    filters: Mapped[str] = mapped_column(Text, default="{}")  # JSON, a segment's filter
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
