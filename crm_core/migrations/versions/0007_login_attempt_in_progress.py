"""a login attempt is written before its password is checked: succeeded is null until then

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("login_attempts") as batch:
        batch.alter_column("succeeded", existing_type=sa.Boolean(), nullable=True)


def downgrade() -> None:
    # An attempt never settled counted as a failure; it stays one.
    op.execute("UPDATE login_attempts SET succeeded = false WHERE succeeded IS NULL")
    with op.batch_alter_table("login_attempts") as batch:
        batch.alter_column("succeeded", existing_type=sa.Boolean(), nullable=False)
