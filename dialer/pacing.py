"""How many calls to place now: the pure pacing of preview, progressive and predictive campaigns.

`decide(state, policy, estimates)` reads the live state of a campaign (agents ready, in
wrap-up and talking with their elapsed times; calls ringing with theirs; answered calls
waiting; abandons and live answers in the rolling windows) and the campaign's learned
`Estimates`, and returns a `Decision`: a number of calls and, in words a team lead understands,
why. No I/O, no clock, no randomness: the caller measures elapsed times.

The three modes are one engine:

- preview: the engine places nothing; each agent sees the next record and dials it.
- progressive: one call per ready agent who has no call on its way (ready − waiting − ringing).
  Every answer then has an agent, so nothing is abandoned unless agents leave.
- predictive: at least the progressive count (so it is never slower than progressive), then one
  more call at a time while both hold:
  1. the extra call, if answered, would find no agent with a chance of at most the risk
     accepted now. That chance comes from `dialer.forecast`: agents free within the next
     seconds (from their elapsed wrap-up and talk times) against answers expected from the
     calls ringing (given how long they have rung), over the times the new call may be
     answered. The risk accepted rises with the room left in the tightest rolling window
     (`accepted_call_risk`), from none up to `call_risk`: an integral controller that lets the
     abandon rate settle near the cap without crossing it;
  2. the calls in flight would cost more abandons than the tightest rolling window has room
     for (how many it can take before its rate passes the cap) with a chance of at most
     `guard_risk` (bursts of answers included: `Forecast.overrun_chance`). With no room, any
     risk is refused: a campaign that has not yet earned the right to an abandon is
     progressive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from dialer.estimates import HORIZON, Estimates
from dialer.forecast import Forecast, forecast
from dialer.windows import AbandonWindow

# The room settings of `Policy` are for campaigns of up to this many agents; larger ones scale
# them by √(agents ÷ this) (see `accepted_call_risk`).
REFERENCE_AGENTS = 20


class Mode(StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


class Reason(StrEnum):
    """What settled the number of calls (the live page shows the text; reports group by this)."""

    PREVIEW = "preview"
    NO_AGENTS = "no_agents"
    LIST_EMPTY = "list_empty"
    LIMIT = "limit"  # lines, list entries or calls per agent
    PROGRESSIVE = "progressive"
    FORECAST = "forecast"  # one more call would be too likely to find no agent
    ABANDON_CAP = "abandon_cap"  # the rolling windows have no room for the risk


@dataclass(frozen=True, slots=True)
class LiveState:
    """A campaign as it is now. Elapsed times in seconds, one per agent or call."""

    ready: int  # agents ready with no call
    wrapping: tuple[float, ...] = ()  # agents in wrap-up: seconds since their call ended
    talking: tuple[float, ...] = ()  # agents on a call: seconds since it was connected
    ringing: tuple[float, ...] = ()  # calls placed, outcome not known yet: seconds since dialled
    waiting: int = 0  # calls answered by a person, not yet connected to an agent
    windows: tuple[AbandonWindow, ...] = ()  # the abandonment cap's rolling windows
    remaining: int | None = None  # entries left to dial (None: more than enough)


@dataclass(frozen=True, slots=True)
class Policy:
    """A campaign's pacing settings."""

    mode: Mode = Mode.PREDICTIVE
    abandon_cap: float = 0.03  # abandoned ÷ live-answered, in every rolling window
    patience: float = 2.0  # an answer not connected to an agent within this is abandoned
    max_lines: int | None = None  # the trunk's channel limit for this campaign
    max_ringing_per_agent: float = 4.0  # a bound on dialling, whatever the estimates say
    guard_risk: float = 0.0001  # accepted chance that calls in flight overrun the window room
    target_margin: float = 0.002  # the abandon rate aimed at is the cap less this
    # The risk of finding no agent accepted for one more call: none until the windows could
    # take `risk_from` abandons at the target rate, then `call_risk` more per `risk_ramp`
    # abandons of room, up to `max_call_risk`.
    risk_from: float = 1.0
    call_risk: float = 0.05
    risk_ramp: float = 6.0
    max_call_risk: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.abandon_cap <= 1.0:
            raise ValueError("the abandon cap is a share between 0 and 1")
        if self.patience < 0 or self.max_ringing_per_agent <= 0 or self.risk_ramp <= 0:
            raise ValueError("patience, ringing per agent and risk ramp must be positive")
        if not 0 < self.guard_risk < 1 or not 0 <= self.call_risk <= self.max_call_risk <= 1:
            raise ValueError("guard risk and call risks are chances between 0 and 1")
        if self.target_margin < 0:
            raise ValueError("the target margin cannot be negative")
        if self.max_lines is not None and self.max_lines < 0:
            raise ValueError("max_lines cannot be negative")


