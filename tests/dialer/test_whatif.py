"""The what-if on a campaign's history: its own figures when it has enough calls, the usual
ones (said to be assumed) otherwise; predictive expected ahead of progressive on the same
simulated calls."""

from __future__ import annotations

import pytest

from dialer.pacing import Mode, Policy
from dialer.whatif import MIN_DIALS, History, history_of, what_if


def test_a_campaign_with_few_calls_gets_the_usual_figures_marked_as_assumed() -> None:
    history = history_of(outcomes={"answered": 3, "busy": 2}, rings=[], talks=[], wraps=[])
    assert history == History.assumed(5)
    assert not history.own


def test_a_campaign_with_enough_calls_gets_its_own_answer_rate_and_talk_time() -> None:
    outcomes = {"answered": 30, "abandoned": 2, "machine": 8, "busy": 10, "no_answer": 50}
    history = history_of(
        outcomes=outcomes, rings=[6.0] * 30, talks=[60.0, 120.0] * 15, wraps=[20.0] * 30
    )
    assert history.own and history.dials == 100 >= MIN_DIALS
    assert history.live == pytest.approx(0.32)
    assert history.machine == pytest.approx(0.08) and history.busy == pytest.approx(0.10)
    assert history.ring_median == 6.0 and history.wrap == 20.0
    assert history.talk_mean == pytest.approx(90.0)


def test_predictive_is_expected_to_talk_more_than_progressive_within_the_cap() -> None:
    history = History.assumed(0)
    result = what_if(history, Policy(mode=Mode.PREDICTIVE), agents=20, minutes=20, seeds=1)
    ours, base = result["settings"], result["progressive"]
    assert ours["talk_minutes_per_agent_hour"] > base["talk_minutes_per_agent_hour"]
    assert ours["abandon_max"] <= 0.03
    assert result["bound"] == pytest.approx(53.3, abs=0.1)
    assert result["history"]["own"] is False


def test_no_agents_is_refused() -> None:
    with pytest.raises(ValueError):
        what_if(History.assumed(), Policy(), agents=0)
