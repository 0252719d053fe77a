"""Outbound compliance: calling hours in the callee's local time, retry rules, and the checks made
immediately before every dial, with the evidence of each.

Pure: no I/O, no clock (`now` is an aware datetime the caller passes in), no database. The
campaign driver looks up the do-not-call register and the entry's attempts just before dialling,
calls `check_dial`, and stores its evidence with the dial (`DialAttempt.checks`), so that a
complaint can be answered from the record.

Whose local time. `callee_zones` reads the number's zones with `phonenumbers`:

- one zone (+33 1…, +81 3…, +1 212…, +1 808…): that zone alone;
- no zone (a fictional +1 555 number, a range phonenumbers does not place): the campaign's
  fallback zone;
- several zones (an Australian mobile, a Russian mobile, a +1 toll-free number): the fallback
  AND every candidate. The callee may be in any of them, so a call is allowed only when it is
  inside calling hours in all of them. This is the conservative reading: the window narrows to
  the hours common to every zone (an Australian mobile: 09:00 on the Cocos Islands, UTC+6:30,
  to 21:00 on Lord Howe, UTC+11), and closes entirely when the zones are further apart than
  the window is long (the same mobile with a New York fallback never opens for 09:00-21:00). A
  number that never opens is never dialled, rather than dialled at a guessed hour.

Daylight saving is zoneinfo's: local wall-clock time is read at the instant of the dial, so a
window is the same local hours on the day clocks change, and `next_opening` finds openings that
fall in a skipped hour (the moment clocks jump forward) or recur in a repeated one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, available_timezones

from crm_core.phones import timezones
from dialer.results import (
    RETRIED,
    AgentResult,
    DialOutcome,
    Effect,
    Outcome,
    meaning,
    parse_outcome,
)
from dialer.windows import AbandonWindow

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# How far `next_opening` looks: a year and a week covers every phase of every zone's daylight
# saving, so "never" means never.
SEARCH = timedelta(days=371)
_FIRST_SEARCH = timedelta(days=8)
# Offsets are sampled this often to find a zone's changes (none is this close to the next).
_OFFSET_STEP = timedelta(hours=6)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


# --- calling hours -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallingHours:
    """Local wall-clock hours, [start, end), on the listed weekdays (0 = Monday)."""

    start: time
    end: time  # exclusive
    weekdays: frozenset[int] = frozenset(range(7))

    def __post_init__(self) -> None:
        object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("calling hours are local wall-clock times, without a zone")
        if self.start >= self.end:
            raise ValueError(
                f"calling hours must start before they end ({self.start:%H:%M}-{self.end:%H:%M})"
                ": an overnight window is not supported"
            )
        if not self.weekdays <= frozenset(range(7)):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")

    def contains(self, local: datetime) -> bool:
        """Whether a local datetime (in the callee's zone) is inside the hours."""
        return local.weekday() in self.weekdays and self.start <= local.time() < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {weekdays_text(self.weekdays)}"


def weekdays_text(weekdays: frozenset[int]) -> str:
    """{0, 1, 2, 3, 4} -> "Mon-Fri"; {0, 2, 4} -> "Mon, Wed, Fri"; {} -> "no day"."""
    days = sorted(weekdays)
    if not days:
        return "no day"
    if len(days) == 7:
        return "every day"
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    names: list[str] = []
    for run in runs:
        if len(run) > 2:
            names.append(f"{WEEKDAY_NAMES[run[0]]}-{WEEKDAY_NAMES[run[-1]]}")
        else:
            names.extend(WEEKDAY_NAMES[d] for d in run)
    return ", ".join(names)


# --- the callee's zones ------------------------------------------------------------------------


class ZoneSource(StrEnum):
    NUMBER = "number"  # the number has exactly one zone
    FALLBACK = "fallback"  # the campaign's: the number has no zone, or several
    CANDIDATE = "candidate"  # one of the number's several zones


@dataclass(frozen=True, slots=True)
class Zone:
    name: str  # IANA
    source: ZoneSource


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def known_zone(name: str) -> bool:
    """Whether `name` is an IANA zone this system has the rules of."""
    return name in _zone_names()


def callee_zones(number_e164: str, fallback: str) -> tuple[Zone, ...]:
    """The zones in which a dial to the number must be inside calling hours (see the module's
    docstring): the number's one zone, or the fallback plus each of its several."""
    if not known_zone(fallback):
        raise ValueError(f"{fallback!r} is not a known time zone")
    known = tuple(z for z in timezones(number_e164) if known_zone(z))
    if len(known) == 1:
        return (Zone(known[0], ZoneSource.NUMBER),)
    candidates = (Zone(z, ZoneSource.CANDIDATE) for z in known if z != fallback)
    return (Zone(fallback, ZoneSource.FALLBACK), *candidates)


def is_open(hours: CallingHours, zones: Sequence[Zone], now_utc: datetime) -> bool:
    """Whether `now_utc` is inside the calling hours in every one of `zones`."""
    return _open(hours, _infos(zones), _utc(now_utc))


def next_opening(hours: CallingHours, zones: Sequence[Zone], now_utc: datetime) -> datetime | None:
    """The first instant at or after `now_utc` (in UTC) that is inside the calling hours in
    every zone; None when there is none within `SEARCH` (no weekday, or zones too far apart)."""
    infos = _infos(zones)
    now = _utc(now_utc)
    if not hours.weekdays:
        return None
    if _open(hours, infos, now):
        return now
    # Being closed just before and open at an instant, some zone opened at that instant: at its
    # local start, or at a change of its offset. Those are the only candidates. The first week
    # is searched alone: that is where an opening almost always is.
    for after, until in ((now, now + _FIRST_SEARCH), (now + _FIRST_SEARCH, now + SEARCH)):
        moments = sorted(
            {
                m
                for info in infos
                for m in _openings(hours, info, after, until)
                if after < m <= until
            }
        )
        opening = next((m for m in moments if _open(hours, infos, m)), None)
        if opening is not None:
            return opening
    return None


def _open(hours: CallingHours, infos: Sequence[ZoneInfo], now: datetime) -> bool:
    return all(hours.contains(now.astimezone(info)) for info in infos)


def _openings(
    hours: CallingHours, info: ZoneInfo, after: datetime, until: datetime
) -> Iterator[datetime]:
    """Instants around (after, until] at which the zone may go from closed to open: the local
    start of each allowed day (both readings, when clocks go back over it) and each change of
    offset (clocks jumping forward over the start, or back below the end)."""
    day = after.astimezone(info).date() - timedelta(days=1)
    last = until.astimezone(info).date() + timedelta(days=1)
    while day <= last:
        if day.weekday() in hours.weekdays:
            for fold in (0, 1):
                local = datetime.combine(day, hours.start, tzinfo=info).replace(fold=fold)
                yield local.astimezone(UTC)
        day += timedelta(days=1)
    yield from _offset_changes(info, after, until)


def _offset_changes(info: ZoneInfo, after: datetime, until: datetime) -> Iterator[datetime]:
    moment = after
    offset = after.astimezone(info).utcoffset()
    while moment < until:
        later = moment + _OFFSET_STEP
        later_offset = later.astimezone(info).utcoffset()
        if later_offset != offset:
            yield _change_between(info, moment, later)
            offset = later_offset
        moment = later


def _change_between(info: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first whole second with the later offset (zones change on whole seconds)."""

    def offset(second: int) -> timedelta | None:
        return datetime.fromtimestamp(second, UTC).astimezone(info).utcoffset()

    low, high = math.floor(before.timestamp()), math.ceil(after.timestamp())
    old = offset(low)
    while high - low > 1:
        middle = (low + high) // 2
        if offset(middle) == old:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _infos(zones: Sequence[Zone]) -> tuple[ZoneInfo, ...]:
    if not zones:
        raise ValueError("at least one zone is needed")
    return tuple(ZoneInfo(zone.name) for zone in zones)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an aware datetime is needed (UTC), not a naive one")
    return moment.astimezone(UTC)


def local_time_text(zones: Sequence[Zone], now_utc: datetime) -> str:
    """Each zone's local time and where the zone comes from, for evidence and refusals:
    "Tue 10:02 Europe/Paris (from the number)"."""
    now = _utc(now_utc)

    def at(zone: Zone) -> str:
        local = now.astimezone(ZoneInfo(zone.name))
        return f"{WEEKDAY_NAMES[local.weekday()]} {local:%H:%M} {zone.name}"

    number = [at(z) for z in zones if z.source is ZoneSource.NUMBER]
    fallback = [at(z) for z in zones if z.source is ZoneSource.FALLBACK]
    candidates = [at(z) for z in zones if z.source is ZoneSource.CANDIDATE]
    parts = [f"{t} (from the number)" for t in number]
    if fallback and candidates:
        parts.append(f"{fallback[0]} (campaign fallback)")
        parts.append(f"{', '.join(candidates)} (the number may be in any of these)")
    elif fallback:
        parts.append(f"{fallback[0]} (campaign fallback: the number gives no zone)")
    elif candidates:
        parts.append(f"{', '.join(candidates)} (the number may be in any of these)")
    return "; ".join(parts)


# --- retries -----------------------------------------------------------------------------------


class MachineRule(StrEnum):
    """What an answering machine does to the entry (the PBX hangs up on it either way)."""

    RETRY = "retry"  # try again after the machine delay, while attempts remain
    HANG_UP = "hang_up"  # hang up and close the entry: machines are not called again


class EntryState(StrEnum):
    """A list entry's state after a dial (the values of `CallListEntry.state`)."""

    PENDING = "pending"  # due again at `next_attempt_at`
    DONE = "done"
    FAILED = "failed"  # attempts spent, or the number is wrong
    DNC = "dnc"


# Minutes before the next try, per outcome. An abandoned customer was answered and left with
# nobody: a person should call back soon. `callback` is used when the agent gave no time.
DEFAULT_RETRY_MINUTES: Mapping[str, int] = MappingProxyType(
    {
        DialOutcome.BUSY: 10,
        DialOutcome.NO_ANSWER: 60,
        DialOutcome.MACHINE: 120,
        DialOutcome.ABANDONED: 30,
        DialOutcome.CONGESTION: 5,
        DialOutcome.FAILED: 30,
        AgentResult.NO_CONTACT: 60,
        AgentResult.CALLBACK: 60,
    }
)
RETRY_KEYS: tuple[str, ...] = (*(str(o) for o in RETRIED), str(AgentResult.CALLBACK))


@dataclass(frozen=True, slots=True)
class RetryRules:
    """`minutes` overrides the defaults for the outcomes it names."""

    max_attempts: int = 3
    minutes: Mapping[str, int] = field(default_factory=lambda: DEFAULT_RETRY_MINUTES)
    machine_rule: MachineRule = MachineRule.RETRY

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("at least one attempt is needed")
        unknown = sorted(set(self.minutes) - set(RETRY_KEYS))
        if unknown:
            raise ValueError(f"no retry delay for {', '.join(unknown)}")
        if any(m < 0 for m in self.minutes.values()):
            raise ValueError("retry delays cannot be negative")
        merged = {str(k): v for k, v in DEFAULT_RETRY_MINUTES.items()}
        merged.update({str(k): v for k, v in self.minutes.items()})
        object.__setattr__(self, "minutes", MappingProxyType(merged))

    def delay(self, outcome: Outcome) -> timedelta:
        return timedelta(minutes=self.minutes[str(outcome)])


@dataclass(frozen=True, slots=True)
class Fate:
    """What becomes of a list entry after a dial."""

    state: EntryState
    next_attempt_at: datetime | None  # when pending
    why: str


def after_dial(
    rules: RetryRules,
    outcome: Outcome | str,
    attempts_made: int,
    now: datetime,
    callback_at: datetime | None = None,
) -> Fate:
    """The entry's fate after a dial ended with `outcome` (a dial outcome, or the agent's result
    for an answered call); `attempts_made` counts this dial.

    A callback is the customer's request: it is kept at its time (now, if that has passed) even
    when the attempts are spent. An `answered` call has no fate until the agent's result comes:
    asking for one is a ValueError."""
    now = _utc(now)
    if isinstance(outcome, str) and not isinstance(outcome, DialOutcome | AgentResult):
        outcome = parse_outcome(outcome)
    what = meaning(outcome)
    spent = f"{attempts_made} of {rules.max_attempts} attempts made"
    match what.effect:
        case Effect.AWAIT_RESULT:
            raise ValueError("an answered call waits for the agent's result")
        case Effect.DONE:
            return Fate(EntryState.DONE, None, what.text)
        case Effect.FAIL:
            return Fate(EntryState.FAILED, None, what.text)
        case Effect.DNC:
            return Fate(EntryState.DNC, None, "the customer asked not to be called again")
        case Effect.SCHEDULE:
            if callback_at is None:
                at = now + rules.delay(outcome)
                return Fate(EntryState.PENDING, at, f"callback, no time given: {_ago(at, now)}")
            at = max(_utc(callback_at), now)
            return Fate(
                EntryState.PENDING, at, f"callback asked for {at:%Y-%m-%d %H:%M} UTC ({spent})"
            )
    if outcome is DialOutcome.MACHINE and rules.machine_rule is MachineRule.HANG_UP:
        return Fate(EntryState.DONE, None, "answering machine: the campaign does not retry them")
    if attempts_made >= rules.max_attempts:
        return Fate(EntryState.FAILED, None, f"{what.text}; {spent}")
    at = now + rules.delay(outcome)
    return Fate(EntryState.PENDING, at, f"{what.text}: {_ago(at, now)} ({spent})")


def _ago(at: datetime, now: datetime) -> str:
    return f"next try in {round((at - now).total_seconds() / 60)} min"


# --- the checks before a dial ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DialCheck:
    allowed: bool
    refusal: str | None  # the first check that failed, in words; None when allowed
    evidence: dict[str, str] = field(default_factory=dict)  # every check and its value
    failed: tuple[str, ...] = ()  # the evidence keys of the checks that failed, in order


def check_dial(
    *,
    number: str,
    zones: Sequence[Zone],
    hours: CallingHours,
    now_utc: datetime,
    on_dnc: bool,
    attempts_made: int,
    max_attempts: int,
    abandon_rates: Sequence[AbandonWindow],
    cap: float,
    predictive: bool,
    callback: bool = False,
) -> DialCheck:
    """The checks made immediately before a dial, each recorded in the evidence whether it
    passed or not; the dial is allowed when all pass.

    `attempts_made` counts the dials before this one. `callback`: the customer asked for this
    call, which is then not limited by `max_attempts`. `predictive`: the dial is placed ahead
    of a free agent (beyond the progressive count); only such a dial is refused when a rolling
    window's abandon rate has reached the cap, since a dial with an agent waiting for it cannot
    be abandoned (unless the agent leaves). A window without abandons has not reached the cap,
    even a cap of 0: the pacing then dials like progressive."""
    now = _utc(now_utc)
    if not 0.0 <= cap <= 1.0:
        raise ValueError("the abandon cap is a share between 0 and 1")
    refusals: dict[str, str] = {}  # evidence key -> refusal
    evidence = {"checked_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "number": number}

    if not _E164.fullmatch(number):
        refusals["number"] = "not an E.164 number"

    evidence["dnc"] = "listed" if on_dnc else "not listed"
    if on_dnc:
        refusals["dnc"] = "the number is on the do-not-call list"

    evidence["local_time"] = local_time_text(zones, now)
    evidence["calling_hours"] = str(hours)
    closed = [z for z in zones if not hours.contains(now.astimezone(ZoneInfo(z.name)))]
    if closed:
        zone = closed[0]
        local = now.astimezone(ZoneInfo(zone.name))
        refusals["local_time"] = (
            f"outside calling hours ({hours}): {WEEKDAY_NAMES[local.weekday()]} {local:%H:%M}"
            f" in {zone.name}{_WHOSE[zone.source]}"
        )

    this = attempts_made + 1
    if callback:
        evidence["attempt"] = f"{this} of {max_attempts} (a callback the customer asked for)"
    else:
        evidence["attempt"] = f"{this} of {max_attempts}"
        if attempts_made >= max_attempts:
            refusals["attempt"] = f"all {max_attempts} attempts made"

    reached = [w for w in abandon_rates if _at_cap(w, cap)]
    text = _rates_text(abandon_rates, cap)
    if reached and not predictive:
        text += "; at the cap, but an agent is waiting for this dial"
    evidence["abandon_rate"] = text
    if reached and predictive:
        w = reached[0]
        refusals["abandon_rate"] = (
            f"abandon rate at the cap: {w.rate:.1%} over {w.name} (cap {cap:.1%})"
        )
    evidence["pacing"] = "predictive: ahead of a free agent" if predictive else "an agent waits"

    first = next(iter(refusals.values()), None)
    return DialCheck(not refusals, first, evidence, tuple(refusals))


_WHOSE = {
    ZoneSource.NUMBER: "",
    ZoneSource.FALLBACK: ", the campaign's fallback zone",
    ZoneSource.CANDIDATE: ", one of the number's zones",
}


def _at_cap(window: AbandonWindow, cap: float) -> bool:
    # A hair under the cap counts: 9 abandons of 300 answers is 3 % whatever the float says.
    return window.abandoned > 0 and window.abandoned >= cap * window.answered - 1e-9


def _rates_text(windows: Sequence[AbandonWindow], cap: float) -> str:
    parts = [
        f"{w.name}: {w.rate:.1%} of {w.answered}" if w.answered else f"{w.name}: no live answer"
        for w in windows
    ]
    return f"{'; '.join(parts) or 'no live answer counted'} (cap {cap:.1%})"
