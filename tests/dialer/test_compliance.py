"""Outbound compliance as pure rules: calling hours in the callee's local time, retries, and the
checks before every dial with their evidence."""

from __future__ import annotations

import time as clock
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.compliance import (
    CallingHours,
    DialCheck,
    EntryState,
    MachineRule,
    RetryRules,
    Zone,
    ZoneSource,
    after_dial,
    callee_zones,
    check_dial,
    is_open,
    next_opening,
    weekdays_text,
)
from dialer.results import (
    RETRIED,
    AgentResult,
    CrmAction,
    DialOutcome,
    Effect,
    meaning,
    parse_outcome,
)
from dialer.windows import AbandonWindow

EVERY_DAY = CallingHours(time(9), time(21))
WORKING_DAYS = CallingHours(time(9), time(21), frozenset(range(5)))

PARIS = "+33142685300"
TOKYO = "+81312345678"
NEW_YORK = "+12127365000"
HONOLULU = "+18089441234"
SYDNEY_LANDLINE = "+61298765432"
AUSTRALIAN_MOBILE = "+61412345678"  # phonenumbers: eight zones, Cocos (+6:30) to Lord Howe
FICTIONAL = "+15555550100"  # no zone at all


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def zones_of(number: str, fallback: str = "Europe/London") -> tuple[Zone, ...]:
    return callee_zones(number, fallback)


def dial(**overrides: object) -> DialCheck:
    """check_dial for a Paris number on a Tuesday morning, every check passing unless changed."""
    args: dict[str, object] = {
        "number": PARIS,
        "zones": zones_of(PARIS),
        "hours": EVERY_DAY,
        "now_utc": utc("2026-12-08 09:02"),
        "on_dnc": False,
        "attempts_made": 1,
        "max_attempts": 3,
        "abandon_rates": (AbandonWindow("24 h", answered=480, abandoned=10),),
        "cap": 0.03,
        "predictive": True,
    }
    args.update(overrides)
    return check_dial(**args)  # type: ignore[arg-type]


# --- the callee's local time -------------------------------------------------------------------


def test_a_number_in_paris_is_not_dialled_at_2130_paris_time_though_it_is_1530_in_new_york() -> (
    None
):
    now = utc("2026-12-08 20:30")
    assert not is_open(EVERY_DAY, zones_of(PARIS), now)
    assert is_open(EVERY_DAY, zones_of(NEW_YORK), now)
    check = dial(now_utc=now)
    assert not check.allowed
    assert (
        check.refusal == "outside calling hours (09:00-21:00 every day): Tue 21:30 in Europe/Paris"
    )
    assert check.evidence["local_time"] == "Tue 21:30 Europe/Paris (from the number)"


def test_a_tokyo_number_is_called_at_0930_tokyo_time_while_london_sleeps() -> None:
    now = utc("2026-12-08 00:30")  # Tue 09:30 in Tokyo, 00:30 in London
    assert zones_of(TOKYO) == (Zone("Asia/Tokyo", ZoneSource.NUMBER),)
    assert is_open(EVERY_DAY, zones_of(TOKYO), now)
    assert not is_open(EVERY_DAY, (Zone("Europe/London", ZoneSource.FALLBACK),), now)


def test_honolulu_keeps_no_summer_time_so_it_opens_five_hours_after_new_york_in_july() -> None:
    now = utc("2026-07-01 18:00")  # 14:00 in New York (EDT), 08:00 in Honolulu (HST)
    assert is_open(EVERY_DAY, zones_of(NEW_YORK), now)
    assert not is_open(EVERY_DAY, zones_of(HONOLULU), now)
    assert next_opening(EVERY_DAY, zones_of(HONOLULU), now) == utc("2026-07-01 19:00")
    assert next_opening(EVERY_DAY, zones_of(NEW_YORK), utc("2026-07-01 12:00")) == utc(
        "2026-07-01 13:00"
    )


def test_the_weekday_is_the_callees_a_tokyo_monday_is_a_utc_sunday() -> None:
    sunday_utc = utc("2026-12-06 23:30")  # Monday 08:30 in Tokyo
    assert next_opening(WORKING_DAYS, zones_of(TOKYO), sunday_utc) == utc("2026-12-07 00:00")
    # The same moment is Sunday in New York: its week opens on Monday 09:00 EST.
    assert next_opening(WORKING_DAYS, zones_of(NEW_YORK), sunday_utc) == utc("2026-12-07 14:00")


