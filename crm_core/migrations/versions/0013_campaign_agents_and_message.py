"""campaigns: the agents chosen to work one (none: anyone in its queue) and the message an
answered call hears when no agent is free

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agents", sa.Text(), nullable=False, server_default="[]"))
        batch_op.add_column(
            sa.Column("abandon_message", sa.String(length=64), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("abandon_message")
        batch_op.drop_column("agents")
