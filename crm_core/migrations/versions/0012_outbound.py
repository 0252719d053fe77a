"""outbound: campaigns, call lists, do-not-call, dial attempts, list rules

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crm_core.models.base import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


# The outbound results an agent records (dialer.results.AgentResult) are dispositions too;
# sale, callback, not_interested, wrong_number and do_not_call are there already.
OUTBOUND_DISPOSITIONS = [
    ("order_confirmed", "Order confirmed"),
    ("interested", "Interested"),
    ("complaint", "Complaint"),
    ("no_contact", "No useful contact"),
]
dictionary = sa.table(
    "dictionary_entries",
    sa.column("category", sa.String),
    sa.column("code", sa.String),
    sa.column("label", sa.String),
    sa.column("sort_order", sa.Integer),
    sa.column("is_active", sa.Boolean),
    sa.column("attributes", sa.JSON),
)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("caller_id", sa.String(length=32), nullable=False),
        sa.Column("trunk", sa.String(length=64), nullable=False),
        sa.Column("max_lines", sa.Integer(), nullable=True),
        sa.Column("abandon_cap", sa.Double(), nullable=False),
        sa.Column("patience", sa.Double(), nullable=False),
        sa.Column("hours_start", sa.String(length=5), nullable=False),
        sa.Column("hours_end", sa.String(length=5), nullable=False),
        sa.Column("weekdays", sa.String(length=7), nullable=False),
        sa.Column("fallback_timezone", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=2), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_minutes", sa.Text(), nullable=False),
        sa.Column("machine_rule", sa.String(length=16), nullable=False),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_campaigns_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_campaigns_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_table(
        "do_not_call",
        sa.Column("number_e164", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("added_by", sa.Integer(), nullable=True),
        sa.Column("added_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by"],
            ["users.id"],
            name=op.f("fk_do_not_call_added_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("number_e164", name=op.f("pk_do_not_call")),
    )
    op.create_table(
        "call_list_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("number_e164", sa.String(length=20), nullable=False),
        sa.Column("number_raw", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("reason_kind", sa.String(length=24), nullable=False),
        sa.Column("reason_ref", sa.String(length=64), nullable=False),
        sa.Column("reason_text", sa.String(length=500), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_outcome", sa.String(length=24), nullable=False),
        sa.Column("last_attempt_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("owner_user_id", sa.Integer(), nullable=True),
        sa.Column("reserved_by", sa.Integer(), nullable=True),
        sa.Column("reserved_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("fence", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_call_list_entries_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_call_list_entries_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_call_list_entries_owner_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reserved_by"],
            ["users.id"],
            name=op.f("fk_call_list_entries_reserved_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_list_entries")),
        sa.UniqueConstraint("campaign_id", "number_e164", name="uq_call_list_entries_number"),
    )
    with op.batch_alter_table("call_list_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_call_list_entries_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_call_list_entries_due", ["campaign_id", "state", "next_attempt_at"], unique=False
        )

    op.create_table(
        "list_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_list_rules_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_list_rules_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_rules")),
    )
    with op.batch_alter_table("list_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_list_rules_campaign_id"), ["campaign_id"], unique=False
        )

    op.create_table(
        "dial_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("number_e164", sa.String(length=20), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("dialled_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("checks", sa.Text(), nullable=False),
        sa.Column("agent_user_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("live_answer", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("abandoned", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("ended_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("fence", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_user_id"],
            ["users.id"],
            name=op.f("fk_dial_attempts_agent_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_dial_attempts_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["call_list_entries.id"],
            name=op.f("fk_dial_attempts_entry_id_call_list_entries"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dial_attempts")),
        sa.UniqueConstraint("call_id", name=op.f("uq_dial_attempts_call_id")),
    )
    with op.batch_alter_table("dial_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dial_attempts_campaign", ["campaign_id", "dialled_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_dial_attempts_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dial_attempts_number_e164"), ["number_e164"], unique=False
        )

    op.bulk_insert(
        dictionary,
        [
            {
                "category": "disposition",
                "code": code,
                "label": label,
                "sort_order": 20 + order,
                "is_active": True,
                "attributes": {},
            }
            for order, (code, label) in enumerate(OUTBOUND_DISPOSITIONS)
        ],
    )


def downgrade() -> None:
    op.execute(
        dictionary.delete().where(
            dictionary.c.category == "disposition",
            dictionary.c.code.in_([code for code, _ in OUTBOUND_DISPOSITIONS]),
        )
    )
    with op.batch_alter_table("dial_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dial_attempts_number_e164"))
        batch_op.drop_index(batch_op.f("ix_dial_attempts_entry_id"))
        batch_op.drop_index("ix_dial_attempts_campaign")

    op.drop_table("dial_attempts")
    with op.batch_alter_table("list_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_rules_campaign_id"))

    op.drop_table("list_rules")
    with op.batch_alter_table("call_list_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_call_list_entries_due")
        batch_op.drop_index(batch_op.f("ix_call_list_entries_customer_id"))

    op.drop_table("call_list_entries")
    op.drop_table("do_not_call")
    op.drop_table("campaigns")
