"""Pure rules: permission checks, what text may be stored (login throttling: test_throttle.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from crm_core.permissions import UnknownPermission, allows, validate_permissions
from crm_core.schemas import LoginInput, UserCreate


def test_permission_checks():
    held = {"customers.read", "calls.handle"}
    assert allows(held, "calls.handle")
    assert allows(held, ["customers.read", "calls.handle"])
    assert not allows(held, ["customers.read", "users.admin"])
    with pytest.raises(UnknownPermission, match=r"nuke\.all"):
        validate_permissions(["customers.read", "nuke.all"])


def test_user_names_are_case_insensitive_and_limited_in_alphabet():
    assert LoginInput(username="  Ann.Lee ", password="x").username == "ann.lee"
    for bad in ("", "a", "<script>", "ann lee", "x" * 65, "ann\x00"):
        with pytest.raises(ValidationError):
            LoginInput(username=bad, password="x")


@given(st.text(max_size=50))
def test_stored_names_never_hold_control_characters(text):
    try:
        user = UserCreate(username="ok", display_name=text, password="long enough", roles=[])
    except ValidationError:
        return
    assert all(ord(c) >= 32 and not 0x7F <= ord(c) < 0xA0 for c in user.display_name)
    assert 1 <= len(user.display_name) <= 200