def test_the_servers_own_time_zone_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    now = utc("2026-12-08 20:30")
    before = (
        is_open(EVERY_DAY, zones_of(PARIS), now),
        next_opening(EVERY_DAY, zones_of(PARIS), now),
    )
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    clock.tzset()
    try:
        after = (
            is_open(EVERY_DAY, zones_of(PARIS), now),
            next_opening(EVERY_DAY, zones_of(PARIS), now),
        )
    finally:
        monkeypatch.undo()
        clock.tzset()
    assert before == after == (False, utc("2026-12-09 08:00"))


def test_a_number_without_a_zone_is_called_in_the_campaigns_fallback_zone() -> None:
    zones = zones_of(FICTIONAL, "America/Chicago")
    assert zones == (Zone("America/Chicago", ZoneSource.FALLBACK),)
    check = dial(number=FICTIONAL, zones=zones, now_utc=utc("2026-12-08 16:00"))
    assert check.allowed
    assert check.evidence["local_time"] == (
        "Tue 10:00 America/Chicago (campaign fallback: the number gives no zone)"
    )


def test_an_australian_mobile_is_called_only_when_every_zone_it_may_be_in_is_open() -> None:
    zones = zones_of(AUSTRALIAN_MOBILE, "Australia/Sydney")
    assert zones[0] == Zone("Australia/Sydney", ZoneSource.FALLBACK)
    assert {z.name for z in zones[1:]} >= {"Australia/Perth", "Indian/Cocos"}
    assert all(z.source is ZoneSource.CANDIDATE for z in zones[1:])
    tuesday_morning_in_sydney = utc("2026-12-07 22:30")  # 09:30 in Sydney, 06:30 in Perth
    assert is_open(EVERY_DAY, zones_of(SYDNEY_LANDLINE), tuesday_morning_in_sydney)
    check = dial(
        number=AUSTRALIAN_MOBILE, zones=zones, now_utc=tuesday_morning_in_sydney, predictive=False
    )
    assert not check.allowed
    assert check.refusal is not None and "one of the number's zones" in check.refusal
    assert "(the number may be in any of these)" in check.evidence["local_time"]
    # It opens when the westernmost, the Cocos Islands (UTC+6:30), reaches 09:00.
    opening = next_opening(EVERY_DAY, zones, tuesday_morning_in_sydney)
    assert opening == utc("2026-12-08 02:30")
    for zone in zones:
        local = opening.astimezone(ZoneInfo(zone.name)).time()
        assert time(9) <= local < time(21), zone


def test_a_number_whose_zones_are_further_apart_than_the_window_is_long_is_never_called() -> None:
    # A New York fallback for an Australian mobile: no hour is 09:00-21:00 in both.
    zones = zones_of(AUSTRALIAN_MOBILE, "America/New_York")
    for now in (utc("2026-01-08 00:00"), utc("2026-07-08 00:00")):
        assert next_opening(EVERY_DAY, zones, now) is None
        assert not dial(number=AUSTRALIAN_MOBILE, zones=zones, now_utc=now).allowed
    # A London fallback leaves the hour when London starts and Lord Howe has not yet ended.
    london = zones_of(AUSTRALIAN_MOBILE, "Europe/London")
    assert next_opening(EVERY_DAY, london, utc("2026-01-08 00:00")) == utc("2026-01-08 09:00")
    assert not is_open(EVERY_DAY, london, utc("2026-01-08 10:00"))


def test_hours_without_a_weekday_never_open() -> None:
    never = CallingHours(time(9), time(21), frozenset())
    assert next_opening(never, zones_of(PARIS), utc("2026-12-08 10:00")) is None
    assert not is_open(never, zones_of(PARIS), utc("2026-12-08 10:00"))


@pytest.mark.parametrize(
    ("start", "end", "weekdays"),
    [(time(21), time(9), range(7)), (time(9), time(9), range(7)), (time(9), time(21), [7])],
)
def test_calling_hours_refuse_overnight_empty_and_unknown_days(
    start: time, end: time, weekdays: range | list[int]
) -> None:
    with pytest.raises(ValueError):
        CallingHours(start, end, frozenset(weekdays))


def test_a_naive_datetime_is_refused_rather_than_read_in_the_servers_zone() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(EVERY_DAY, zones_of(PARIS), datetime(2026, 12, 8, 10, 0))


