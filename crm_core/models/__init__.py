"""Every table, imported here so that alembic and the tests see the whole schema."""

from crm_core.models.audit import AuditEntry
from crm_core.models.base import Base
from crm_core.models.calls import CallLegRecord, CallRecord
from crm_core.models.customers import (
    Contact,
    Customer,
    Interaction,
    Order,
    PhoneNumber,
    ServiceRequest,
)
from crm_core.models.dictionary import DictionaryEntry
from crm_core.models.users import LoginAttempt, Role, RolePermission, User, UserSession

__all__ = [
    "AuditEntry",
    "Base",
    "CallLegRecord",
    "CallRecord",
    "Contact",
    "Customer",
    "DictionaryEntry",
    "Interaction",
    "LoginAttempt",
    "Order",
    "PhoneNumber",
    "Role",
    "RolePermission",
    "ServiceRequest",
    "User",
    "UserSession",
]
