"""Phone numbers: whatever form they come in (a form field, a CSV cell, a caller ID from the
PBX), normalised the same way to E.164 with `phonenumbers`, so that lookups match.

Pure: no I/O. The default region decides what a national number means."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from phonenumbers import timezone as number_timezones

# What a PBX or carrier writes when the caller withheld their number.
WITHHELD_WORDS = frozenset(
    {
        "",
        "anonymous",
        "unknown",
        "restricted",
        "private",
        "withheld",
        "unavailable",
        "not available",
        "blocked",
        "<unknown>",
        "(null)",
    }
)
# Separators people and systems put between digits.
_SEPARATORS = re.compile(r"[\s\-./()\u00a0\u2010-\u2015]")
MAX_RAW_LENGTH = 64


class NumberKind(StrEnum):
    E164 = "e164"  # a number we can look up and dial
    WITHHELD = "withheld"  # the caller chose not to show it
    INVALID = "invalid"  # something, but not a phone number


@dataclass(frozen=True, slots=True)
class Number:
    raw: str
    kind: NumberKind
    e164: str = ""

    @property
    def usable(self) -> bool:
        return self.kind is NumberKind.E164


def normalise(raw: str | None, region: str = "US") -> Number:
    """`raw` as entered or presented -> a Number. Never raises."""
    text = (raw or "").strip()
    if len(text) > MAX_RAW_LENGTH:
        return Number(text[:MAX_RAW_LENGTH], NumberKind.INVALID)
    if text.lower() in WITHHELD_WORDS:
        return Number(text, NumberKind.WITHHELD)
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]  # the international prefix most of the world dials
    if not re.fullmatch(r"\+?[0-9]{3,20}", compact):
        return Number(text, NumberKind.INVALID)
    try:
        parsed = phonenumbers.parse(compact, region.upper())
    except phonenumbers.NumberParseException:
        return Number(text, NumberKind.INVALID)
    if not phonenumbers.is_possible_number(parsed):
        return Number(text, NumberKind.INVALID)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return Number(text, NumberKind.E164, e164)


def is_valid(e164: str) -> bool:
    """True when the number is one the numbering plan assigns (``is_valid_number``).

    ``normalise`` asks only whether a number is possible, on purpose: a caller ID is looked up
    whatever it is, and the demo's +1 555 numbers are possible but invalid. Dialling out is
    where validity matters (crm_core.dial_rules)."""
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return False


def timezones(e164: str) -> tuple[str, ...]:
    """The IANA time zones a number may be in (empty when unknown)."""
    try:
        zones = number_timezones.time_zones_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in zones if z != "Etc/Unknown")
