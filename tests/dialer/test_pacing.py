"""The pacing decisions, as pure functions of a campaign's live state."""

from __future__ import annotations

import math

import pytest

from dialer.estimates import Estimates, Estimator, Outcome
from dialer.pacing import Decision, LiveState, Mode, Policy, Reason, abandon_room, decide
from dialer.windows import AbandonWindow

PREDICTIVE = Policy()
PROGRESSIVE = Policy(mode=Mode.PROGRESSIVE)
# Windows with room for plenty of abandons (3,000 answers, 1 % abandoned).
ROOMY = (AbandonWindow("24 h", answered=3000, abandoned=30),)


def learned() -> Estimates:
    """A campaign that has learned its calls: a quarter answered live after about 9 s,
    talks of about two minutes, wrap-ups of 15 s."""
    estimator = Estimator()
    for i in range(2000):
        kind = i % 20
        if kind < 5:
            estimator.record_dial(Outcome.LIVE, 5.0 + kind * 2.0)  # 5-13 s
        elif kind < 8:
            estimator.record_dial(Outcome.MACHINE, 12.0)
        elif kind < 10:
            estimator.record_dial(Outcome.BUSY, 4.0)
        else:
            estimator.record_dial(Outcome.NO_ANSWER, 15.0 + kind)
    for i in range(400):
        estimator.record_talk(60.0 + (i % 5) * 30.0)
        estimator.record_wrap(15.0, back_ready=True)
    return estimator.snapshot()


ESTIMATES = learned()


def predict(state: LiveState, policy: Policy = PREDICTIVE) -> Decision:
    return decide(state, policy, ESTIMATES)


def test_preview_places_no_call_on_its_own() -> None:
    state = LiveState(ready=8, windows=ROOMY)
    decision = decide(state, Policy(mode=Mode.PREVIEW), ESTIMATES)
    assert decision.dials == 0
    assert decision.reason is Reason.PREVIEW
    assert "dials it" in decision.text


@pytest.mark.parametrize(
    ("ready", "ringing", "waiting", "dials"),
    [(5, 0, 0, 5), (5, 2, 0, 3), (5, 2, 1, 2), (2, 6, 0, 0), (0, 0, 0, 0)],
)
def test_progressive_places_one_call_per_ready_agent_with_none_on_its_way(
    ready: int, ringing: int, waiting: int, dials: int
) -> None:
    state = LiveState(ready=ready, talking=(30.0,) * 3, ringing=(4.0,) * ringing, waiting=waiting)
    assert decide(state, PROGRESSIVE, ESTIMATES).dials == dials


def test_progressive_ignores_agents_about_to_finish() -> None:
    state = LiveState(ready=0, wrapping=(14.0, 14.0), talking=(30.0,) * 5, windows=ROOMY)
    assert decide(state, PROGRESSIVE, ESTIMATES).dials == 0


def test_predictive_counts_agents_about_to_finish() -> None:
    busy = (40.0,) * 6
    nobody_soon = predict(LiveState(ready=0, talking=busy, windows=ROOMY))
    wrap_just_started = predict(
        LiveState(ready=0, wrapping=(0.5,) * 4, talking=busy, windows=ROOMY)
    )
    wrap_ending = predict(LiveState(ready=0, wrapping=(11.0,) * 4, talking=busy, windows=ROOMY))
    assert nobody_soon.dials == 0
    assert wrap_ending.dials > wrap_just_started.dials
    assert wrap_ending.dials > 0
    assert wrap_ending.agents_soon > 3.5


def test_predictive_counts_answers_expected_from_calls_ringing() -> None:
    idle = predict(LiveState(ready=6, talking=(40.0,) * 4, windows=ROOMY))
    covered = predict(LiveState(ready=6, talking=(40.0,) * 4, ringing=(3.0,) * 20, windows=ROOMY))
    # Calls that have rung 24 s without an answer will hardly be answered now.
    stale = predict(LiveState(ready=6, talking=(40.0,) * 4, ringing=(24.0,) * 20, windows=ROOMY))
    assert idle.dials > 6  # more than progressive: a quarter of the calls are answered
    assert covered.dials < idle.dials
    assert covered.answers_soon > 2
    assert stale.dials > covered.dials


@pytest.mark.parametrize(
    "state",
    [
        LiveState(ready=3, wrapping=(2.0, 9.0), talking=(10.0, 200.0), ringing=(1.0, 8.0)),
        LiveState(ready=7, ringing=(0.0,) * 3),
        LiveState(ready=1, waiting=1),
        LiveState(ready=4, talking=(50.0,) * 20, ringing=(5.0,) * 40),
    ],
)
def test_predictive_never_places_fewer_calls_than_progressive(state: LiveState) -> None:
    for windows in ((), ROOMY, (AbandonWindow("24 h", 10, 0),)):
        state_now = LiveState(**{**_fields(state), "windows": windows})
        assert predict(state_now).dials >= decide(state_now, PROGRESSIVE, ESTIMATES).dials


