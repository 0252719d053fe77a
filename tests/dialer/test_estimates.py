"""The online estimates a campaign learns from its own calls, and the curves the pacing reads."""

from __future__ import annotations

import random

import pytest

from dialer.estimates import HORIZON, Estimator, LogNormal, Outcome, bucket
from dialer.windows import AbandonWindow, RollingWindows


def feed_dials(estimator: Estimator, live: float, count: int, rng: random.Random) -> None:
    for _ in range(count):
        if rng.random() < live:
            estimator.record_dial(Outcome.LIVE, rng.lognormvariate(2.2, 0.5))
        else:
            estimator.record_dial(Outcome.NO_ANSWER, rng.uniform(15.0, 25.0))


def test_the_answer_rate_is_learned_and_followed_when_it_halves() -> None:
    rng = random.Random(4)
    estimator = Estimator(half_life=200)
    feed_dials(estimator, 0.25, 2000, rng)
    assert estimator.snapshot().live == pytest.approx(0.25, abs=0.05)
    feed_dials(estimator, 0.125, 1500, rng)
    assert estimator.snapshot().live == pytest.approx(0.125, abs=0.04)


def test_the_prior_is_cautious() -> None:
    prior = Estimator().snapshot()
    # Overestimating answers and underestimating free agents makes the pacing dial too little.
    assert prior.live >= 0.4
    assert prior.talk.mean > 150 and prior.wrap.mean > 20


def test_short_talks_seen_first_do_not_make_talks_look_short() -> None:
    # Connections spread over the first 5 minutes: by then only the talks that fitted have
    # ended, mostly short ones. Each is weighed by the inverse of its chance to be seen.
    rng = random.Random(7)
    talks = [(rng.uniform(0.0, 300.0), rng.lognormvariate(4.44, 0.83)) for _ in range(600)]
    seen = sorted((start + talk, talk) for start, talk in talks if start + talk <= 300.0)
    naive, weighed = Estimator(), Estimator()
    for ended, talk in seen:
        naive.record_talk(talk)
        weighed.record_talk(talk, watched=ended)
    assert naive.snapshot().talk.mean < 100
    assert weighed.snapshot().talk.mean > naive.snapshot().talk.mean + 15


def test_talk_and_wrap_up_times_are_learned() -> None:
    rng = random.Random(5)
    estimator = Estimator()
    for _ in range(3000):
        estimator.record_talk(rng.lognormvariate(4.44, 0.83))  # mean about 120 s
        estimator.record_wrap(15.0, back_ready=rng.random() < 0.9)
    snapshot = estimator.snapshot()
    assert snapshot.talk.mean == pytest.approx(120, rel=0.2)
    assert snapshot.wrap.mean == pytest.approx(15.0, rel=0.02)
    assert snapshot.back_ready == pytest.approx(0.9, abs=0.05)


def test_a_call_that_has_rung_long_is_less_likely_to_be_answered() -> None:
    rng = random.Random(6)
    estimator = Estimator()
    feed_dials(estimator, 0.25, 3000, rng)
    snapshot = estimator.snapshot()
    fresh, _ = snapshot.answer_curve(0.0)
    rung, _ = snapshot.answer_curve(14.0)
    assert list(fresh) == sorted(fresh)  # cumulative over the horizon
    assert fresh[-1] == pytest.approx(snapshot.live, abs=0.02)
    assert rung[-1] < fresh[-1] / 2
    assert snapshot.answer_curve(40.0)[0][-1] < 0.05  # beyond nearly every ring time


def test_an_agent_near_the_end_of_wrap_up_is_free_soon() -> None:
    estimator = Estimator()
    for _ in range(2000):
        estimator.record_wrap(15.0, back_ready=True)
        estimator.record_talk(120.0)
    snapshot = estimator.snapshot()
    ending, _ = snapshot.free_curve("wrap", 13.5, lead=2.0)
    starting, _ = snapshot.free_curve("wrap", 0.0, lead=2.0)
    assert ending[HORIZON.index(2.0)] > 0.9
    assert starting[HORIZON.index(10.0)] < 0.05 and starting[HORIZON.index(16.0)] > 0.9
    # A talking agent has a wrap-up ahead: not free for 13 s at least.
    talking, _ = snapshot.free_curve("talk", 119.0, lead=2.0)
    assert talking[HORIZON.index(12.0)] == 0.0 and talking[-1] > 0.9


def test_elapsed_times_share_curves_by_bucket() -> None:
    assert bucket(7.9) == 7
    assert bucket(64.0) == 60
    assert bucket(400.0) == 390


def test_lognormal_conditional_chance_of_ending() -> None:
    shape = LogNormal.from_median(100.0, 0.5)
    assert shape.cdf(100.0) == pytest.approx(0.5)
    within = shape.ended_by_each(100.0, [0.0, 50.0, 1e6])
    assert within[0] == 0.0 and 0 < within[1] < 1 and within[2] == pytest.approx(1.0)


def test_rolling_windows_forget_what_left_them() -> None:
    windows = RollingWindows({"1 h": 3600.0, "24 h": 86400.0})
    for t in range(100):
        windows.answered(float(t))
        if t == 50:
            windows.abandoned(t + 0.5)  # answered at 50, no agent by 50.5
    assert windows.counts(100.0) == (
        AbandonWindow("1 h", answered=100, abandoned=1),
        AbandonWindow("24 h", answered=100, abandoned=1),
    )
    later = windows.counts(3651.0)
    assert later[0] == AbandonWindow("1 h", answered=48, abandoned=0)
    assert later[1].answered == 100 and later[1].rate == pytest.approx(0.01)
