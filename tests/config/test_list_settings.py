"""List settings from the environment: a comma list, a single name or JSON; a bad value is refused
naming the setting and the form expected."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import Settings, load_settings
from crm_core.dial_rules import (
    DEFAULT_FICTIONAL_PREFIXES,
    DEFAULT_INTERNAL_LENGTHS,
    DEFAULT_REFUSED_TYPES,
)


@pytest.mark.parametrize(
    ("value", "queues"),
    [
        ("sales,support", ["sales", "support"]),
        ("sales", ["sales"]),
        (" sales , support ", ["sales", "support"]),
        ('["sales", "support"]', ["sales", "support"]),
    ],
)
def test_default_queues_from_the_environment_start(monkeypatch, value, queues):
    monkeypatch.setenv("CALLCENTRE_AGENT_DEFAULT_QUEUES", value)
    assert Settings().agent_default_queues == queues


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("sales support", "got 'sales support'"),
        ("sales,,support", "got an empty item"),
        ("[sales", "which is not a JSON list"),
    ],
)
def test_a_bad_queue_list_says_which_setting_and_what_form_is_expected(monkeypatch, value, says):
    monkeypatch.setenv("CALLCENTRE_AGENT_DEFAULT_QUEUES", value)
    with pytest.raises(ValidationError) as caught:
        load_settings()
    message = str(caught.value)
    assert "agent_default_queues: expected queue names separated by commas" in message
    assert "e.g. sales,support" in message and says in message


def test_every_list_setting_takes_a_comma_list(monkeypatch):
    for name, value in {
        "ALLOWED_ORIGINS": "https://a.example.com,https://b.example.com",
        "AMI_CALL_VARIABLES": "CC_ACCOUNT,CC_CUSTOMER,CC_LANG",
        "DIAL_INTERNAL_LENGTHS": "4,5",
        "DIAL_INTERNAL_PREFIXES": "1,50",
        "DIAL_ALLOWED_REGIONS": "US,CA",
        "DIAL_REFUSED_TYPES": "premium_rate",
        "DIAL_FICTIONAL_PREFIXES": "",
    }.items():
        monkeypatch.setenv(f"CALLCENTRE_{name}", value)
    settings = Settings()
    assert settings.allowed_origins == ["https://a.example.com", "https://b.example.com"]
    assert settings.ami_call_variables == ["CC_ACCOUNT", "CC_CUSTOMER", "CC_LANG"]
    assert settings.dial_internal_lengths == [4, 5]
    assert settings.dial_internal_prefixes == ["1", "50"]
    assert settings.dial_allowed_regions == ["US", "CA"]
    assert settings.dial_refused_types == ["premium_rate"]
    assert settings.dial_fictional_prefixes == []


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DIAL_ALLOWED_REGIONS", "US,UK", "dial_allowed_regions: expected country codes"),
        ("DIAL_REFUSED_TYPES", "premium", "dial_refused_types: expected number types"),
        ("DIAL_INTERNAL_LENGTHS", "three", "dial_internal_lengths: expected digit counts"),
        ("DIAL_FICTIONAL_PREFIXES", "1555", "dial_fictional_prefixes: expected E.164 prefixes"),
    ],
)
def test_bad_dial_rules_are_refused_at_start(monkeypatch, name, value, expected):
    monkeypatch.setenv(f"CALLCENTRE_{name}", value)
    with pytest.raises(ValidationError, match=expected):
        Settings()


def test_the_dial_rule_defaults_are_the_rules_own():
    settings = Settings()
    assert settings.dial_internal_lengths == list(DEFAULT_INTERNAL_LENGTHS)
    assert settings.dial_refused_types == list(DEFAULT_REFUSED_TYPES)
    assert settings.dial_fictional_prefixes == list(DEFAULT_FICTIONAL_PREFIXES)
    assert settings.dial_allowed_regions == []  # the default region alone