def test_weekdays_read_as_ranges() -> None:
    assert weekdays_text(frozenset(range(5))) == "Mon-Fri"
    assert weekdays_text(frozenset({0, 2, 4})) == "Mon, Wed, Fri"
    assert weekdays_text(frozenset({0, 1, 3, 4, 5})) == "Mon, Tue, Thu-Sat"


# --- daylight saving ---------------------------------------------------------------------------


def test_paris_opens_an_hour_earlier_in_utc_the_morning_clocks_go_forward() -> None:
    paris = zones_of(PARIS)
    assert not is_open(EVERY_DAY, paris, utc("2026-03-28 07:30"))  # Saturday 08:30 CET
    assert is_open(EVERY_DAY, paris, utc("2026-03-29 07:30"))  # Sunday 09:30 CEST
    assert next_opening(EVERY_DAY, paris, utc("2026-03-28 21:00")) == utc("2026-03-29 07:00")


def test_hours_starting_in_the_skipped_hour_open_when_the_clocks_jump() -> None:
    night = CallingHours(time(2, 30), time(4, 0))
    new_york = zones_of(NEW_YORK)
    # 8 March 2026: 02:00 EST becomes 03:00 EDT (07:00 UTC); 02:30 never happens.
    opening = next_opening(night, new_york, utc("2026-03-08 05:00"))
    assert opening == utc("2026-03-08 07:00")
    assert not is_open(night, new_york, opening - timedelta(microseconds=1))


def test_hours_in_the_repeated_hour_open_twice_when_the_clocks_go_back() -> None:
    late = CallingHours(time(0, 0), time(1, 30))
    new_york = zones_of(NEW_YORK)
    # 1 November 2026: 02:00 EDT becomes 01:00 EST (06:00 UTC); 01:00-02:00 happens twice.
    assert is_open(late, new_york, utc("2026-11-01 05:15"))  # 01:15 EDT
    assert not is_open(late, new_york, utc("2026-11-01 05:45"))  # 01:45 EDT
    assert next_opening(late, new_york, utc("2026-11-01 05:45")) == utc("2026-11-01 06:00")
    assert not is_open(late, new_york, utc("2026-11-01 06:30"))  # 01:30 EST
    within = CallingHours(time(1, 10), time(1, 40))  # wholly inside the repeated hour
    assert next_opening(within, new_york, utc("2026-11-01 05:45")) == utc("2026-11-01 06:10")


# Zones with daylight saving in both hemispheres, by an hour or by half an hour (Lord Howe), at
# odd local times (Chatham at 02:45, Santiago at midnight), with odd offsets or none.
ZONE_NAMES = (
    "Europe/Paris",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Pacific/Honolulu",
)
DAY_MINUTES = 24 * 60


def clock_changes(name: str) -> list[datetime]:
    """The instants in 2026 at which a zone's offset changes, found by scanning minutes (the
    tests' own way, independent of the module's)."""
    info = ZoneInfo(name)
    found: list[datetime] = []
    hour = utc("2026-01-01 00:00")
    while hour.year == 2026:
        later = hour + timedelta(hours=1)
        if hour.astimezone(info).utcoffset() != later.astimezone(info).utcoffset():
            minute = hour
            while minute.astimezone(info).utcoffset() == hour.astimezone(info).utcoffset():
                minute += timedelta(minutes=1)
            found.append(minute)
        hour = later
    return found


CHANGES = {name: changes for name in ZONE_NAMES if (changes := clock_changes(name))}


@st.composite
def anywhere(draw: st.DrawFn) -> tuple[CallingHours, tuple[Zone, ...], datetime]:
    start = draw(st.integers(0, DAY_MINUTES - 2))
    end = draw(st.integers(start + 1, DAY_MINUTES - 1))
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    names = draw(st.lists(st.sampled_from(ZONE_NAMES), min_size=1, max_size=2, unique=True))
    now = draw(st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)))
    hours = CallingHours(time(*divmod(start, 60)), time(*divmod(end, 60)), days)
    return hours, tuple(Zone(n, ZoneSource.CANDIDATE) for n in names), now


