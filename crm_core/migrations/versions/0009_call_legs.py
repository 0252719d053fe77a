"""call legs: every queue stay and agent connection of a call, beside its record

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

A call moved from one agent to another (a transfer, a Redirect back into a queue) named only
its last queue and agent; each agent's part, with Asterisk's own hold and talk figures, is
kept here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crm_core.models.base import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_legs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_linked_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("agent_interface", sa.String(length=128), nullable=False),
        sa.Column("agent_user_id", sa.Integer(), nullable=True),
        sa.Column("started_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("wait_seconds", sa.Double(), nullable=False),
        sa.Column("talk_seconds", sa.Double(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_linked_id"],
            ["call_records.linked_id"],
            name=op.f("fk_call_legs_call_linked_id_call_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_user_id"],
            ["users.id"],
            name=op.f("fk_call_legs_agent_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_legs")),
    )
    with op.batch_alter_table("call_legs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_call_legs_call_linked_id"), ["call_linked_id"], unique=False
        )
        batch_op.create_index("ix_call_legs_agent", ["agent_user_id", "ended_at"], unique=False)


def downgrade() -> None:
    op.drop_table("call_legs")
