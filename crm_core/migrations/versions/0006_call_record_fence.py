"""call records carry the fencing token of the PBX driver that wrote them, and whether their
end was inferred (times estimated)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.add_column(sa.Column("fence", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(
            sa.Column("estimated", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("estimated")
        batch.drop_column("fence")