@st.composite
def around_a_change(draw: st.DrawFn) -> tuple[CallingHours, tuple[Zone, ...], datetime]:
    """Hours that start or end near the local time at which the clocks change, looked at from
    a day and a half before to two hours after: openings in a skipped hour, hours that recur
    in a repeated one."""
    name = draw(st.sampled_from(sorted(CHANGES)))
    change = draw(st.sampled_from(CHANGES[name]))
    local = change.astimezone(ZoneInfo(name))
    edge = local.hour * 60 + local.minute + draw(st.integers(-90, 90))
    edge = min(max(edge, 1), DAY_MINUTES - 2)
    if draw(st.booleans()):  # the change is near the start
        start, end = edge, draw(st.integers(edge + 1, min(edge + 180, DAY_MINUTES - 1)))
    else:  # near the end
        start, end = draw(st.integers(max(edge - 180, 0), edge - 1)), edge
    days = draw(st.frozensets(st.integers(0, 6), min_size=1) | st.just(frozenset(range(7))))
    before = draw(st.integers(-2 * 3600, 3 * 3600) | st.integers(0, 36 * 3600))
    now = change - timedelta(seconds=before)
    hours = CallingHours(time(*divmod(start, 60)), time(*divmod(end, 60)), days)
    return hours, (Zone(name, ZoneSource.CANDIDATE),), now


@settings(max_examples=100, deadline=None)
@given(case=st.one_of(anywhere(), around_a_change(), around_a_change()))
def test_next_opening_is_open_and_no_earlier_minute_is(
    case: tuple[CallingHours, tuple[Zone, ...], datetime],
) -> None:
    hours, zones, now = case
    opening = next_opening(hours, zones, now)
    horizon = now + timedelta(days=8)
    end = horizon if opening is None else min(opening, horizon)
    minute = now
    while minute < end:
        assert not is_open(hours, zones, minute), minute
        minute += timedelta(minutes=1)
    if opening is not None:
        assert opening >= now
        assert is_open(hours, zones, opening)
        if opening > now:
            assert not is_open(hours, zones, opening - timedelta(microseconds=1))


@given(number=st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True))
def test_every_number_has_a_zone_to_be_called_in(number: str) -> None:
    zones = callee_zones(number, "Europe/London")
    assert zones
    assert zones[0].source is ZoneSource.NUMBER or zones[0] == Zone(
        "Europe/London", ZoneSource.FALLBACK
    )
    assert len(zones) == 1 or all(z.source is ZoneSource.CANDIDATE for z in zones[1:])


# --- the checks before a dial ------------------------------------------------------------------


def test_a_dial_that_passes_records_every_check_with_its_value() -> None:
    check = dial()
    assert check == DialCheck(
        allowed=True,
        refusal=None,
        evidence={
            "checked_at": "2026-12-08T09:02:00Z",
            "number": PARIS,
            "dnc": "not listed",
            "local_time": "Tue 10:02 Europe/Paris (from the number)",
            "calling_hours": "09:00-21:00 every day",
            "attempt": "2 of 3",
            "abandon_rate": "24 h: 2.1% of 480 (cap 3.0%)",
            "pacing": "predictive: ahead of a free agent",
        },
    )


def test_a_number_on_the_do_not_call_list_is_refused() -> None:
    check = dial(on_dnc=True)
    assert not check.allowed
    assert check.refusal == "the number is on the do-not-call list"
    assert check.evidence["dnc"] == "listed"


def test_a_refused_dial_still_records_every_check() -> None:
    check = dial(on_dnc=True, now_utc=utc("2026-12-08 22:00"), attempts_made=3)
    assert check.refusal == "the number is on the do-not-call list"  # the first that failed
    assert check.failed == ("dnc", "local_time", "attempt")
    assert set(check.evidence) == set(dial().evidence)
    assert check.evidence["attempt"] == "4 of 3"


def test_no_dial_once_the_attempts_are_spent() -> None:
    check = dial(attempts_made=3, max_attempts=3)
    assert not check.allowed
    assert check.refusal == "all 3 attempts made"


def test_a_callback_the_customer_asked_for_is_dialled_beyond_the_attempts() -> None:
    check = dial(attempts_made=3, max_attempts=3, callback=True)
    assert check.allowed
    assert check.evidence["attempt"] == "4 of 3 (a callback the customer asked for)"


def test_a_callback_is_still_refused_outside_calling_hours() -> None:
    check = dial(attempts_made=3, callback=True, now_utc=utc("2026-12-08 21:00"))
    assert not check.allowed


