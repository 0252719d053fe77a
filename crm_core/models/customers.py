"""Customers, their contacts, and their phone numbers (kept as entered and as E.164)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.models.base import Base


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
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
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    raw: Mapped[str] = mapped_column(String(64))  # as entered, for display
    e164: Mapped[str] = mapped_column(String(20), index=True)
    label: Mapped[str] = mapped_column(String(32), default="")
    customer: Mapped[Customer] = relationship(back_populates="numbers")
    contact: Mapped[Contact | None] = relationship(back_populates="numbers")
