"""the permission calls.dial_any (click-to-call numbers the dial rules refuse), held by admin

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-15

Only the administrator gets it: the point of the dial rules is that agents do not dial premium
and foreign numbers by default; an administrator grants it to the roles that should. (Team
leads hold no calls.handle, so they could not use it.)
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO role_permissions (role_id, permission) "
        "SELECT id, 'calls.dial_any' FROM roles WHERE name = 'admin' "
        "AND NOT EXISTS (SELECT 1 FROM role_permissions p "
        "WHERE p.role_id = roles.id AND p.permission = 'calls.dial_any')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM role_permissions WHERE permission = 'calls.dial_any'")