def test_no_call_beyond_the_lines_the_campaign_may_use() -> None:
    policy = Policy(max_lines=10)
    state = LiveState(ready=8, talking=(30.0,) * 6, ringing=(2.0,) * 3, windows=ROOMY)
    assert predict(state, policy).dials == 1
    full = LiveState(ready=8, talking=(30.0,) * 6, ringing=(2.0,) * 4, windows=ROOMY)
    decision = predict(full, policy)
    assert decision.dials == 0
    assert decision.reason is Reason.LIMIT
    assert "all 10 lines in use" in decision.text
    assert decide(full, Policy(mode=Mode.PROGRESSIVE, max_lines=10), ESTIMATES).dials == 0


def test_no_call_beyond_the_entries_left_in_the_list() -> None:
    state = LiveState(ready=8, windows=ROOMY, remaining=3)
    assert predict(state).dials == 3
    empty = predict(LiveState(ready=8, windows=ROOMY, remaining=0))
    assert empty.dials == 0 and empty.reason is Reason.LIST_EMPTY


def test_no_risk_beyond_progressive_until_the_windows_can_take_an_abandon() -> None:
    # 20 answers at a 3 % cap: not one abandon to spare yet.
    young = (AbandonWindow("24 h", answered=20, abandoned=0),)
    state = LiveState(ready=6, wrapping=(12.0,) * 3, talking=(40.0,) * 5, windows=young)
    decision = predict(state)
    assert decision.dials == 6  # one per ready agent: no risk
    assert decision.reason is Reason.ABANDON_CAP
    assert decision.abandon_room < 1


def test_no_risk_beyond_progressive_with_a_cap_of_zero() -> None:
    state = LiveState(ready=6, wrapping=(12.0,) * 3, windows=ROOMY)
    never = decide(state, Policy(abandon_cap=0.0), ESTIMATES)
    assert never.dials == decide(state, PROGRESSIVE, ESTIMATES).dials


def test_the_tightest_window_holds_back_the_dialling() -> None:
    state = LiveState(ready=6, wrapping=(12.0,) * 3, talking=(40.0,) * 5)
    roomy = predict(LiveState(**{**_fields(state), "windows": ROOMY}))
    day_at_cap = (ROOMY[0], AbandonWindow("30 days", answered=400, abandoned=12))
    tight = predict(LiveState(**{**_fields(state), "windows": day_at_cap}))
    assert tight.dials < roomy.dials
    assert tight.dials == 6
    assert "30 days" in tight.text and "12 abandoned of 400" in tight.text


def test_cap_held_under_a_sudden_drop_in_agents() -> None:
    # Twenty agents were ready and calls ringing for them; sixteen log off at once.
    before = LiveState(ready=20, talking=(60.0,) * 10, windows=ROOMY)
    placed = predict(before).dials
    assert placed >= 20
    after = LiveState(ready=4, talking=(61.0,) * 10, ringing=(1.0,) * placed, windows=ROOMY)
    decision = predict(after)
    assert decision.dials == 0
    assert decision.abandon_risk > 0.5  # the calls already out may cost abandons…
    assert "Not dialling" in decision.text  # …and nothing is added to them


def test_no_agents_no_calls() -> None:
    decision = predict(LiveState(ready=0, ringing=(3.0,), windows=ROOMY))
    assert decision.dials == 0 and decision.reason is Reason.NO_AGENTS


def test_every_decision_says_why_in_words() -> None:
    dialling = predict(LiveState(ready=3, wrapping=(10.0,), talking=(30.0,) * 4, windows=ROOMY))
    assert dialling.text.startswith(f"Placing {dialling.dials} call")
    assert "3 agents ready" in dialling.text and "Not more:" in dialling.text
    holding = predict(LiveState(ready=1, talking=(30.0,) * 4, ringing=(2.0,) * 12, windows=ROOMY))
    assert holding.dials == 0
    assert holding.text.startswith("Not dialling: the 12 calls ringing should bring about")


def test_abandon_room_counts_that_an_abandon_is_an_answer_too() -> None:
    window = AbandonWindow("24 h", answered=100, abandoned=2)
    room = abandon_room((window,), 0.03)
    assert room == pytest.approx(1 / 0.97)
    after = AbandonWindow("24 h", answered=100 + 1, abandoned=2 + 1)
    assert after.rate <= 0.03  # one more abandon fits…
    assert abandon_room((after,), 0.03) < 1  # …and then no other
    assert abandon_room((), 0.03) == math.inf
    assert abandon_room((window,), 1.0) == math.inf


def test_decisions_are_pure() -> None:
    state = LiveState(ready=3, wrapping=(10.0,), talking=(30.0,) * 4, ringing=(5.0,) * 3)
    first = predict(state)
    assert predict(state) == first


@pytest.mark.parametrize(
    "settings",
    [{"abandon_cap": 1.5}, {"abandon_cap": -0.1}, {"patience": -1.0}, {"max_lines": -1}],
)
def test_policy_refuses_settings_that_make_no_sense(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Policy(**settings)  # type: ignore[arg-type]


def _fields(state: LiveState) -> dict[str, object]:
    return {name: getattr(state, name) for name in LiveState.__slots__}
