"""The pacing strategies the simulation compares, behind one small interface.

`Engine` is ours: an `Estimator` learning from the campaign's calls and the pure `pacing.decide`
(preview, progressive or predictive by its policy). `FixedRatio` is the classic power dialler:
a fixed number of calls per ready agent. The VICIdial adaptive method is in `dialer.vicidial`.
"""

from __future__ import annotations

import math
from typing import Protocol

from dialer.estimates import Estimates, Estimator, Outcome
from dialer.pacing import Decision, LiveState, Mode, Policy, decide


class Controller(Protocol):
    """Decides how many calls to place each tick; told what happened to calls and agents."""

    name: str
    agents_dial: bool  # preview: agents dial their own calls, the controller none

    def decide(self, state: LiveState, now: float) -> int: ...

    def on_dial(self, outcome: Outcome, seconds: float, now: float) -> None: ...

    def on_talk(self, seconds: float, now: float) -> None: ...

    def on_wrap(self, seconds: float, *, back_ready: bool) -> None: ...

    def on_answer(self, *, abandoned: bool, now: float) -> None: ...


class Engine:
    """Our pacing: learned estimates and the pure decision, one mode of the same engine."""

    def __init__(
        self,
        policy: Policy,
        *,
        name: str | None = None,
        refresh: float = 30.0,
        estimator: Estimator | None = None,
    ) -> None:
        self.name = name or f"ours_{policy.mode}"
        self.policy = policy
        self.agents_dial = policy.mode is Mode.PREVIEW
        self.estimator = estimator or Estimator()
        self.last: Decision | None = None
        # Estimates are re-read every `refresh` seconds, as a campaign driver would: their
        # memoised curves then serve the decisions in between.
        self._refresh = refresh
        self._snapshot: Estimates | None = None
        self._taken = -math.inf
        self._first_connection = math.inf

    def decide(self, state: LiveState, now: float) -> int:
        if self._snapshot is None or now - self._taken >= self._refresh:
            self._snapshot = self.estimator.snapshot()
            self._taken = now
        self.last = decide(state, self.policy, self._snapshot)
        return self.last.dials

    def on_dial(self, outcome: Outcome, seconds: float, now: float) -> None:
        self.estimator.record_dial(outcome, seconds)

    def on_talk(self, seconds: float, now: float) -> None:
        self.estimator.record_talk(seconds, watched=now - self._first_connection)

    def on_wrap(self, seconds: float, *, back_ready: bool) -> None:
        self.estimator.record_wrap(seconds, back_ready=back_ready)

    def on_answer(self, *, abandoned: bool, now: float) -> None:
        # The rolling windows in the state carry the abandons; the first connection starts
        # the time over which talks can have been seen to end.
        if not abandoned:
            self._first_connection = min(self._first_connection, now)


class FixedRatio:
    """The classic power dialler: `level` calls on their way for each ready agent, whatever
    the answer rate and whoever is about to finish (no forecast, no feedback)."""

    agents_dial = False

    def __init__(self, level: float = 3.0) -> None:
        self.name = f"fixed_ratio_{level:g}"
        self.level = level

    def decide(self, state: LiveState, now: float) -> int:
        return max(0, math.ceil(self.level * state.ready) - len(state.ringing) - state.waiting)

    def on_dial(self, outcome: Outcome, seconds: float, now: float) -> None:
        pass

    def on_talk(self, seconds: float, now: float) -> None:
        pass

    def on_wrap(self, seconds: float, *, back_ready: bool) -> None:
        pass

    def on_answer(self, *, abandoned: bool, now: float) -> None:
        pass
