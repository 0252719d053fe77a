"""Phones, member interfaces and channels: how the names relate."""

from __future__ import annotations

import pytest

from cti.devices import extension_of, interface_of, is_channel_of, member_key


@pytest.mark.parametrize(
    ("interface", "key"),
    [
        ("PJSIP/1001", "PJSIP/1001"),
        ("Local/1001@agents", "Local/1001@agents"),
        ("Local/1001@agents/n", "Local/1001@agents"),
        ("Local/1001@agents/nj", "Local/1001@agents"),
        ("Local/1001/n", "Local/1001/n"),  # no context: not a Local option
    ],
)
def test_a_member_is_known_by_the_phone_its_channels_name(interface, key):
    assert member_key(interface) == key


def test_a_channel_belongs_to_its_phone_whatever_options_the_member_has():
    assert interface_of("Local/1001@agents-0000001b;1") == "Local/1001@agents"
    assert is_channel_of("Local/1001@agents-0000001b;1", "Local/1001@agents/n")
    assert is_channel_of("PJSIP/1001-00000002", "PJSIP/1001")
    assert not is_channel_of("PJSIP/10010-00000002", "PJSIP/1001")


@pytest.mark.parametrize(
    ("interface", "extension"),
    [
        ("PJSIP/1001", "1001"),
        ("Local/1001@agents/n", "1001"),
        ("hint:1001@agents", "1001"),
        ("Custom:agent1001", ""),
        ("PJSIP/trunk-main", ""),
    ],
)
def test_the_extension_of_a_member_or_state_interface(interface, extension):
    assert extension_of(interface) == extension
