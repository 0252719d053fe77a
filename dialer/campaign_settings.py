"""A campaign's settings, read from raw form or API input (a mapping of names to strings, numbers
or lists), checked all at once: every bad field is reported in one `InvalidInput`, and nothing
is built from half-valid input. What is allowed but unwise comes back as warnings.

Pure: no I/O, no database. Whether the name is already taken is the repository's question.

Decisions worth knowing:
- The abandon cap is written in percent ("3" is 3 %) and kept as a share (0.03). Above 3 % is
  refused: 3 % is the legal limit in the UK (Ofcom, per campaign over 24 hours) and in the US
  (FTC Telemarketing Sales Rule, per campaign over 30 days). 0 % is allowed with a warning.
- Calling hours are one window in the callee's local time, on chosen weekdays; a window that
  never opens (start not before end, no weekday) is refused, and so is an overnight one.
- The fallback zone and the weekdays have no default: an unticked set of weekday boxes sends
  nothing, and must read as "no weekday", not as "every day"; a fallback zone decides when
  numbers without a zone of their own are called, so somebody chooses it.
- Retry minutes come either as a mapping `retry_minutes` ({"busy": 10}, or its JSON text, the
  API's and the database's form) or as flat `retry_busy` fields (an HTML form's).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar
from zoneinfo import ZoneInfo

import phonenumbers

from crm_core.errors import InvalidInput
from crm_core.phones import NumberKind, is_valid, normalise
from dialer.compliance import (
    DEFAULT_RETRY_MINUTES,
    RETRY_KEYS,
    WEEKDAY_NAMES,
    CallingHours,
    MachineRule,
    RetryRules,
)
from dialer.compliance import known_zone as _known_zone
from dialer.pacing import Mode, Policy

NAME_MAX = 100
SCRIPT_MAX = 10_000
LEGAL_CAP_PERCENT = Decimal(3)  # UK (Ofcom) and US (FTC TSR)
DEFAULT_CAP_PERCENT = Decimal(3)
LEGAL_PATIENCE = 2.0  # seconds: a later connection is an abandoned call for UK and US rules
PATIENCE_RANGE = (1.0, 10.0)
ATTEMPTS_RANGE = (1, 20)
LINES_RANGE = (1, 10_000)
RETRY_RANGE = (1, 7 * 24 * 60)  # a minute to a week
# Hours the US rules (TSR, TCPA) allow for telemarketing in the callee's local time.
LAWFUL_HOURS = (time(8, 0), time(21, 0))
DEFAULT_QUEUE = "outbound"

_QUEUE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # as an agent joining a queue may name it
_TRUNK = re.compile(r"[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9_.+@-]{1,47}")  # PJSIP/trunk-main
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_REGION = re.compile(r"[A-Za-z]{2}")
# A sound file as Playback() takes it: a path below the sounds directory, no extension.
_SOUND = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")
AGENTS_MAX = 500
_E = TypeVar("_E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class CampaignSettings:
    name: str
    mode: Mode
    queue: str  # answered calls go to this queue's agents
    caller_id: str  # E.164, presented to the callee
    trunk: str  # "" = the dialplan's own route
    max_lines: int | None  # the campaign's share of the trunk's channels; None = no limit
    abandon_cap: float  # a share: 0.03 is 3 %
    patience: float  # seconds an answered call may wait for an agent before it is abandoned
    hours_start: time
    hours_end: time  # exclusive
    weekdays: frozenset[int]  # 0 = Monday
    fallback_timezone: str  # IANA
    region: str  # ISO country for numbers written nationally; "" = international form only
    max_attempts: int
    retry_minutes: Mapping[str, int]  # every outcome with a delay, defaults filled in
    machine_rule: MachineRule
    script: str
    agents: tuple[int, ...] = ()  # user ids of the agents who may work it; () = anyone in the queue
    abandon_message: str = ""  # sound played when no agent is free; "" = the dialplan's default

    @property
    def calling_hours(self) -> CallingHours:
        return CallingHours(self.hours_start, self.hours_end, self.weekdays)

    @property
    def retry_rules(self) -> RetryRules:
        return RetryRules(self.max_attempts, self.retry_minutes, self.machine_rule)

    @property
    def policy(self) -> Policy:
        return Policy(
            mode=self.mode,
            abandon_cap=self.abandon_cap,
            patience=self.patience,
            max_lines=self.max_lines,
        )

    def columns(self) -> dict[str, object]:
        """The values of the `campaigns` row (crm_core.models.outbound.Campaign)."""
        return {
            "name": self.name,
            "mode": str(self.mode),
            "queue": self.queue,
            "caller_id": self.caller_id,
            "trunk": self.trunk,
            "max_lines": self.max_lines,
            "abandon_cap": self.abandon_cap,
            "patience": self.patience,
            "hours_start": f"{self.hours_start:%H:%M}",
            "hours_end": f"{self.hours_end:%H:%M}",
            "weekdays": "".join(str(d) for d in sorted(self.weekdays)),
            "fallback_timezone": self.fallback_timezone,
            "region": self.region,
            "max_attempts": self.max_attempts,
            "retry_minutes": json.dumps(dict(self.retry_minutes), sort_keys=True),
            "machine_rule": str(self.machine_rule),
            "script": self.script,
            "agents": json.dumps(list(self.agents)),
            "abandon_message": self.abandon_message,
        }

    def form_values(self) -> dict[str, object]:
        """The settings as input again (the cap in percent): to fill the edit form, or to
        check a change with `parse_settings({**settings.form_values(), **changes})`."""
        values = self.columns()
        values["abandon_cap"] = f"{(Decimal(str(self.abandon_cap)) * 100).normalize():f}"
        values["weekdays"] = sorted(self.weekdays)
        values["retry_minutes"] = dict(self.retry_minutes)
        values["max_lines"] = "" if self.max_lines is None else self.max_lines
        values["agents"] = list(self.agents)
        return values


def parse_settings(raw: Mapping[str, object]) -> tuple[CampaignSettings, list[str]]:
    """Raw input -> the settings and warnings; InvalidInput naming every bad field otherwise.
    Keys not listed here (a CSRF token, a submit button) are ignored."""
    form = _Form(raw)
    name = form.text("name", required=True, most=NAME_MAX, single_line=True)
    mode = form.choice("mode", Mode, required=True)
    queue = form.text("queue", default=DEFAULT_QUEUE)
    if queue and not _QUEUE.fullmatch(queue):
        form.bad("queue", "letters, digits, - and _ only (at most 64), like an Asterisk queue")
    region = form.text("region").upper()
    if region and not (_REGION.fullmatch(region) and region in phonenumbers.SUPPORTED_REGIONS):
        form.bad("region", f"{region!r} is not a country code phone numbers know (e.g. FR, US)")
        region = ""
    caller_id = _caller_id(form, region)
    trunk = form.text("trunk")
    if trunk and not (len(trunk) <= 64 and _TRUNK.fullmatch(trunk)):
        form.bad("trunk", "a channel technology and endpoint, e.g. PJSIP/trunk-main")
    max_lines = form.whole("max_lines", None, LINES_RANGE, why_low=_no_line(mode))
    cap = _abandon_cap(form)
    patience = form.decimal("patience", Decimal(2), PATIENCE_RANGE, "seconds")
    patience_s = None if patience is None else float(patience)
    start = form.clock("hours_start", time(9, 0))
    end = form.clock("hours_end", time(21, 0))
    if start is not None and end is not None and start >= end:
        form.bad(
            "hours_end",
            f"the calling hours never open: the end ({end:%H:%M}) must come after the start"
            f" ({start:%H:%M}); a window over midnight is not supported",
        )
    weekdays = _weekdays(form)
    fallback = form.text("fallback_timezone", required=True)
    if fallback and not _known_zone(fallback):
        form.bad("fallback_timezone", f"{fallback!r} is not a time zone (e.g. Europe/Paris)")
    max_attempts = form.whole("max_attempts", 3, ATTEMPTS_RANGE)
    retry_minutes = _retry_minutes(form)
    machine_rule = form.choice("machine_rule", MachineRule, default=MachineRule.RETRY)
    script = form.text("script", most=SCRIPT_MAX, strip=False)
    agents = _agents(form)
    abandon_message = form.text("abandon_message", most=64)
    if abandon_message and not _SOUND.fullmatch(abandon_message):
        form.bad(
            "abandon_message",
            "the name of a sound on the PBX, without its extension (e.g. custom/sorry-acme):"
            " letters, digits, -, _ and /",
        )
    form.raise_problems()

    # Narrowing for the type checker: with no problem noted, nothing below is None.
    assert mode is not None and start is not None and end is not None and weekdays
    assert cap is not None and patience_s is not None and max_attempts is not None
    assert machine_rule is not None
    settings = CampaignSettings(
        name=name,
        mode=mode,
        queue=queue,
        caller_id=caller_id,
        trunk=trunk,
        max_lines=max_lines,
        abandon_cap=cap,
        patience=patience_s,
        hours_start=start,
        hours_end=end,
        weekdays=weekdays,
        fallback_timezone=fallback,
        region=region,
        max_attempts=max_attempts,
        retry_minutes=MappingProxyType(retry_minutes),
        machine_rule=machine_rule,
        script=script,
        agents=agents,
        abandon_message=abandon_message,
    )
    return settings, _warnings(settings)


def start_warnings(
    settings: CampaignSettings,
    agents_logged_in: int,
    entries_due: int,
    open_now: bool,
    first_opening: datetime | None = None,
) -> list[str]:
    """What the team lead is told on pressing start (the campaign starts anyway): no agent, no
    entry due, or calling hours closed for every entry due (`open_now` False; `first_opening`,
    when known, is the earliest `next_opening` among them)."""
    warnings: list[str] = []
    if agents_logged_in <= 0:
        warnings.append(
            f"no agent is logged in to queue {settings.queue}: the campaign will dial nothing"
            " until one is ready"
        )
    if entries_due <= 0:
        warnings.append(
            "no entry is due: the campaign will wait for retries, callbacks and new entries"
        )
    elif not open_now:
        text = "calling hours are closed now for every entry due"
        if first_opening is not None:
            local = first_opening.astimezone(ZoneInfo(settings.fallback_timezone))
            text += (
                f": the first opens at {WEEKDAY_NAMES[local.weekday()]} {local:%d %b %H:%M}"
                f" {settings.fallback_timezone}"
            )
        warnings.append(text)
    return warnings


# --- the fields --------------------------------------------------------------------------------


def _caller_id(form: _Form, region: str) -> str:
    raw = form.text("caller_id", required=True)
    if not raw:
        return ""
    number = normalise(raw, region or "ZZ")  # without a region, only the international form
    if number.kind is NumberKind.WITHHELD:
        form.bad("caller_id", "a campaign must present a number the callee can call back")
        return ""
    if not number.usable:
        where = f"a {region} number or " if region else ""
        form.bad("caller_id", f"not a phone number: write {where}+ and the country code")
        return ""
    return number.e164


def _no_line(mode: Mode | None) -> str:
    if mode is Mode.PREDICTIVE:
        return "at least 1: a predictive campaign with no line can place no call"
    return "at least 1: with no line no call can be placed"


def _abandon_cap(form: _Form) -> float | None:
    percent = form.decimal("abandon_cap", DEFAULT_CAP_PERCENT, None, "percent", percent=True)
    if percent is None:
        return None
    if percent < 0:
        form.bad("abandon_cap", "a percentage between 0 and 3")
        return None
    if percent > LEGAL_CAP_PERCENT:
        form.bad(
            "abandon_cap",
            f"at most {LEGAL_CAP_PERCENT}%: above it is beyond the legal limit in the UK (Ofcom,"
            " over 24 hours) and the US (FTC, over 30 days)",
        )
        return None
    return float(percent / 100)


def _agents(form: _Form) -> tuple[int, ...]:
    """User ids, as a list (the API's, a form's several values) or its JSON text (the
    database's); none means anyone in the campaign's queue. Whether they are outbound agents
    is the repository's question."""
    value = form.raw.get("agents")
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            value = "not a list"
    if value is None:
        return ()
    ids = [_whole(v) for v in value] if isinstance(value, list | tuple) else [None]
    if any(i is None or i < 1 for i in ids) or len(ids) > AGENTS_MAX:
        form.bad("agents", f"a list of at most {AGENTS_MAX} user ids")
        return ()
    return tuple(sorted({i for i in ids if i is not None}))


def _weekdays(form: _Form) -> frozenset[int]:
    value = form.raw.get("weekdays")
    if isinstance(value, str):
        # "0,1,2", "0 1 2", or the database's "012"
        pieces = re.split(r"[\s,;]+", value) if re.search(r"[\s,;]", value) else list(value)
        value = [p for p in pieces if p]
    if value is None:
        value = []
    if not isinstance(value, list | tuple | set | frozenset):
        form.bad("weekdays", "a list of days, 0 (Monday) to 6 (Sunday)")
        return frozenset()
    days: set[int] = set()
    for item in value:
        day = _whole(item)
        if day is None or not 0 <= day <= 6:
            form.bad("weekdays", f"{str(item)[:20]!r} is not a day: 0 (Monday) to 6 (Sunday)")
            return frozenset()
        days.add(day)
    if not days:
        form.bad("weekdays", "no weekday chosen: the calling hours would never open")
    return frozenset(days)


def _retry_minutes(form: _Form) -> dict[str, int]:
    minutes = {str(k): v for k, v in DEFAULT_RETRY_MINUTES.items()}
    given: dict[str, tuple[str, object]] = {}  # outcome -> (field named in errors, value)
    nested = form.raw.get("retry_minutes")
    if isinstance(nested, str) and nested.strip():
        try:
            nested = json.loads(nested)
        except ValueError:
            nested = None
            form.bad("retry_minutes", "not a JSON object of minutes per outcome")
    if isinstance(nested, Mapping):
        for key, value in nested.items():
            given[str(key)] = (f"retry_minutes.{key}", value)
    elif nested not in (None, ""):
        form.bad("retry_minutes", 'minutes per outcome, e.g. {"busy": 10}')
    for key, value in form.raw.items():
        if key.startswith("retry_") and key != "retry_minutes":
            given[key.removeprefix("retry_")] = (key, value)
    for outcome, (field_name, value) in given.items():
        if outcome not in RETRY_KEYS:
            form.bad(field_name, f"no outcome is retried as {outcome!r}: {', '.join(RETRY_KEYS)}")
            continue
        if value in (None, ""):
            continue
        number = _whole(value)
        low, high = RETRY_RANGE
        if number is None or not low <= number <= high:
            form.bad(field_name, f"whole minutes from {low} to {high:,} (a week)")
            continue
        minutes[outcome] = number
    return minutes


def _warnings(settings: CampaignSettings) -> list[str]:
    warnings: list[str] = []
    if settings.abandon_cap == 0 and settings.mode is Mode.PREDICTIVE:
        warnings.append(
            "a cap of 0%: predictive will dial like progressive: no call may ever be abandoned"
        )
    if settings.patience > LEGAL_PATIENCE:
        warnings.append(
            f"a patience of {settings.patience:g} s: UK and US rules count a call not connected"
            f" to an agent within {LEGAL_PATIENCE:g} s as abandoned, so the campaign's own count"
            " will be lower than the regulator's"
        )
    earliest, latest = LAWFUL_HOURS
    if settings.hours_start < earliest or settings.hours_end > latest:
        warnings.append(
            f"calling hours {settings.hours_start:%H:%M}-{settings.hours_end:%H:%M}: telemarketing"
            f" outside {earliest:%H:%M}-{latest:%H:%M} in the callee's local time is unlawful in"
            " the US and against UK guidance"
        )
    if not is_valid(settings.caller_id):
        warnings.append(
            f"the caller ID {settings.caller_id} is not a number any operator assigns: carriers"
            " may block the calls or show them as spam"
        )
    return warnings


# --- reading raw values ------------------------------------------------------------------------


def _whole(value: object) -> int | None:
    """3, "3", " 3 " -> 3; anything else (True, 3.5, "3.0", "three") -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]{1,9}\s*", value):
        return int(value)
    return None


class _Form:
    """Reads fields from raw input, noting each problem under its field's name."""

    def __init__(self, raw: Mapping[str, object]) -> None:
        self.raw = raw
        self.problems: dict[str, str] = {}

    def bad(self, name: str, problem: str) -> None:
        self.problems.setdefault(name, problem)

    def raise_problems(self) -> None:
        if self.problems:
            raise InvalidInput(
                "; ".join(f"{k}: {v}" for k, v in self.problems.items()), fields=self.problems
            )

    def _present(self, name: str) -> object | None:
        value = self.raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return value

    def text(
        self,
        name: str,
        *,
        default: str = "",
        required: bool = False,
        most: int = 200,
        single_line: bool = False,
        strip: bool = True,
    ) -> str:
        value = self._present(name)
        if value is None:
            if required:
                self.bad(name, "required")
            return default
        if not isinstance(value, str):
            self.bad(name, "text is expected")
            return default
        text = value.strip() if strip else value
        if len(text) > most:
            self.bad(name, f"at most {most:,} characters ({len(text):,} given)")
        elif "\x00" in text or (single_line and _has_control(text)):
            self.bad(name, "control characters (line breaks, tabs, ...) are not allowed")
        return text

    def choice(
        self, name: str, kind: type[_E], *, required: bool = False, default: _E | None = None
    ) -> _E | None:
        value = self._present(name)
        if value is None:
            if required:
                self.bad(name, f"required: {' or '.join(kind)}")
            return default
        try:
            return kind(str(value).strip().lower())
        except ValueError:
            self.bad(name, f"{str(value)[:30]!r} is not one of {', '.join(kind)}")
            return default

    def whole(
        self, name: str, default: int | None, bounds: tuple[int, int], *, why_low: str = ""
    ) -> int | None:
        value = self._present(name)
        if value is None:
            return default
        number = _whole(value)
        low, high = bounds
        if number is None:
            self.bad(name, "a whole number")
        elif number < low:
            self.bad(name, why_low or f"at least {low}")
        elif number > high:
            self.bad(name, f"at most {high:,}")
        else:
            return number
        return default

    def decimal(
        self,
        name: str,
        default: Decimal,
        bounds: tuple[float, float] | None,
        unit: str,
        *,
        percent: bool = False,
    ) -> Decimal | None:
        value = self._present(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.bad(name, f"a number of {unit}")
            return None
        text = str(value).strip()
        if percent:
            text = text.removesuffix("%").strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            self.bad(name, f"a number of {unit}")
            return None
        if bounds is not None and not bounds[0] <= number <= bounds[1]:
            self.bad(name, f"from {bounds[0]:g} to {bounds[1]:g} {unit}")
            return None
        return number

    def clock(self, name: str, default: time) -> time | None:
        value = self._present(name)
        if value is None:
            return default
        text = str(value).strip()
        match = _CLOCK.fullmatch(text) if isinstance(value, str) else None
        if match is None:
            why = "23:59 at the latest" if text.startswith("24") else "a time as HH:MM"
            self.bad(name, why)
            return None
        return time(int(match[1]), int(match[2]))


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)
