"""What a new password must be: ten characters besides surrounding spaces and besides the user
name, and not among the passwords guessers try first."""

from __future__ import annotations

import pytest

from crm_core.passwords import common_passwords, password_problem


@pytest.mark.parametrize(
    ("password", "says"),
    [
        (" " * 10, "at least 10 characters"),
        ("  nine char ", "at least 10 characters"),
        ("Ann", "at least 10 characters"),
        ("ANNANNANNANN", "besides the user name"),
        ("ann-123456", "besides the user name"),
        ("Password123", "too common"),
        ("  QWERTYUIOP  ", "too common"),
        ("zzzzzzzzzzzz", "too common"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, says):
    problem = password_problem(password, "ann")
    assert problem is not None and says in problem


@pytest.mark.parametrize(
    ("password", "username"),
    [
        ("correct horse battery", "ann"),
        ("admin-demo-pass", "admin"),  # the demo users' passwords
        ("ann takes the 8:15 ferry", "ann"),
        ("ünïcödé ünïcödé", "ann"),
    ],
)
def test_long_uncommon_passwords_pass(password, username):
    assert password_problem(password, username) is None


def test_the_common_list_ships_with_the_package():
    common = common_passwords()
    assert len(common) > 300
    assert {"123456", "password", "qwertyuiop", "1234567890"} <= common
    assert all(p == p.lower().strip() and not p.startswith("#") for p in common)
