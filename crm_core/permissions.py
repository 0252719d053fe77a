"""Function permissions and the pure checks on them.

The catalogue is code (a permission is only meaningful where code checks it); which role holds
which permission is data, seeded by a migration and edited by an administrator.
"""

from __future__ import annotations

from collections.abc import Iterable

PERMISSIONS: dict[str, str] = {
    "customers.read": "View customers, contacts and their history",
    "customers.write": "Create and edit customers and contacts",
    "orders.read": "View orders",
    "orders.write": "Create and change orders",
    "products.read": "Look up products and stock",
    "products.manage": "Edit products and stock",
    "service_requests.read": "View service requests",
    "service_requests.write": "Open and handle service requests",
    "opportunities.read": "View sales opportunities",
    "opportunities.write": "Create and edit sales opportunities and development plans",
    "opportunities.assign": "Assign opportunities to account managers",
    "churn.read": "View churn warnings",
    "churn.manage": "Record churn measures and confirm churn",
    "calls.handle": "Use the agent desktop: take calls and receive screen pops",
    "calls.outbound": "Work outbound campaigns",
    "calls.dial_any": "Click-to-call numbers the dial rules refuse: premium rate, other countries",
    "calllists.manage": "Build call lists",
    "campaigns.manage": "Create, start, pause and stop campaigns",
    "campaigns.monitor": "Watch agents, queues and campaigns live",
    "reports.read": "View and export reports",
    "pbx.admin": "Administer AMI links, queues and trunks",
    "pbx.monitor": "View the AMI link and channels",
    "users.admin": "Create, disable and edit users",
    "roles.admin": "Change which role holds which permission",
    "dictionary.admin": "Edit the data dictionary",
    "audit.read": "Read the audit trail",
}

ROLES: dict[str, str] = {
    "admin": "Administrator",
    "pbx_admin": "PBX administrator",
    "team_lead": "Team lead",
    "sales_manager": "Sales manager",
    "account_manager": "Account manager",
    "inbound_agent": "Inbound agent",
    "outbound_agent": "Outbound agent",
    "service_staff": "Customer service",
}

# Without these two somebody must still hold, nobody could ever repair users or roles again.
ADMIN_PERMISSIONS = frozenset({"users.admin", "roles.admin"})


class UnknownPermission(ValueError):
    pass


def validate_permissions(names: Iterable[str]) -> frozenset[str]:
    names = frozenset(names)
    unknown = sorted(names - PERMISSIONS.keys())
    if unknown:
        raise UnknownPermission(f"unknown permission(s): {', '.join(unknown)}")
    return names


def allows(held: Iterable[str], required: str | Iterable[str]) -> bool:
    """True when every required permission is held."""
    needed = {required} if isinstance(required, str) else set(required)
    return needed <= set(held)