@dataclass(frozen=True, slots=True)
class Decision:
    dials: int
    reason: Reason
    text: str  # for the team lead
    ready: int = 0
    agents_soon: float = 0.0  # agents expected free (beyond those ready) by a typical answer
    answers_soon: float = 0.0  # live answers expected from the calls ringing by then
    abandon_risk: float = 0.0  # abandons expected from the calls in flight after this decision
    abandon_room: float = math.inf  # abandons the tightest window can still take


def decide(state: LiveState, policy: Policy, estimates: Estimates) -> Decision:
    if policy.mode is Mode.PREVIEW:
        return Decision(0, Reason.PREVIEW, "Preview: each agent sees the next record and dials it.")
    agents = state.ready + len(state.wrapping) + len(state.talking)
    if agents == 0:
        return Decision(0, Reason.NO_AGENTS, "No agent is logged in: nothing is dialled.")
    if state.remaining is not None and state.remaining <= 0:
        return Decision(0, Reason.LIST_EMPTY, "The list has no entry left to dial.")
    headroom, limit = _headroom(state, policy, agents)
    if headroom <= 0 and policy.max_lines is not None:
        return Decision(0, Reason.LIMIT, f"Not dialling: {limit}.")
    ringing = len(state.ringing)
    uncovered = state.ready - state.waiting - ringing  # ready agents with no call on its way
    floor = max(0, min(uncovered, headroom))
    if policy.mode is Mode.PROGRESSIVE:
        return Decision(
            floor,
            Reason.PROGRESSIVE,
            f"Progressive: {_n(state.ready, 'agent')} ready, {_n(ringing, 'call')} ringing"
            f" and {state.waiting} waiting for them: placing {floor}.",
            ready=state.ready,
        )
    return _predict(state, policy, estimates, floor, (headroom, limit))


def abandon_room(windows: tuple[AbandonWindow, ...], cap: float) -> float:
    """How many more abandons the tightest window can take before its rate passes the cap.

    An abandon is also a live answer: after k more, the rate is (a + k) / (n + k), at most the
    cap while k ≤ (cap·n − a) / (1 − cap)."""
    if cap >= 1.0 or not windows:
        return math.inf
    return min((cap * w.answered - w.abandoned) / (1.0 - cap) for w in windows)


def _predict(
    state: LiveState, policy: Policy, estimates: Estimates, floor: int, limit: tuple[int, str]
) -> Decision:
    f = forecast(
        ready=state.ready,
        wrapping=state.wrapping,
        talking=state.talking,
        ringing=state.ringing,
        waiting=state.waiting,
        estimates=estimates,
        patience=policy.patience,
    )
    room = abandon_room(state.windows, policy.abandon_cap)
    spare = math.floor(room) if room != math.inf else 0  # whole abandons the windows can take
    agents = state.ready + len(state.wrapping) + len(state.talking)
    accepted = accepted_call_risk(state.windows, policy, agents)
    dials = floor
    headroom, cause = limit
    reason = Reason.LIMIT
    while dials < headroom:
        call_risk = f.call_risk(dials)
        if call_risk > accepted:
            windows = _window_text(state.windows, policy)
            if accepted == 0:
                reason, cause = Reason.ABANDON_CAP, f"no room for any risk yet: {windows}"
            else:
                reason = Reason.FORECAST
                cause = (
                    f"one more call would find no agent {call_risk:.1%} of the time; with"
                    f" {windows} the pacing accepts {accepted:.1%}"
                )
            break
        if room != math.inf and f.overrun_chance(dials + 1, spare) > policy.guard_risk:
            reason = Reason.ABANDON_CAP
            cause = f"a burst of answers could break the cap: {_window_text(state.windows, policy)}"
            break
        dials += 1
    return Decision(
        dials,
        reason,
        _explain(state, policy, f, dials, cause),
        ready=state.ready,
        agents_soon=_soon(f, f.supply) - state.ready,
        answers_soon=_soon(f, f.demand),
        abandon_risk=f.expected_abandons(dials),
        abandon_room=room,
    )


