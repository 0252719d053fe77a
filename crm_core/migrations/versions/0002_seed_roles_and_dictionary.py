"""seed the eight roles with their permissions, and the data dictionary

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

The data is written out here, not imported, so that this migration means the same forever.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ALL = [
    "customers.read",
    "customers.write",
    "orders.read",
    "orders.write",
    "products.read",
    "products.manage",
    "service_requests.read",
    "service_requests.write",
    "opportunities.read",
    "opportunities.write",
    "opportunities.assign",
    "churn.read",
    "churn.manage",
    "calls.handle",
    "calls.outbound",
    "calllists.manage",
    "campaigns.manage",
    "campaigns.monitor",
    "reports.read",
    "pbx.admin",
    "pbx.monitor",
    "users.admin",
    "roles.admin",
    "dictionary.admin",
    "audit.read",
]

ROLES = [
    ("admin", "Administrator", "Users, roles, the data dictionary and everything else", ALL),
    (
        "pbx_admin",
        "PBX administrator",
        "AMI links, queues, trunks and the live PBX view",
        ["pbx.admin", "pbx.monitor", "reports.read", "audit.read"],
    ),
    (
        "team_lead",
        "Team lead",
        "Call lists, campaigns and live monitoring",
        [
            "customers.read",
            "orders.read",
            "products.read",
            "calllists.manage",
            "campaigns.manage",
            "campaigns.monitor",
            "reports.read",
            "pbx.monitor",
        ],
    ),
    (
        "sales_manager",
        "Sales manager",
        "Sales opportunities and their assignment",
        [
            "customers.read",
            "orders.read",
            "products.read",
            "opportunities.read",
            "opportunities.write",
            "opportunities.assign",
            "churn.read",
            "reports.read",
        ],
    ),
    (
        "account_manager",
        "Account manager",
        "Assigned opportunities, development plans, churn",
        [
            "customers.read",
            "customers.write",
            "orders.read",
            "orders.write",
            "products.read",
            "opportunities.read",
            "opportunities.write",
            "churn.read",
            "churn.manage",
        ],
    ),
    (
        "inbound_agent",
        "Inbound agent",
        "Takes calls with the customer on screen",
        [
            "calls.handle",
            "customers.read",
            "customers.write",
            "orders.read",
            "orders.write",
            "products.read",
            "service_requests.read",
            "service_requests.write",
        ],
    ),
    (
        "outbound_agent",
        "Outbound agent",
        "Works outbound campaigns",
        [
            "calls.handle",
            "calls.outbound",
            "customers.read",
            "customers.write",
            "orders.read",
            "orders.write",
            "products.read",
        ],
    ),
    (
        "service_staff",
        "Customer service",
        "Handles service requests",
        ["customers.read", "products.read", "service_requests.read", "service_requests.write"],
    ),
]

DICTIONARY = {
    "customer_level": [
        ("vip", "VIP"),
        ("gold", "Gold"),
        ("silver", "Silver"),
        ("standard", "Standard"),
    ],
    "region": [
        ("north", "North"),
        ("south", "South"),
        ("east", "East"),
        ("west", "West"),
        ("central", "Central"),
    ],
    "service_request_type": [
        ("consultation", "Consultation"),
        ("suggestion", "Suggestion"),
        ("complaint", "Complaint"),
        ("after_sales", "After-sales"),
    ],
    "disposition": [
        ("resolved", "Resolved"),
        ("sale", "Sale"),
        ("callback", "Callback"),
        ("not_interested", "Not interested"),
        ("wrong_number", "Wrong number"),
        ("do_not_call", "Do not call"),
        ("no_answer", "No answer"),
        ("escalated", "Escalated"),
    ],
    "pause_reason": [
        ("break", "Break", 15),
        ("lunch", "Lunch", 60),
        ("training", "Training", None),
        ("meeting", "Meeting", None),
        ("admin_work", "Back-office work", 30),
    ],
    "churn_measure": [
        ("call", "Courtesy call"),
        ("discount", "Discount offer"),
        ("visit", "Visit"),
    ],
    "department": [
        ("service", "Customer service"),
        ("technical", "Technical support"),
        ("billing", "Billing"),
        ("logistics", "Logistics"),
    ],
}

roles = sa.table(
    "roles",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("label", sa.String),
    sa.column("description", sa.String),
)
role_permissions = sa.table(
    "role_permissions", sa.column("role_id", sa.Integer), sa.column("permission", sa.String)
)
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
    op.bulk_insert(
        roles,
        [
            {"id": i, "name": name, "label": label, "description": text}
            for i, (name, label, text, _) in enumerate(ROLES, start=1)
        ],
    )
    op.bulk_insert(
        role_permissions,
        [
            {"role_id": i, "permission": perm}
            for i, (_, _, _, perms) in enumerate(ROLES, start=1)
            for perm in perms
        ],
    )
    rows = []
    for category, entries in DICTIONARY.items():
        for order, (code, label, *extra) in enumerate(entries):
            attributes = {"time_limit_minutes": extra[0]} if extra and extra[0] else {}
            rows.append(
                {
                    "category": category,
                    "code": code,
                    "label": label,
                    "sort_order": order,
                    "is_active": True,
                    "attributes": attributes,
                }
            )
    op.bulk_insert(dictionary, rows)
    if op.get_bind().dialect.name == "postgresql":
        # Explicit ids leave the sequence behind; the next role must not collide.
        op.execute("SELECT setval('roles_id_seq', (SELECT max(id) FROM roles))")


def downgrade() -> None:
    op.execute(role_permissions.delete())
    op.execute(roles.delete())
    op.execute(dictionary.delete())
