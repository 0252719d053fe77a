"""A campaign's settings as the dialer uses them, and the checks made immediately before each
dial of one of its entries (shared by the driver's dials and the agents' preview dials)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import dialling
from crm_core.call_lists import DNC, DONE, FAILED, PENDING
from crm_core.do_not_call import is_listed
from crm_core.models import Campaign
from dialer.compliance import (
    CallingHours,
    DialCheck,
    MachineRule,
    RetryRules,
    after_dial,
    callee_zones,
    check_dial,
    next_opening,
)
from dialer.pacing import Mode, Policy
from dialer.results import DialOutcome
from dialer.windows import AbandonWindow


@dataclass(frozen=True, slots=True)
class Plan:
    """A campaign's settings as the driver uses them."""

    id: int
    name: str
    mode: Mode
    queue: str
    caller_id: str
    trunk: str
    hours: CallingHours
    fallback_zone: str
    rules: RetryRules
    policy: Policy
    abandon_message: str = ""  # "" = the dialplan's own

    @classmethod
    def of(cls, row: Campaign, *, default_trunk: str) -> Plan:
        minutes = json.loads(row.retry_minutes or "{}")
        mode = Mode(row.mode)
        return cls(
            id=row.id,
            name=row.name,
            mode=mode,
            queue=row.queue,
            caller_id=row.caller_id,
            trunk=row.trunk or default_trunk,
            hours=CallingHours(
                _clock_time(row.hours_start),
                _clock_time(row.hours_end),
                frozenset(int(d) for d in row.weekdays),
            ),
            fallback_zone=row.fallback_timezone,
            rules=RetryRules(row.max_attempts, minutes, MachineRule(row.machine_rule)),
            policy=Policy(
                mode=mode,
                abandon_cap=row.abandon_cap,
                patience=row.patience,
                max_lines=row.max_lines,
            ),
            abandon_message=row.abandon_message,
        )


def _clock_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


async def checked(
    session: AsyncSession,
    plan: Plan,
    entry: dialling.Due,
    now: datetime,
    *,
    windows: tuple[AbandonWindow, ...],
    predictive: bool,
) -> DialCheck:
    """The checks before dialling ``entry`` now (the register read at this moment). An entry
    refused for a reason of its own leaves the dialable ones: to DNC, failed, or until its
    calling hours open (so that it is not checked again every second). A refusal for the
    abandon cap concerns the campaign, not the entry: it stays."""
    zones = callee_zones(entry.number, plan.fallback_zone)
    check = check_dial(
        number=entry.number,
        zones=zones,
        hours=plan.hours,
        now_utc=now,
        on_dnc=await is_listed(session, entry.number),
        attempts_made=entry.attempts,
        max_attempts=plan.rules.max_attempts,
        abandon_rates=windows,
        cap=plan.policy.abandon_cap,
        predictive=predictive,
        callback=entry.callback,
    )
    failed = check.failed
    if "dnc" in failed:
        await dialling.set_aside(session, entry.id, state=DNC, until=None, why="dnc")
    elif "attempt" in failed or "number" in failed:
        await dialling.set_aside(session, entry.id, state=FAILED, until=None, why=failed[0])
    elif "local_time" in failed:
        opens = next_opening(plan.hours, zones, now)
        state = PENDING if opens is not None else FAILED  # hours that never open for it
        await dialling.set_aside(session, entry.id, state=state, until=opens, why="hours")
    return check


async def settle(
    session: AsyncSession, plan: Plan, call_id: str, outcome: DialOutcome, now: datetime
) -> None:
    """A dial's end, recorded once (a replayed end changes nothing): the attempt's outcome and
    the entry's next state. An entry whose call reached an agent is done unless the agent's
    result says otherwise (a callback, a do-not-call); any other end goes by the campaign's
    retry rules."""
    live = outcome in (DialOutcome.ANSWERED, DialOutcome.ABANDONED)
    abandoned = outcome is DialOutcome.ABANDONED
    if not await dialling.finish_dial(
        session, call_id, outcome=str(outcome), live=live, abandoned=abandoned, at=now
    ):
        return
    attempt = await dialling.attempt_of(session, call_id)
    if attempt is None or attempt.entry_id is None:
        return
    if outcome is DialOutcome.ANSWERED:
        state, until = DONE, None
    else:
        fate = after_dial(plan.rules, outcome, attempt.attempts, now)
        state, until = str(fate.state), fate.next_attempt_at
    await dialling.settle_entry(
        session, attempt.entry_id, state=state, next_attempt_at=until, outcome=str(outcome), at=now
    )
