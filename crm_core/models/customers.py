"""Customers, their contacts, and their phone numbers (kept as entered and as E.164)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.models.base import Base


class Customer(Base):
    __tablename__ = "customers"
    # Name prefix search: PostgreSQL serves LIKE 'prefix%' from a pattern_ops index whatever
    # the database's collation (SQLite compares bytes: a plain index serves its range).
    __table_args__ = (
        Index(
            "ix_customers_name_key", "name_key", postgresql_ops={"name_key": "varchar_pattern_ops"}
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    # The name case-folded, for prefix search in any case (and any script).
    name_key: Mapped[str] = mapped_column(String(200), default="")
    company: Mapped[str] = mapped_column(String(200), default="", index=True)
    account_manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # An account number callers can key in at the IVR (it decides the pop before caller ID).
    account_number: Mapped[str | None] = mapped_column(String(64), unique=True)
    level: Mapped[str | None] = mapped_column(String(64))  # dictionary: customer_level
    region: Mapped[str | None] = mapped_column(String(64))  # dictionary: region
    churn_flag: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin"
    )
    numbers: Mapped[list[PhoneNumber]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin"
    )
    addresses: Mapped[list[Address]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Address.id"
    )
    # Written through these when a customer is made with its history (demo data, imports);
    # read with queries (the card), never loaded with the customer.
    orders: Mapped[list[Order]] = relationship(cascade="all, delete-orphan", lazy="raise")
    service_requests: Mapped[list[ServiceRequest]] = relationship(
        cascade="all, delete-orphan", lazy="raise"
    )


class Address(Base):
    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(32), default="")  # billing, shipping, office
    street: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(2), default="")  # ISO 3166 alpha-2


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    is_primary: Mapped[bool] = mapped_column(default=False)
    customer: Mapped[Customer] = relationship(back_populates="contacts")
    numbers: Mapped[list[PhoneNumber]] = relationship(back_populates="contact", lazy="selectin")


class PhoneNumber(Base):
    """A number of a customer (or of one of its contacts). Looked up by `e164`."""

    __tablename__ = "phone_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # Indexed: loading a contact's numbers, and deleting a contact, must not scan every number.
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    raw: Mapped[str] = mapped_column(String(64))  # as entered, for display
    e164: Mapped[str] = mapped_column(String(20), index=True)
    label: Mapped[str] = mapped_column(String(32), default="")
    customer: Mapped[Customer] = relationship(back_populates="numbers")
    contact: Mapped[Contact | None] = relationship(back_populates="numbers")


class Order(Base):
    """A customer's order; the card shows the open ones."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_status", "customer_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    reference: Mapped[str] = mapped_column(String(64))
    # draft, awaiting_confirmation, confirmed, shipped, completed, cancelled
    status: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(String(500), default="")
    amount_cents: Mapped[int] = mapped_column(default=0)  # the total, integer cents
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    placed_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    call_linked_id: Mapped[str | None] = mapped_column(String(64))  # taken during this call
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))
    notes: Mapped[str] = mapped_column(Text, default="")


class ServiceRequest(Base):
    """A customer's service ticket; the card shows the open ones."""

    __tablename__ = "service_requests"
    __table_args__ = (Index("ix_service_requests_customer_status", "customer_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # dictionary: service_request_type (its "deadline_hours" attribute sets due_at)
    service_type: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(500))
    # open, assigned, handled, closed (reopened goes back to assigned)
    status: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    description: Mapped[str] = mapped_column(Text, default="")
    call_linked_id: Mapped[str | None] = mapped_column(String(64))  # opened during this call
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    department: Mapped[str | None] = mapped_column(String(64), index=True)  # dictionary
    due_at: Mapped[datetime | None]
    handling: Mapped[str] = mapped_column(Text, default="")  # what was done
    satisfaction: Mapped[int | None]  # 1-5, given at closing
    satisfaction_comment: Mapped[str] = mapped_column(String(1000), default="")
    updated_at: Mapped[datetime | None]


class Interaction(Base):
    """Something that happened with a customer: a call's disposition and notes (linked to its
    call record by Linkedid), or a note written outside a call."""

    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_customer_at", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE")
    )  # None: a caller never identified
    call_linked_id: Mapped[str | None] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # call, note
    disposition: Mapped[str | None] = mapped_column(String(64))  # dictionary: disposition
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