def accepted_call_risk(windows: tuple[AbandonWindow, ...], policy: Policy, agents: int) -> float:
    """The risk accepted for one more call: none until the windows could take `risk_from`
    abandons at the target rate (the cap less `target_margin`), then `call_risk` more for
    each `risk_ramp` abandons of room, up to `max_call_risk`.

    The room is the running integral of (target − abandon) over live answers, so tying the
    risk to it is an integral controller on the abandon rate: abandons above the target
    shrink the room and the pacing calms down; a rate below it builds room and the pacing
    dares more. The rate settles near the target; the margin to the cap grows with the
    answers in the window. Bursts of answers grow like the square root of the campaign's
    size, and so, beyond `REFERENCE_AGENTS`, do `risk_from` and `risk_ramp`: a larger
    campaign keeps more room in hand rather than calm down for long after each burst."""
    target = max(policy.abandon_cap - policy.target_margin, 0.0)
    room = abandon_room(windows, target)
    if room == math.inf:
        return policy.call_risk
    scale = math.sqrt(max(agents / REFERENCE_AGENTS, 1.0))
    share = max(room - policy.risk_from * scale, 0.0) / (policy.risk_ramp * scale)
    return min(policy.call_risk * share, policy.max_call_risk)


def _headroom(state: LiveState, policy: Policy, agents: int) -> tuple[int, str]:
    """The most calls that may be placed now, whatever the forecast says, and what limits it."""
    ringing = len(state.ringing)
    limits = [
        (
            math.floor(policy.max_ringing_per_agent * agents) - ringing,
            f"at most {policy.max_ringing_per_agent:g} calls ringing per agent",
        )
    ]
    if policy.max_lines is not None:
        in_use = ringing + state.waiting + len(state.talking)
        limits.append((policy.max_lines - in_use, f"all {policy.max_lines} lines in use"))
    if state.remaining is not None:
        limits.append((state.remaining, f"only {state.remaining} list entries left"))
    most, cause = min(limits)
    return max(0, most), cause


def _typical_answer(f: Forecast) -> int:
    """Horizon index by which half of a new call's live answers have come."""
    chances = f.new_call[0]
    final = chances[-1]
    for i, c in enumerate(chances):
        if c >= final / 2:
            return i
    return len(HORIZON) - 1


def _soon(f: Forecast, curve: tuple[float, ...]) -> float:
    return curve[_typical_answer(f)]


def _explain(state: LiveState, policy: Policy, f: Forecast, dials: int, cause: str) -> str:
    within = int(HORIZON[_typical_answer(f)] + policy.patience)
    soon = _soon(f, f.supply) - state.ready
    answers = _soon(f, f.demand)
    agents = f"{_n(state.ready, 'agent')} ready and about {soon:.0f} more free within {within} s"
    calls = f"the {_n(len(state.ringing), 'call')} ringing should bring about {answers:.1f} answers"
    if dials:
        return f"Placing {_n(dials, 'call')}: {agents}; {calls}. Not more: {cause}."
    return f"Not dialling: {calls}, enough for {agents}. Not more: {cause}."


def _window_text(windows: tuple[AbandonWindow, ...], policy: Policy) -> str:
    cap = policy.abandon_cap
    if not windows:
        return f"cap {cap:.1%}"
    tightest = min(windows, key=lambda w: cap * w.answered - w.abandoned)
    return (
        f"{tightest.abandoned} abandoned of {tightest.answered} answered over {tightest.name}"
        f" ({tightest.rate:.1%}; aiming at {cap - policy.target_margin:.1%}, cap {cap:.1%})"
    )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
