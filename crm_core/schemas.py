"""Input models: one model each for a form, its API twin and the OpenAPI schema."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, StringConstraints

from crm_core.errors import InvalidInput
from crm_core.text import Line, Paragraph

Username = Annotated[
    str,
    # User names are case-insensitive: "Ann" and "ann" are one account.
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
    StringConstraints(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$"),
    Field(description="2–64 characters: letters, digits, '.', '_', '-'"),
]
NewPassword = Annotated[str, StringConstraints(min_length=10, max_length=256)]
Extension = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{2,32}$"),
    Field(description="The agent's phone extension (PJSIP/<extension>)"),
]
Code = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_]*$"
    ),
    Field(description="lower-case letters, digits and '_'"),
]
DisplayName = Line(200)
Label = Line(200)


REASON_MAX_LENGTH = 64


def pbx_reason(reason: str | None) -> str | None:
    """A reason the PBX is told (QueuePause's Reason): one short line of printable text.
    Checked before anything is sent, so that a bad one is refused, not half done."""
    if reason is not None and (
        len(reason) > REASON_MAX_LENGTH or not all(ch.isprintable() for ch in reason)
    ):
        problem = f"one line of printable text, at most {REASON_MAX_LENGTH} characters"
        raise InvalidInput(f"reason: {problem}", fields={"reason": problem})
    return reason


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1_000_000)


class LoginInput(Input):
    username: Username
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    remember: bool = False


class UserCreate(Input):
    username: Username
    display_name: DisplayName  # type: ignore[valid-type]
    password: NewPassword
    roles: list[Annotated[str, StringConstraints(max_length=64)]] = Field(max_length=20)
    email: EmailStr | None = None
    extension: Extension | None = None


class UserUpdate(Input):
    display_name: DisplayName | None = None  # type: ignore[valid-type]
    roles: list[Annotated[str, StringConstraints(max_length=64)]] | None = Field(
        default=None, max_length=20
    )
    email: EmailStr | None = None
    extension: Extension | None = None
    is_active: bool | None = None


class PasswordReset(Input):
    password: NewPassword


class RolePermissionsUpdate(Input):
    permissions: list[Annotated[str, StringConstraints(max_length=64)]] = Field(max_length=200)


class DictionaryEntryCreate(Input):
    code: Code
    label: Label  # type: ignore[valid-type]
    sort_order: int = Field(default=0, ge=0, le=10_000)
    time_limit_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    deadline_hours: int | None = Field(default=None, ge=1, le=24 * 366)


class DictionaryEntryUpdate(Input):
    label: Label | None = None  # type: ignore[valid-type]
    sort_order: int | None = Field(default=None, ge=0, le=10_000)
    is_active: bool | None = None
    time_limit_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    deadline_hours: int | None = Field(default=None, ge=1, le=24 * 366)


class PhoneInput(Input):
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    label: Line(32, min_length=0) = ""  # type: ignore[valid-type]


class ContactInput(Input):
    name: Label  # type: ignore[valid-type]
    title: Line(200, min_length=0) | None = None  # type: ignore[valid-type]
    email: EmailStr | None = None
    is_primary: bool = False
    numbers: list[PhoneInput] = Field(default_factory=list, max_length=20)


class AddressInput(Input):
    label: Line(32, min_length=0) = ""  # type: ignore[valid-type]
    street: Line(200, min_length=0) = ""  # type: ignore[valid-type]
    city: Line(100, min_length=0) = ""  # type: ignore[valid-type]
    postcode: Line(20, min_length=0) = ""  # type: ignore[valid-type]
    country: (
        Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z]{2}$")] | None
    ) = None


class CustomerCreate(Input):
    name: Label  # type: ignore[valid-type]
    account_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9-]{1,64}$")]
        | None
    ) = None
    level: Code | None = None
    region: Code | None = None
    company: Line(200, min_length=0) = ""  # type: ignore[valid-type]
    account_manager_id: int | None = Field(default=None, ge=1)
    numbers: list[PhoneInput] = Field(default_factory=list, max_length=20)
    contacts: list[ContactInput] = Field(default_factory=list, max_length=50)
    addresses: list[AddressInput] = Field(default_factory=list, max_length=20)


class CustomerUpdate(Input):
    """Only the fields given change; a list given replaces the customer's list."""

    name: Label | None = None  # type: ignore[valid-type]
    account_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9-]{1,64}$")]
        | None
    ) = None
    level: Code | None = None
    region: Code | None = None
    company: Line(200, min_length=0) | None = None  # type: ignore[valid-type]
    account_manager_id: int | None = Field(default=None, ge=1)
    numbers: list[PhoneInput] | None = Field(default=None, max_length=20)
    contacts: list[ContactInput] | None = Field(default=None, max_length=50)
    addresses: list[AddressInput] | None = Field(default=None, max_length=20)


class Reason(Input):
    reason: Line(500)  # type: ignore[valid-type]


class CustomerMerge(Input):
    """Merge the customer ``duplicate_id`` into this one (the one in the path)."""

    duplicate_id: int = Field(ge=1)
    reason: Line(500)  # type: ignore[valid-type]


class NoteInput(Input):
    notes: Paragraph(10_000, min_length=1)  # type: ignore[valid-type]