def test_a_malformed_number_is_refused() -> None:
    assert dial(number="0142685300").refusal == "not an E.164 number"


def test_a_predictive_dial_is_refused_once_a_window_reaches_the_cap() -> None:
    windows = (
        AbandonWindow("24 h", answered=300, abandoned=9),  # exactly 3 %
        AbandonWindow("30 days", answered=9000, abandoned=150),
    )
    check = dial(abandon_rates=windows)
    assert not check.allowed
    assert check.refusal == "abandon rate at the cap: 3.0% over 24 h (cap 3.0%)"
    assert check.failed == ("abandon_rate",)
    assert check.evidence["abandon_rate"] == "24 h: 3.0% of 300; 30 days: 1.7% of 9000 (cap 3.0%)"


def test_a_dial_with_an_agent_waiting_is_not_blocked_by_the_cap_but_records_it() -> None:
    windows = (AbandonWindow("24 h", answered=300, abandoned=12),)
    check = dial(abandon_rates=windows, predictive=False)
    assert check.allowed
    assert check.evidence["abandon_rate"] == (
        "24 h: 4.0% of 300 (cap 3.0%); at the cap, but an agent is waiting for this dial"
    )
    assert check.evidence["pacing"] == "an agent waits"


def test_just_under_the_cap_a_predictive_dial_goes_ahead() -> None:
    assert dial(abandon_rates=(AbandonWindow("24 h", answered=301, abandoned=9),)).allowed


def test_a_cap_of_zero_blocks_predictive_only_after_an_abandon() -> None:
    fresh = (AbandonWindow("24 h", answered=0, abandoned=0),)
    assert dial(cap=0.0, abandon_rates=fresh).allowed
    one = (AbandonWindow("24 h", answered=40, abandoned=1),)
    assert not dial(cap=0.0, abandon_rates=one).allowed
    assert dial(cap=0.0, abandon_rates=one, predictive=False).allowed
    assert dial(cap=0.0, abandon_rates=fresh).evidence["abandon_rate"] == (
        "24 h: no live answer (cap 0.0%)"
    )


# --- retries -----------------------------------------------------------------------------------

NOW = utc("2026-12-08 10:00")


@pytest.mark.parametrize(
    ("outcome", "minutes"),
    [
        (DialOutcome.BUSY, 10),
        (DialOutcome.NO_ANSWER, 60),
        (DialOutcome.MACHINE, 120),
        (DialOutcome.ABANDONED, 30),
        (DialOutcome.CONGESTION, 5),
        (DialOutcome.FAILED, 30),
        (AgentResult.NO_CONTACT, 60),
    ],
)
def test_each_retried_outcome_waits_its_delay(outcome: DialOutcome, minutes: int) -> None:
    fate = after_dial(RetryRules(), outcome, attempts_made=1, now=NOW)
    assert fate.state is EntryState.PENDING
    assert fate.next_attempt_at == NOW + timedelta(minutes=minutes)


def test_a_campaign_sets_its_own_delays_and_keeps_the_defaults_for_the_rest() -> None:
    rules = RetryRules(max_attempts=5, minutes={"busy": 3})
    assert after_dial(rules, "busy", 1, NOW).next_attempt_at == NOW + timedelta(minutes=3)
    assert after_dial(rules, "no_answer", 1, NOW).next_attempt_at == NOW + timedelta(minutes=60)


def test_the_last_attempt_fails_the_entry() -> None:
    fate = after_dial(RetryRules(max_attempts=3), DialOutcome.NO_ANSWER, 3, NOW)
    assert fate.state is EntryState.FAILED
    assert fate.next_attempt_at is None
    assert fate.why == "no answer; 3 of 3 attempts made"


@settings(max_examples=50)
@given(
    max_attempts=st.integers(1, 8),
    outcomes=st.lists(st.sampled_from(RETRIED), min_size=1, max_size=12),
)
def test_retries_keep_their_delays_and_stop_at_the_maximum(
    max_attempts: int, outcomes: list[DialOutcome | AgentResult]
) -> None:
    rules = RetryRules(max_attempts=max_attempts)
    now, attempts = NOW, 0
    for outcome in outcomes:
        attempts += 1
        fate = after_dial(rules, outcome, attempts, now)
        if fate.state is EntryState.FAILED:
            break
        assert fate.next_attempt_at == now + rules.delay(outcome)
        now = fate.next_attempt_at
    assert attempts <= max_attempts
    assert (fate.state is EntryState.FAILED) == (attempts == max_attempts)


