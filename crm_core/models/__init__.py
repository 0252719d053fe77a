"""Every table, imported here so that alembic and the tests see the whole schema."""

from crm_core.models.audit import AuditEntry
from crm_core.models.base import Base
from crm_core.models.calls import CallLegRecord, CallRecord
from crm_core.models.catalog import Product, StockLevel, StockMovement, Warehouse
from crm_core.models.churn import ChurnMeasure, ChurnWarning, JobRun
from crm_core.models.customers import (
    Address,
    Contact,
    Customer,
    Interaction,
    Order,
    PhoneNumber,
    ServiceRequest,
)
from crm_core.models.dictionary import DictionaryEntry
from crm_core.models.imports import ImportRun
from crm_core.models.opportunities import Opportunity, PlanStep
from crm_core.models.outbound import CallListEntry, Campaign, DialAttempt, DoNotCall, ListRule
from crm_core.models.sales import OrderEvent, OrderLine
from crm_core.models.service import Callback, ServiceRequestEvent
from crm_core.models.users import LoginAttempt, Role, RolePermission, User, UserSession

__all__ = [
    "Address",
    "AuditEntry",
    "Base",
    "CallLegRecord",
    "CallListEntry",
    "CallRecord",
    "Callback",
    "Campaign",
    "ChurnMeasure",
    "ChurnWarning",
    "Contact",
    "Customer",
    "DialAttempt",
    "DictionaryEntry",
    "DoNotCall",
    "ImportRun",
    "Interaction",
    "JobRun",
    "ListRule",
    "LoginAttempt",
    "Opportunity",
    "Order",
    "OrderEvent",
    "OrderLine",
    "PhoneNumber",
    "PlanStep",
    "Product",
    "Role",
    "RolePermission",
    "ServiceRequest",
    "ServiceRequestEvent",
    "StockLevel",
    "StockMovement",
    "User",
    "UserSession",
    "Warehouse",
]
