"""The transfer action builders: the headers Asterisk 22's manager reads, and nothing unsafe or
missing ever reaches the wire."""

from __future__ import annotations

import pytest

from cti.ami import actions
from cti.ami.actions import UnsafeValue
from cti.ami.framing import AmiFrameParser

AGENT = "PJSIP/1001-0000001b"


def wire(action: actions.Action) -> list[tuple[str, str]]:
    """The action as the PBX reads it back from the bytes."""
    (frame,) = AmiFrameParser().feed(action.to_bytes())
    return list(frame.headers)


def test_blind_transfer_names_the_transferer_and_the_destination() -> None:
    action = actions.blind_transfer(AGENT, context="transfer", exten="1002")
    assert wire(action) == [
        ("Action", "BlindTransfer"),
        ("ActionID", action.action_id),
        ("Channel", AGENT),
        ("Context", "transfer"),
        ("Exten", "1002"),
    ]


def test_atxfer_names_the_transferer_and_the_consultation_target() -> None:
    action = actions.atxfer(AGENT, context="transfer", exten="5001")
    assert wire(action) == [
        ("Action", "Atxfer"),
        ("ActionID", action.action_id),
        ("Channel", AGENT),
        ("Context", "transfer"),
        ("Exten", "5001"),
    ]


def test_cancel_atxfer_names_the_transferer() -> None:
    action = actions.cancel_atxfer(AGENT)
    assert wire(action) == [
        ("Action", "CancelAtxfer"),
        ("ActionID", action.action_id),
        ("Channel", AGENT),
    ]


def test_each_action_gets_its_own_action_id() -> None:
    first = actions.blind_transfer(AGENT, context="transfer", exten="1002")
    second = actions.blind_transfer(AGENT, context="transfer", exten="1002")
    assert first.action_id != second.action_id


@pytest.mark.parametrize(
    ("build", "key"),
    [
        (lambda: actions.blind_transfer("", context="transfer", exten="1002"), "Channel"),
        (lambda: actions.blind_transfer(AGENT, context="", exten="1002"), "Context"),
        (lambda: actions.blind_transfer(AGENT, context="transfer", exten=""), "Exten"),
        (lambda: actions.atxfer(AGENT, context="transfer", exten=" 1002"), "Exten"),
        (lambda: actions.atxfer("", context="transfer", exten="1002"), "Channel"),
        (lambda: actions.cancel_atxfer(""), "Channel"),
    ],
)
def test_a_missing_or_padded_value_is_refused_before_the_round_trip(build, key: str) -> None:
    with pytest.raises(UnsafeValue) as refused:
        build()
    assert refused.value.key == key


@pytest.mark.parametrize("bad", ["1002\r\nAction: Originate", "1002\n", "10\x0002"])
def test_line_breaks_cannot_smuggle_headers_into_a_transfer(bad: str) -> None:
    for build in (
        lambda: actions.blind_transfer(AGENT, context="transfer", exten=bad),
        lambda: actions.atxfer(AGENT, context="transfer", exten=bad),
        lambda: actions.cancel_atxfer(AGENT + bad),
    ):
        with pytest.raises(UnsafeValue):
            build()
