"""Live answers and abandons counted over rolling windows, the way the abandonment cap is measured.

The regulatory measure is abandoned ÷ live-answered per campaign over a rolling 24 hours and a
rolling 30 days; an abandoned call is a live answer too (it was answered, then not connected to
an agent within 2 s). The campaign driver keeps these counts in memory, seeded from the call
records when it takes over a campaign; the simulation uses the same class.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

DAY = 86_400.0
REGULATORY: Mapping[str, float] = {"24 h": DAY, "30 days": 30 * DAY}


@dataclass(frozen=True, slots=True)
class AbandonWindow:
    """One rolling window's counts as of now."""

    name: str
    answered: int  # live answers, abandoned ones included
    abandoned: int

    @property
    def rate(self) -> float:
        return self.abandoned / self.answered if self.answered else 0.0


class _Window:
    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self.seconds = seconds
        self.events: deque[tuple[float, bool]] = deque()  # (when, abandoned?)
        self.answered = 0
        self.abandoned = 0

    def add(self, at: float, abandoned: bool) -> None:
        self.events.append((at, abandoned))
        if abandoned:
            self.abandoned += 1
        else:
            self.answered += 1

    def evict(self, now: float) -> None:
        events = self.events
        while events and events[0][0] <= now - self.seconds:
            _, abandoned = events.popleft()
            if abandoned:
                self.abandoned -= 1
            else:
                self.answered -= 1


class RollingWindows:
    """Counts of live answers and abandons over named rolling windows (name → seconds)."""

    def __init__(self, windows: Mapping[str, float] = REGULATORY) -> None:
        if not windows:
            raise ValueError("at least one window is needed")
        self._windows = [_Window(name, seconds) for name, seconds in windows.items()]

    def answered(self, at: float) -> None:
        """A call was answered by a person (whether or not it then reaches an agent)."""
        for window in self._windows:
            window.add(at, False)

    def abandoned(self, at: float) -> None:
        """An answered call found no agent in time (its answer was recorded already)."""
        for window in self._windows:
            window.add(at, True)

    def counts(self, now: float) -> tuple[AbandonWindow, ...]:
        for window in self._windows:
            window.evict(now)
        return tuple(AbandonWindow(w.name, w.answered, w.abandoned) for w in self._windows)