def test_a_callback_is_honoured_at_its_time_even_when_the_attempts_are_spent() -> None:
    asked = utc("2026-12-09 15:30")
    fate = after_dial(RetryRules(max_attempts=3), AgentResult.CALLBACK, 3, NOW, callback_at=asked)
    assert fate.state is EntryState.PENDING
    assert fate.next_attempt_at == asked


def test_a_callback_for_a_time_already_past_is_due_now() -> None:
    fate = after_dial(RetryRules(), "callback", 1, NOW, callback_at=NOW - timedelta(hours=1))
    assert fate.next_attempt_at == NOW


def test_a_callback_without_a_time_uses_the_campaigns_callback_delay() -> None:
    fate = after_dial(RetryRules(minutes={"callback": 240}), "callback", 1, NOW)
    assert fate.next_attempt_at == NOW + timedelta(hours=4)


def test_machines_are_retried_or_closed_by_the_campaigns_rule() -> None:
    retry = after_dial(RetryRules(machine_rule=MachineRule.RETRY), "machine", 1, NOW)
    hang_up = after_dial(RetryRules(machine_rule=MachineRule.HANG_UP), "machine", 1, NOW)
    assert retry.state is EntryState.PENDING
    assert hang_up.state is EntryState.DONE


@pytest.mark.parametrize(
    ("result", "state"),
    [
        (AgentResult.SALE, EntryState.DONE),
        (AgentResult.ORDER_CONFIRMED, EntryState.DONE),
        (AgentResult.INTERESTED, EntryState.DONE),
        (AgentResult.NOT_INTERESTED, EntryState.DONE),
        (AgentResult.COMPLAINT, EntryState.DONE),
        (AgentResult.WRONG_NUMBER, EntryState.FAILED),
        (AgentResult.DO_NOT_CALL, EntryState.DNC),
    ],
)
def test_an_agents_result_settles_the_entry(result: AgentResult, state: EntryState) -> None:
    fate = after_dial(RetryRules(), result, 1, NOW)
    assert fate.state is state
    assert fate.next_attempt_at is None


def test_an_answered_call_waits_for_the_agents_result() -> None:
    with pytest.raises(ValueError, match="agent's result"):
        after_dial(RetryRules(), DialOutcome.ANSWERED, 1, NOW)


@pytest.mark.parametrize(
    "rules",
    [
        {"max_attempts": 0},
        {"minutes": {"sale": 10}},
        {"minutes": {"busy": -1}},
    ],
)
def test_retry_rules_refuse_nonsense(rules: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryRules(**rules)  # type: ignore[arg-type]


# --- what outcomes and results mean ------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "action"),
    [
        (AgentResult.SALE, CrmAction.OPEN_ORDER_FORM),
        (AgentResult.ORDER_CONFIRMED, CrmAction.CONFIRM_ORDER),
        (AgentResult.COMPLAINT, CrmAction.OPEN_SERVICE_REQUEST),
        (AgentResult.INTERESTED, CrmAction.CREATE_OPPORTUNITY),
        (AgentResult.NOT_INTERESTED, CrmAction.NONE),
        (AgentResult.CALLBACK, CrmAction.NONE),
    ],
)
def test_results_that_mean_something_in_the_crm_say_what(
    result: AgentResult, action: CrmAction
) -> None:
    assert meaning(result).action is action


def test_live_answers_are_what_the_cap_counts() -> None:
    assert meaning(DialOutcome.ABANDONED).live
    assert meaning(DialOutcome.ANSWERED).live
    assert not meaning(DialOutcome.MACHINE).live
    assert not meaning(DialOutcome.BUSY).live
    assert all(meaning(r).live for r in AgentResult)


def test_every_retried_outcome_has_a_default_delay() -> None:
    assert all(meaning(o).effect is Effect.RETRY for o in RETRIED)
    assert all(str(o) in RetryRules().minutes for o in RETRIED)


def test_outcomes_read_back_from_their_words() -> None:
    assert parse_outcome("busy") is DialOutcome.BUSY
    assert parse_outcome("do_not_call") is AgentResult.DO_NOT_CALL
    with pytest.raises(ValueError):
        parse_outcome("maybe")
