"""Click-to-call: what a typed number means, and whether an agent may dial it.

Pure: no I/O. Two steps, because the second needs to know whether the number is on a customer
record, which only the caller can look up:

- ``DialRules.target``: an internal number (an agent's extension, a queue's DID, a short number:
  digits only, of an internal length and prefix) is dialled as typed; anything else must be a
  phone number, dialled as E.164.
- ``DialRules.check``: an outside number must be valid (assigned by its numbering plan), of an
  allowed country and of an allowed type. A number on a customer record is dialled whatever it
  is (somebody recorded it on purpose: the demo's +1 555 numbers are on records), and so are
  fictional numbers (reserved, they reach nobody: the simulator's and the tests'). The
  permission ``calls.dial_any`` lifts the country and type rules, never validity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import PhoneNumberType, geocoder

from crm_core.phones import is_valid, normalise

DIAL_ANY = "calls.dial_any"
NON_GEOGRAPHIC = "001"  # phonenumbers' region of +800, +808, +870, +881-883 (no country)

# Number types by their settings name (``premium_rate``), UNKNOWN left out: a valid number
# always has a known type.
NUMBER_TYPES: dict[str, int] = {
    name.lower(): value
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int) and name != "UNKNOWN"
}
# Refused by default: the callee sets what the call costs (premium rate, shared cost,
# personal "follow-me" and universal access numbers, the routes of toll fraud), or nobody can
# talk (a pager). Mobile, landline, toll-free, VoIP and voicemail are ordinary to call.
DEFAULT_REFUSED_TYPES = ("premium_rate", "shared_cost", "personal_number", "uan", "pager")
# Extensions of 3 to 5 digits: the dialplan's agents' phones (1XXX), queues' DIDs (50XX) and
# the simulator's test numbers (6001 answers, 7001 is busy, ...).
DEFAULT_INTERNAL_LENGTHS = (3, 4, 5)
# +1 555 is no area code: numbers there reach nobody, and the demo and simulator use them.
DEFAULT_FICTIONAL_PREFIXES = ("+1555",)

_TYPE_WORDS: dict[int, str] = {
    PhoneNumberType.FIXED_LINE: "a landline number",
    PhoneNumberType.MOBILE: "a mobile number",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "a landline or mobile number",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.VOIP: "a VoIP number",
    PhoneNumberType.PERSONAL_NUMBER: "a personal (follow-me) number",
    PhoneNumberType.PAGER: "a pager",
    PhoneNumberType.UAN: "a universal access number",
    PhoneNumberType.VOICEMAIL: "a voicemail access number",
}
# What people put between the digits of an extension ("60 01", "60-01").
_SEPARATORS = re.compile(r"[\s\-.]")
_DIGITS = re.compile(r"[0-9]+")


class NotDialable(ValueError):
    """The number may not be dialled; ``reason`` says why in plain words. ``by_rule``: a rule
    (country, type) refuses it, which a permission lifts; otherwise it is no usable number."""

    def __init__(self, reason: str, *, by_rule: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.by_rule = by_rule


@dataclass(frozen=True, slots=True)
class Target:
    number: str  # what the PBX dials: the digits as typed (internal) or E.164
    internal: bool


@dataclass(frozen=True, slots=True)
class DialRules:
    region: str = "US"  # what a national number means, and the one country allowed by default
    internal_lengths: frozenset[int] = frozenset(DEFAULT_INTERNAL_LENGTHS)
    internal_prefixes: tuple[str, ...] = ()  # empty: any digits of an internal length
    allowed_regions: frozenset[str] = frozenset()  # empty: ``region`` only
    refused_types: frozenset[str] = frozenset(DEFAULT_REFUSED_TYPES)
    fictional_prefixes: tuple[str, ...] = DEFAULT_FICTIONAL_PREFIXES
    _refused: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.refused_types) - NUMBER_TYPES.keys())
        if unknown:
            raise ValueError(f"unknown number type(s): {', '.join(unknown)}")
        object.__setattr__(self, "_refused", frozenset(NUMBER_TYPES[t] for t in self.refused_types))

    @property
    def regions(self) -> frozenset[str]:
        return self.allowed_regions or frozenset({self.region.upper()})

    def target(self, raw: str) -> Target:
        """What the typed ``raw`` dials. Raises NotDialable when it is neither an internal
        number nor a phone number."""
        compact = _SEPARATORS.sub("", raw.strip())
        if self.is_internal(compact):
            return Target(compact, internal=True)
        number = normalise(raw, self.region)
        if not number.usable:
            raise NotDialable(f"{raw.strip()[:64]!r} is neither a phone number nor an extension")
        return Target(number.e164, internal=False)

    def is_internal(self, compact: str) -> bool:
        return (
            _DIGITS.fullmatch(compact) is not None
            and len(compact) in self.internal_lengths
            and (not self.internal_prefixes or compact.startswith(self.internal_prefixes))
        )

    def check(self, target: Target, *, on_record: bool, may_dial_any: bool) -> None:
        """Raises NotDialable unless ``target`` may be dialled. ``on_record``: the number is on
        a customer record; ``may_dial_any``: the agent holds ``calls.dial_any``."""
        if target.internal or on_record or target.number.startswith(self.fictional_prefixes):
            return
        parsed = phonenumbers.parse(target.number)
        shown = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        if not is_valid(target.number):
            raise NotDialable(f"{shown} is not a valid phone number: no such number exists")
        if may_dial_any:
            return
        kind = phonenumbers.number_type(parsed)
        if kind in self._refused:
            raise NotDialable(
                f"{shown} is {_TYPE_WORDS.get(kind, 'a number of a refused type')}; "
                "you may not dial it",
                by_rule=True,
            )
        region = phonenumbers.region_code_for_number(parsed) or ""
        if region not in self.regions:
            raise NotDialable(f"{shown}: calls to {_place(region)} are not allowed", by_rule=True)


def _place(region: str) -> str:
    if region == NON_GEOGRAPHIC:
        return "numbers of no country (international networks, satellite phones)"
    # The locale table's names; "*xx" points at the name held under language xx.
    names = geocoder.LOCALE_DATA.get(region, {})
    name = names.get("en", "")
    if name.startswith("*"):
        name = names.get(name[1:], "")
    return name or region
