"""A re-implementation of VICIdial's adaptive predictive method, the baseline to beat.

Read from VICIdial's own source (AGPLv2; only the method is reproduced here):
`bin/AST_VDadapt.pl` (subroutines `count_agents_lines`, `calculate_drops`,
`calculate_dial_level`) and `bin/AST_VDauto_dial.pl` (the line count), as in the public mirror
`ccabrerar/vicidial` (version 2.14). What it does, and what we kept:

- every second (its loop delay) it samples agents READY, calls LIVE (answered, waiting for an
  agent) and agents logged in; the last 15 samples are averaged;
- every 15 samples the dial level is corrected multiplicatively:
  level × (1 + (avg ready − avg waiting + dl_diff_target) / avg agents), with
  `adaptive_intensity` 0 and `dl_diff_target` 0 (the defaults), clamped to
  [1, adaptive_maximum_level] (default 3.0);
- drop-rate backstop, on drop statistics refreshed once a minute: more than 20 calls in the last
  minute with over 50 % of them dropped halves the level; more than 50 calls today with drops
  above `adaptive_dropped_percentage` of answers halves it (ADAPT_AVERAGE) or sets it to 1.0
  (ADAPT_HARD_LIMIT); never below 1.0;
- AST_VDauto_dial.pl then keeps round(level × (agents READY + INCALL)) calls in progress
  (ringing, waiting or connected), placing the difference each pass.

Assumptions where our model differs: "today" is the simulated run; agents in wrap-up count as
PAUSED (VICIdial's disposition screen), so they are logged in but not in the line count; a drop
is an answer not connected within 2 s.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum

from dialer.estimates import Outcome
from dialer.pacing import LiveState

SAMPLES = 15  # $stat_it: one-second samples averaged, and seconds between corrections
DROP_STATS_EVERY = 60.0  # calculate_drops runs about once a minute


class Backstop(StrEnum):
    AVERAGE = "ADAPT_AVERAGE"
    HARD_LIMIT = "ADAPT_HARD_LIMIT"
    NONE = "none"  # not a VICIdial method: the multiplicative correction alone, for comparison


class VicidialAdaptive:
    agents_dial = False

    def __init__(
        self,
        *,
        dropped_percentage: float = 3.0,
        maximum_level: float = 3.0,
        dl_diff_target: float = 0.0,
        backstop: Backstop = Backstop.AVERAGE,
    ) -> None:
        self.name = "vicidial_adapt" if backstop is not Backstop.NONE else "vicidial_no_backstop"
        self.level = 1.0  # auto_dial_level as a campaign starts
        self._dropped_percentage = dropped_percentage
        self._maximum = maximum_level
        self._diff_target = dl_diff_target
        self._backstop = backstop
        self._samples: deque[tuple[int, int, int]] = deque(maxlen=SAMPLES)
        self._since_correction = 0
        self._dials: deque[float] = deque()  # placement times, for the one-minute statistics
        self._drops: deque[float] = deque()
        self._calls_today = 0
        self._answers_today = 0
        self._drops_today = 0
        self._stats_at = -DROP_STATS_EVERY
        self._stats = (0, 0.0, 0, 0.0)  # calls last minute, drop % of them, calls today, drop %

    def decide(self, state: LiveState, now: float) -> int:
        agents = state.ready + len(state.talking) + len(state.wrapping)
        self._samples.append((state.ready, state.waiting, agents))
        self._since_correction += 1
        if now - self._stats_at >= DROP_STATS_EVERY:
            self._refresh_drop_stats(now)
        if self._since_correction >= SAMPLES:
            self._since_correction = 0
            self._correct()
        dials = lines_to_add(self.level, state)
        self._dials.extend([now] * dials)
        self._calls_today += dials
        return dials

    def _refresh_drop_stats(self, now: float) -> None:
        self._stats_at = now
        for times in (self._dials, self._drops):
            while times and times[0] <= now - 60.0:
                times.popleft()
        calls_one = len(self._dials)
        drops_one_pct = 100.0 * len(self._drops) / calls_one if calls_one else 0.0
        answers = max(self._answers_today, 1)
        drops_today_pct = 100.0 * self._drops_today / answers if self._drops_today else 0.0
        self._stats = (calls_one, drops_one_pct, self._calls_today, drops_today_pct)

    def _correct(self) -> None:
        n = len(self._samples)
        ready = sum(s[0] for s in self._samples) / n
        waiting = sum(s[1] for s in self._samples) / n
        agents = sum(s[2] for s in self._samples) / n
        differential = ready - waiting + self._diff_target
        multiplier = differential / agents if differential and agents else 0.0
        level = min(self.level * (1.0 + multiplier), self._maximum)
        level = max(level, 1.0)
        if self._backstop is not Backstop.NONE:
            level = self._backstop_level(level)
        self.level = max(level, 1.0)

    def _backstop_level(self, level: float) -> float:
        calls_one, drops_one_pct, calls_today, drops_today_pct = self._stats
        if calls_one > 20 and drops_one_pct > 50.0:
            level /= 2
        if calls_today > 50 and drops_today_pct > self._dropped_percentage:
            level = 1.0 if self._backstop is Backstop.HARD_LIMIT else level / 2
        return level

    def on_dial(self, outcome: Outcome, seconds: float, now: float) -> None:
        pass

    def on_talk(self, seconds: float, now: float) -> None:
        pass

    def on_wrap(self, seconds: float, *, back_ready: bool) -> None:
        pass

    def on_answer(self, *, abandoned: bool, now: float) -> None:
        self._answers_today += 1
        if abandoned:
            self._drops_today += 1
            self._drops.append(now)


def lines_to_add(level: float, state: LiveState) -> int:
    """AST_VDauto_dial.pl's count: goal = round(level × (ready + talking)) lines, less the calls
    already in progress (ringing, answered and waiting, connected)."""
    talking = len(state.talking)
    goal = round(level * (state.ready + talking))
    in_progress = len(state.ringing) + state.waiting + talking
    return max(0, goal - in_progress)
