"""What click-to-call may dial: extensions as typed, outside numbers valid, of an allowed country
and type, unless on a customer record or the agent may dial anything."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_core.dial_rules import DEFAULT_REFUSED_TYPES, DialRules, NotDialable, Target
from crm_core.phones import NumberKind, normalise

RULES = DialRules(region="US")


def refusal(raw: str, rules: DialRules = RULES, *, on_record=False, may_dial_any=False):
    """The NotDialable a dial of ``raw`` meets, or None when it may be dialled."""
    try:
        rules.check(rules.target(raw), on_record=on_record, may_dial_any=may_dial_any)
    except NotDialable as exc:
        return exc
    return None


@pytest.mark.parametrize(
    ("raw", "dialled"),
    [("6001", "6001"), ("7001", "7001"), ("1002", "1002"), ("5001", "5001"), ("60 01", "6001")],
)
def test_an_extension_is_dialled_as_typed(raw, dialled):
    assert RULES.target(raw) == Target(dialled, internal=True)
    assert refusal(raw) is None


@given(st.text(alphabet="0123456789", min_size=3, max_size=5))
def test_any_three_to_five_digits_are_internal_by_default(digits):
    assert RULES.target(digits) == Target(digits, internal=True)


def test_prefixes_narrow_what_is_internal():
    rules = DialRules(internal_prefixes=("1", "50"))
    assert rules.target("1002").internal and rules.target("5001").internal
    with pytest.raises(NotDialable, match="neither a phone number nor an extension"):
        rules.target("6001")


def test_an_outside_number_is_dialled_as_e164():
    assert RULES.target("(202) 555-0100") == Target("+12025550100", internal=False)
    assert refusal("(202) 555-0100") is None


@pytest.mark.parametrize("raw", ["<script>", "12", "hello", "+"])
def test_garbage_is_neither_a_phone_number_nor_an_extension(raw):
    with pytest.raises(NotDialable) as caught:
        RULES.target(raw)
    assert "neither a phone number nor an extension" in caught.value.reason
    assert not caught.value.by_rule


def test_a_possible_but_invalid_number_is_refused_even_to_an_agent_who_may_dial_anything():
    assert normalise("+10201234567").kind is NumberKind.E164  # lookups still take it
    for may_dial_any in (False, True):
        refused = refusal("+10201234567", may_dial_any=may_dial_any)
        assert refused is not None and not refused.by_rule
        assert refused.reason == "+1 0201234567 is not a valid phone number: no such number exists"


def test_a_premium_rate_number_is_refused_with_a_reason_unless_the_agent_may_dial_anything():
    refused = refusal("+1 900 555 0100")
    assert refused is not None and refused.by_rule
    assert refused.reason == "+1 900-555-0100 is a premium-rate number; you may not dial it"
    assert refusal("+1 900 555 0100", may_dial_any=True) is None


@pytest.mark.parametrize(
    ("kind", "region"),
    [
        ("premium_rate", "US"),
        ("shared_cost", "FR"),
        ("personal_number", "GB"),
        ("uan", "GB"),
        ("pager", "GB"),
    ],
)
def test_each_refused_type_is_refused_in_a_country_that_is_allowed(kind, region):
    assert kind in DEFAULT_REFUSED_TYPES
    example = phonenumbers.example_number_for_type(
        region, getattr(phonenumbers.PhoneNumberType, kind.upper())
    )
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    rules = DialRules(allowed_regions=frozenset({region}))
    refused = refusal(e164, rules)
    assert refused is not None and refused.by_rule and "you may not dial it" in refused.reason
    allowing_every_type = DialRules(allowed_regions=frozenset({region}), refused_types=frozenset())
    assert refusal(e164, allowing_every_type) is None
    assert refusal(e164, rules, may_dial_any=True) is None


@pytest.mark.parametrize("raw", ["+882 34 2123 4", "+883 510 012 345", "+800 1234 5678"])
def test_numbers_of_no_country_are_refused(raw):
    refused = refusal(raw)
    assert refused is not None and refused.by_rule
    assert refused.reason.endswith(
        "calls to numbers of no country (international networks, satellite phones) are not allowed"
    )


def test_calls_abroad_are_refused_unless_the_country_is_allowed():
    refused = refusal("+44 20 7946 0018")
    assert refused is not None and refused.by_rule
    assert refused.reason == "+44 20 7946 0018: calls to United Kingdom are not allowed"
    assert refusal("+44 20 7946 0018", DialRules(allowed_regions=frozenset({"US", "GB"}))) is None
    assert refusal("+1 202 555 0100", DialRules(allowed_regions=frozenset({"GB"}))) is not None


def test_the_service_region_is_the_one_country_allowed_by_default():
    rules = DialRules(region="GB")
    assert refusal("020 7946 0018", rules) is None
    assert refusal("+1 202 555 0100", rules) is not None


@pytest.mark.parametrize("raw", ["+1 900 555 0100", "+44 20 7946 0018", "+10201234567"])
def test_a_number_on_a_customer_record_is_dialled_whatever_it_is(raw):
    assert refusal(raw, on_record=True) is None


def test_fictional_numbers_reach_nobody_and_may_be_dialled():
    assert refusal("+1 555 777 0001") is None  # the demo's and the simulator's numbers
    refused = refusal("+1 555 777 0001", DialRules(fictional_prefixes=()))
    assert refused is not None and "not a valid phone number" in refused.reason


def test_an_unknown_refused_type_is_refused_when_the_rules_are_made():
    with pytest.raises(ValueError, match="premium"):
        DialRules(refused_types=frozenset({"premium"}))
