"""Caller IDs and entered numbers in every form normalise to the same E.164."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_core.phones import NumberKind, normalise, timezones


@pytest.mark.parametrize(
    "raw",
    [
        "+1 555 123 4567",
        "+1-555-123-4567",
        "(555) 123-4567",
        "555.123.4567",
        "5551234567",
        "001 555 123 4567",
        "0015551234567",
        "1 555 123 4567",
        "+1 (555) 123-4567",
    ],
)
def test_every_form_of_a_us_number_normalises_alike(raw):
    number = normalise(raw, "US")
    assert number.kind is NumberKind.E164
    assert number.e164 == "+15551234567"
    assert number.raw == raw.strip()


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("020 1234 5678", "GB", "+442012345678"),  # national trunk prefix 0
        ("0044 20 1234 5678", "GB", "+442012345678"),
        ("+44 (0)20 1234 5678", "GB", "+442012345678"),
        ("0201234567", "NL", "+31201234567"),  # trace 05's national caller
        ("030 12345678", "DE", "+493012345678"),
        ("138 0013 8000", "CN", "+8613800138000"),
    ],
)
def test_national_numbers_take_the_default_region(raw, region, e164):
    assert normalise(raw, region).e164 == e164


@pytest.mark.parametrize(
    "raw",
    ["anonymous", "Anonymous", "unknown", "RESTRICTED", "private", "", "  ", None, "<unknown>"],
)
def test_withheld_presentations_are_recognised(raw):
    assert normalise(raw).kind is NumberKind.WITHHELD


@pytest.mark.parametrize(
    "raw",
    [
        "<script>alert(1)</script>",
        "12",
        "abc",
        "+1 555 CALL NOW",
        "9" * 80,
        "'; DROP TABLE customers; --",
        "+",
    ],
)
def test_garbage_is_invalid_and_never_raises(raw):
    number = normalise(raw)
    assert number.kind is NumberKind.INVALID
    assert number.e164 == ""
    assert len(number.raw) <= 64


@given(st.text(max_size=80), st.sampled_from(["US", "GB", "DE", "CN", "NL", "ZZ"]))
def test_normalising_never_raises_and_e164_is_stable(raw, region):
    number = normalise(raw, region)
    if number.kind is NumberKind.E164:
        assert number.e164.startswith("+")
        assert normalise(number.e164, "US").e164 == number.e164


def test_a_number_knows_its_time_zones():
    assert timezones("+442012345678") == ("Europe/London",)
    assert timezones("+12125550100") == ("America/New_York",)
    assert timezones("not a number") == ()
