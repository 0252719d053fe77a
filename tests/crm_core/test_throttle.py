"""The failed-login rule: a few failures are free, then each one doubles the wait before the
next attempt is checked, up to a cap; nothing is ever blocked for longer than the cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from crm_core.throttle import Recent, Rule, Throttled, check, wait

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ACCOUNT = Rule(free=5, first_delay=timedelta(seconds=1), max_delay=timedelta(seconds=30))
CLIENT = Rule(free=20, first_delay=timedelta(seconds=1), max_delay=timedelta(seconds=30))
NOTHING = Recent()


def seconds_ago(*seconds: float) -> list[datetime]:
    return sorted(NOW - timedelta(seconds=s) for s in seconds)


def decide(account: Recent = NOTHING, client: Recent = NOTHING) -> Throttled | None:
    return check(now=NOW, account=account, account_rule=ACCOUNT, client=client, client_rule=CLIENT)


def test_failures_within_the_free_allowance_cost_nothing():
    assert decide(Recent(failures=seconds_ago(0, 0, 0, 0))) is None


def test_the_first_failure_beyond_the_allowance_waits_the_first_delay():
    assert decide(Recent(failures=seconds_ago(0, 0, 0, 0, 0))) == Throttled(
        scope="account", retry_after=timedelta(seconds=1)
    )
    assert decide(Recent(failures=seconds_ago(9, 8, 7, 6, 1))) is None  # waited it out


def test_each_further_failure_doubles_the_wait_up_to_the_cap():
    waits = [ACCOUNT.delay(n) for n in range(4, 12)]
    assert waits == [None] + [timedelta(seconds=s) for s in (1, 2, 4, 8, 16, 30, 30)]
    assert ACCOUNT.delay(10_000) == timedelta(seconds=30)


def test_the_wait_counts_from_the_latest_failure():
    five = seconds_ago(600, 500, 400, 300, 0.25)
    assert wait(five, ACCOUNT, now=NOW) == timedelta(seconds=0.75)


def test_attempts_on_an_account_still_being_checked_count_as_failures():
    """A burst of concurrent guesses: the sixth waits although none has failed yet."""
    assert decide(Recent(checking=seconds_ago(0, 0, 0, 0))) is None
    assert decide(Recent(checking=seconds_ago(0, 0, 0, 0, 0))) is not None


def test_a_shift_signing_in_behind_one_address_is_not_held_up():
    """Fifty agents behind one NAT address at once: their attempts in progress are no
    failures of that address until it has spent its free failures."""
    assert decide(client=Recent(checking=seconds_ago(*[0] * 50))) is None


def test_an_address_being_slowed_down_gets_one_check_at_a_time():
    spent = seconds_ago(*[60] * 20)
    assert decide(client=Recent(failures=spent)) is None  # the first delay is over
    blocked = decide(client=Recent(failures=spent, checking=seconds_ago(0)))
    assert blocked is not None and blocked.scope == "client"


@given(
    st.lists(st.floats(min_value=0, max_value=15 * 60), max_size=200),
    st.lists(st.floats(min_value=0, max_value=15 * 60), max_size=200),
)
def test_nothing_is_ever_blocked_for_longer_than_the_cap(account_ages, client_ages):
    result = decide(
        Recent(failures=seconds_ago(*account_ages)), Recent(failures=seconds_ago(*client_ages))
    )
    if result is not None:
        assert timedelta(0) < result.retry_after <= timedelta(seconds=30)
