"""Pure rules: login throttling, permission checks, what text may be stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from crm_core import throttle
from crm_core.permissions import UnknownPermission, allows, validate_permissions
from crm_core.schemas import LoginInput, UserCreate

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)


def minutes_ago(*ms: int) -> list[datetime]:
    return sorted(NOW - timedelta(minutes=m) for m in ms)


def test_fewer_failures_than_the_limit_do_not_throttle():
    assert (
        throttle.check(
            now=NOW,
            window=WINDOW,
            account_failures=minutes_ago(1, 2, 3, 4),
            account_limit=5,
            client_failures=[],
            client_limit=20,
        )
        is None
    )


def test_the_limit_of_failures_throttles_until_the_oldest_leaves_the_window():
    result = throttle.check(
        now=NOW,
        window=WINDOW,
        account_failures=minutes_ago(10, 4, 3, 2, 1),
        account_limit=5,
        client_failures=[],
        client_limit=20,
    )
    assert result == throttle.Throttled(scope="account", retry_after=timedelta(minutes=5))


def test_a_client_address_is_throttled_on_its_own_count():
    result = throttle.check(
        now=NOW,
        window=WINDOW,
        account_failures=[],
        account_limit=5,
        client_failures=minutes_ago(*range(1, 4)),
        client_limit=3,
    )
    assert result is not None and result.scope == "client"


@given(
    st.lists(st.integers(min_value=0, max_value=14 * 60), max_size=30),
    st.integers(min_value=1, max_value=10),
)
def test_throttling_never_lasts_longer_than_the_window(seconds, limit):
    failures = sorted(NOW - timedelta(seconds=s) for s in seconds)
    result = throttle.check(
        now=NOW,
        window=WINDOW,
        account_failures=failures,
        account_limit=limit,
        client_failures=[],
        client_limit=100,
    )
    assert (result is not None) == (len(failures) >= limit)
    if result:
        assert timedelta(0) < result.retry_after <= WINDOW


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
