"""A campaign's settings from raw form or API input: every bad field reported at once, what is
lawful but unwise as warnings, and the warnings of the start button."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core.errors import InvalidInput
from dialer.campaign_settings import CampaignSettings, parse_settings, start_warnings
from dialer.compliance import CallingHours, MachineRule
from dialer.pacing import Mode

# What the smallest sensible form sends.
FORM: dict[str, object] = {
    "name": "Orders awaiting confirmation",
    "mode": "predictive",
    "caller_id": "+33 1 42 68 53 00",
    "weekdays": ["0", "1", "2", "3", "4", "5"],
    "fallback_timezone": "Europe/Paris",
}


def parse(**changes: object) -> tuple[CampaignSettings, list[str]]:
    return parse_settings({**FORM, **changes})


def problems(**changes: object) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse(**changes)
    return caught.value.fields


def test_a_minimal_form_gets_the_defaults_and_no_warning() -> None:
    campaign, warnings = parse(csrf_token="ignored")
    assert warnings == []
    assert campaign.mode is Mode.PREDICTIVE
    assert campaign.queue == "outbound"
    assert campaign.caller_id == "+33142685300"
    assert campaign.trunk == ""
    assert campaign.max_lines is None
    assert campaign.abandon_cap == 0.03
    assert campaign.patience == 2.0
    assert campaign.calling_hours == CallingHours(time(9), time(21), frozenset(range(6)))
    assert campaign.max_attempts == 3
    assert campaign.machine_rule is MachineRule.RETRY
    assert campaign.retry_minutes["busy"] == 10
    assert campaign.retry_minutes["abandoned"] == 30


def test_the_api_may_send_numbers_and_lists_where_a_form_sends_text() -> None:
    campaign, _ = parse(
        weekdays=[0, 1, 2],
        max_lines=30,
        abandon_cap=2.5,
        patience=1.5,
        max_attempts=5,
        retry_minutes={"busy": 15, "machine": 240},
        trunk="PJSIP/trunk-main",
        queue="outbound_fr",
    )
    assert campaign.weekdays == frozenset({0, 1, 2})
    assert campaign.max_lines == 30
    assert campaign.abandon_cap == 0.025
    assert campaign.patience == 1.5
    assert campaign.retry_minutes["busy"] == 15
    assert campaign.retry_minutes["machine"] == 240
    assert campaign.retry_minutes["no_answer"] == 60
    assert campaign.trunk == "PJSIP/trunk-main"


def test_a_form_sends_retry_minutes_as_flat_fields() -> None:
    campaign, _ = parse(retry_busy="20", retry_no_answer="90")
    assert (campaign.retry_minutes["busy"], campaign.retry_minutes["no_answer"]) == (20, 90)


def test_the_cap_is_written_in_percent_and_kept_as_a_share() -> None:
    assert parse(abandon_cap="3")[0].abandon_cap == 0.03
    assert parse(abandon_cap="1.5 %")[0].abandon_cap == 0.015
    assert parse(abandon_cap="")[0].abandon_cap == 0.03


def test_a_caller_id_written_nationally_needs_the_campaigns_region() -> None:
    assert parse(caller_id="01 42 68 53 00", region="fr")[0].caller_id == "+33142685300"
    assert parse(caller_id="01 42 68 53 00", region="fr")[0].region == "FR"
    assert "caller_id" in problems(caller_id="01 42 68 53 00")


def test_a_campaign_must_present_a_number() -> None:
    assert problems(caller_id="anonymous") == {
        "caller_id": "a campaign must present a number the callee can call back"
    }
    assert problems(caller_id="") == {"caller_id": "required"}


def test_a_caller_id_nobody_assigns_is_allowed_with_a_warning() -> None:
    _, warnings = parse(caller_id="+1 555 555 0100")
    assert any("not a number any operator assigns" in w for w in warnings)


def test_every_bad_field_is_reported_at_once() -> None:
    bad = {
        "name": " ",
        "mode": "turbo",
        "queue": "out bound",
        "caller_id": "12",
        "trunk": "trunk-main",
        "max_lines": "-1",
        "abandon_cap": "100",
        "patience": "0.5",
        "hours_start": "25:00",
        "hours_end": "9h",
        "weekdays": ["7"],
        "fallback_timezone": "Mars/Olympus_Mons",
        "region": "XX",
        "max_attempts": "21",
        "retry_busy": "0",
        "retry_minutes": {"sale": 10},
        "machine_rule": "leave_message",
        "script": "x" * 10_001,
    }
    with pytest.raises(InvalidInput) as caught:
        parse_settings(bad)
    assert set(caught.value.fields) == {
        "name",
        "mode",
        "queue",
        "caller_id",
        "trunk",
        "max_lines",
        "abandon_cap",
        "patience",
        "hours_start",
        "hours_end",
        "weekdays",
        "fallback_timezone",
        "region",
        "max_attempts",
        "retry_busy",
        "retry_minutes.sale",
        "machine_rule",
        "script",
    }
    assert "mode: 'turbo' is not one of preview, progressive, predictive" in caught.value.message


# --- the bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(("start", "end"), [("21:00", "09:00"), ("09:00", "09:00")])
def test_calling_hours_that_never_open_are_refused(start: str, end: str) -> None:
    assert problems(hours_start=start, hours_end=end)["hours_end"].startswith(
        "the calling hours never open"
    )


def test_an_overnight_window_is_refused_and_says_so() -> None:
    assert (
        "over midnight is not supported"
        in problems(hours_start="22:00", hours_end="06:00")["hours_end"]
    )


@pytest.mark.parametrize("weekdays", [[], "", None])
def test_calling_hours_without_a_weekday_are_refused(weekdays: object) -> None:
    assert problems(weekdays=weekdays) == {
        "weekdays": "no weekday chosen: the calling hours would never open"
    }


def test_an_unticked_set_of_weekday_boxes_is_no_weekday_not_every_day() -> None:
    form = {k: v for k, v in FORM.items() if k != "weekdays"}
    with pytest.raises(InvalidInput) as caught:
        parse_settings(form)
    assert "weekdays" in caught.value.fields


def test_a_cap_of_zero_is_allowed_with_a_warning() -> None:
    campaign, warnings = parse(abandon_cap="0")
    assert campaign.abandon_cap == 0.0
    assert warnings == [
        "a cap of 0%: predictive will dial like progressive: no call may ever be abandoned"
    ]


@pytest.mark.parametrize("cap", ["100", "3.01", "50%"])
def test_a_cap_beyond_the_legal_limit_is_refused(cap: str) -> None:
    assert problems(abandon_cap=cap) == {
        "abandon_cap": "at most 3%: above it is beyond the legal limit in the UK (Ofcom, over"
        " 24 hours) and the US (FTC, over 30 days)"
    }


def test_a_cap_of_exactly_three_percent_is_allowed() -> None:
    assert parse(abandon_cap="3.0")[0].abandon_cap == 0.03


@pytest.mark.parametrize("cap", ["-1", "nan", "inf", "three", True, [3]])
def test_a_cap_that_is_not_a_percentage_is_refused(cap: object) -> None:
    assert "abandon_cap" in problems(abandon_cap=cap)


def test_a_predictive_campaign_with_no_line_is_refused() -> None:
    assert problems(max_lines="0") == {
        "max_lines": "at least 1: a predictive campaign with no line can place no call"
    }


def test_no_line_is_refused_in_every_mode() -> None:
    assert "max_lines" in problems(mode="preview", max_lines=0)


# --- other fields ------------------------------------------------------------------------------


def test_the_name_is_one_line_of_at_most_100_characters() -> None:
    assert parse(name="x" * 100)[0].name == "x" * 100
    assert problems(name="x" * 101) == {"name": "at most 100 characters (101 given)"}
    assert "control characters" in problems(name="Spring\nsale")["name"]


def test_the_script_holds_up_to_10000_characters_and_its_line_breaks() -> None:
    assert parse(script="Hello {first_name},\n" + "x" * 9_980)[0].script.startswith("Hello")
    assert "script" in problems(script="x" * 10_001)


@pytest.mark.parametrize("patience", ["0.5", "11", "soon"])
def test_patience_is_one_to_ten_seconds(patience: str) -> None:
    assert "patience" in problems(patience=patience)


def test_a_patience_beyond_two_seconds_warns_that_the_regulator_counts_differently() -> None:
    campaign, warnings = parse(patience="5")
    assert campaign.patience == 5.0
    assert len(warnings) == 1 and "UK and US rules" in warnings[0]


def test_calling_before_eight_or_after_nine_in_the_evening_warns() -> None:
    _, warnings = parse(hours_start="07:30", hours_end="21:00")
    assert warnings == [
        "calling hours 07:30-21:00: telemarketing outside 08:00-21:00 in the callee's local"
        " time is unlawful in the US and against UK guidance"
    ]


def test_midnight_is_written_0000_and_the_day_ends_at_2359() -> None:
    assert problems(hours_end="24:00") == {"hours_end": "23:59 at the latest"}
    campaign, _ = parse(hours_start="0:00", hours_end="23:59")
    assert (campaign.hours_start, campaign.hours_end) == (time(0), time(23, 59))


@pytest.mark.parametrize("attempts", ["0", "21", "2.5", True])
def test_attempts_are_a_whole_number_from_1_to_20(attempts: object) -> None:
    assert "max_attempts" in problems(max_attempts=attempts)


def test_weekdays_may_come_as_the_databases_digits_or_a_comma_list() -> None:
    assert parse(weekdays="01234")[0].weekdays == frozenset(range(5))
    assert parse(weekdays="5, 6")[0].weekdays == frozenset({5, 6})
    assert parse(weekdays=" 0, 1, ")[0].weekdays == frozenset({0, 1})


def test_settings_round_trip_through_their_form_values() -> None:
    campaign, _ = parse(abandon_cap="2.5", max_lines="40", retry_busy="7", trunk="PJSIP/eu")
    assert parse_settings(campaign.form_values())[0] == campaign
    zero, _ = parse(abandon_cap="0")
    assert parse_settings(zero.form_values())[0].abandon_cap == 0.0


def test_settings_give_the_database_row_and_the_rules_the_engine_reads() -> None:
    campaign, _ = parse(max_lines="40", retry_busy="7")
    row = campaign.columns()
    assert row["weekdays"] == "012345"
    assert (row["hours_start"], row["hours_end"]) == ("09:00", "21:00")
    assert row["abandon_cap"] == 0.03
    assert '"busy": 7' in str(row["retry_minutes"])
    assert campaign.policy.max_lines == 40
    assert campaign.retry_rules.minutes["busy"] == 7


# Every field name, and values of every shape raw input brings.
NAMES = frozenset(
    {
        "name",
        "mode",
        "queue",
        "caller_id",
        "trunk",
        "max_lines",
        "abandon_cap",
        "patience",
        "hours_start",
        "hours_end",
        "weekdays",
        "fallback_timezone",
        "region",
        "max_attempts",
        "retry_minutes",
        "retry_busy",
        "machine_rule",
        "script",
    }
)
FIELDS = st.sampled_from(sorted(NAMES))
RAW = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(changes=st.dictionaries(FIELDS, RAW, max_size=6))
def test_any_input_gives_settings_or_invalid_input_never_a_crash(
    changes: dict[str, object],
) -> None:
    try:
        campaign, warnings = parse(**changes)
    except InvalidInput as error:
        assert error.fields
        assert all(name in NAMES or name.startswith("retry_minutes.") for name in error.fields)
    else:
        assert isinstance(campaign, CampaignSettings)
        assert all(isinstance(w, str) for w in warnings)


# --- the start button --------------------------------------------------------------------------


def test_starting_with_no_agent_warns_that_nothing_will_be_dialled() -> None:
    campaign, _ = parse()
    assert start_warnings(campaign, agents_logged_in=0, entries_due=120, open_now=True) == [
        "no agent is logged in to queue outbound: the campaign will dial nothing until one is ready"
    ]


def test_starting_with_no_entry_due_warns() -> None:
    campaign, _ = parse()
    assert start_warnings(campaign, agents_logged_in=4, entries_due=0, open_now=False) == [
        "no entry is due: the campaign will wait for retries, callbacks and new entries"
    ]


def test_starting_while_calling_hours_are_closed_says_when_they_open() -> None:
    campaign, _ = parse()
    warnings = start_warnings(
        campaign,
        agents_logged_in=4,
        entries_due=120,
        open_now=False,
        first_opening=datetime(2026, 12, 8, 8, 0, tzinfo=UTC),
    )
    assert warnings == [
        "calling hours are closed now for every entry due: the first opens at Tue 08 Dec 09:00"
        " Europe/Paris"
    ]


def test_a_ready_campaign_starts_without_a_warning() -> None:
    campaign, _ = parse()
    assert start_warnings(campaign, agents_logged_in=4, entries_due=120, open_now=True) == []


def test_the_agents_chosen_come_as_a_list_as_a_forms_values_or_as_stored_text() -> None:
    assert parse()[0].agents == ()  # none chosen: anyone in the queue
    assert parse(agents=[7, 3, 7])[0].agents == (3, 7)
    assert parse(agents=["3", "7"])[0].agents == (3, 7)  # a multiple select
    assert parse(agents="[3, 7]")[0].agents == (3, 7)  # the column, as settings_input gives it
    assert parse(agents="")[0].agents == ()
    assert parse(agents=[7, 3])[0].columns()["agents"] == "[3, 7]"
    for bad in (["ann"], [0], [1.5], "not json", {"id": 3}, [True]):
        assert "agents" in problems(agents=bad), bad


def test_the_message_for_an_abandoned_call_is_a_sound_name_the_pbx_can_play() -> None:
    assert parse()[0].abandon_message == ""  # the dialplan's own
    assert parse(abandon_message="custom/sorry-acme")[0].abandon_message == "custom/sorry-acme"
    for bad in ("../../etc/passwd", "/abs", "sorry acme", "a,b", "x)", "msg.wav", "x" * 65):
        assert "abandon_message" in problems(abandon_message=bad), bad
