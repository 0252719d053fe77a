"""How a dial ended and what the agent recorded, and what each means for the list entry and the
CRM. Pure data: the retry rules (`dialer.compliance.after_dial`) read the entry's effect, the
application layer acts on the CRM action.

Two vocabularies, one per source:

- `DialOutcome`: what the PBX reports. Its names are those of `cti.events.Outcome` where both
  have the word (busy, no_answer, congestion, failed, abandoned, answered), plus `machine`
  (the dialplan's AMD() step heard an answering machine).
- `AgentResult`: what the agent records after talking (or trying to talk) to the callee. A call
  whose outcome is `answered` waits for one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DialOutcome(StrEnum):
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    MACHINE = "machine"  # answering machine detected by AMD
    ABANDONED = "abandoned"  # a person answered, no agent was connected within the patience
    CONGESTION = "congestion"  # the network or the trunk had no line
    FAILED = "failed"  # the call could not be placed
    ANSWERED = "answered"  # connected to an agent: the agent's result says the rest


class AgentResult(StrEnum):
    SALE = "sale"
    ORDER_CONFIRMED = "order_confirmed"
    INTERESTED = "interested"
    NOT_INTERESTED = "not_interested"
    COMPLAINT = "complaint"
    CALLBACK = "callback"  # at a time the customer gave: a personal or a campaign callback
    WRONG_NUMBER = "wrong_number"
    DO_NOT_CALL = "do_not_call"
    NO_CONTACT = "no_contact"  # connected, but nobody useful answered or the line dropped


Outcome = DialOutcome | AgentResult


class Effect(StrEnum):
    """What becomes of the list entry."""

    AWAIT_RESULT = "await_result"  # answered: the agent's result decides
    RETRY = "retry"  # dial again after the outcome's delay, while attempts remain
    SCHEDULE = "schedule"  # dial again at the time asked for, whatever the attempts
    DONE = "done"  # the entry has served its purpose
    FAIL = "fail"  # the number is no good for this entry
    DNC = "dnc"  # the number goes onto the do-not-call register


class CrmAction(StrEnum):
    """What the application layer does in the CRM besides recording the result."""

    NONE = "none"
    OPEN_ORDER_FORM = "open_order_form"  # on the agent's screen, for the customer called
    CONFIRM_ORDER = "confirm_order"  # the order the entry is about
    OPEN_SERVICE_REQUEST = "open_service_request"  # a complaint, for the customer called
    CREATE_OPPORTUNITY = "create_opportunity"  # a sales opportunity, unassigned


@dataclass(frozen=True, slots=True)
class Meaning:
    effect: Effect
    action: CrmAction
    live: bool  # a person answered: counts as a live answer for the abandonment cap
    text: str  # for the agent's result buttons and the entry's history


_MEANINGS: dict[Outcome, Meaning] = {
    DialOutcome.BUSY: Meaning(Effect.RETRY, CrmAction.NONE, False, "busy"),
    DialOutcome.NO_ANSWER: Meaning(Effect.RETRY, CrmAction.NONE, False, "no answer"),
    DialOutcome.MACHINE: Meaning(Effect.RETRY, CrmAction.NONE, False, "answering machine"),
    # Abandoned is a live answer: the cap is abandoned ÷ live-answered, abandoned ones included.
    DialOutcome.ABANDONED: Meaning(
        Effect.RETRY, CrmAction.NONE, True, "answered, but no agent was free"
    ),
    DialOutcome.CONGESTION: Meaning(Effect.RETRY, CrmAction.NONE, False, "network congestion"),
    DialOutcome.FAILED: Meaning(Effect.RETRY, CrmAction.NONE, False, "the call failed"),
    DialOutcome.ANSWERED: Meaning(
        Effect.AWAIT_RESULT, CrmAction.NONE, True, "connected to an agent"
    ),
    AgentResult.SALE: Meaning(Effect.DONE, CrmAction.OPEN_ORDER_FORM, True, "sale"),
    AgentResult.ORDER_CONFIRMED: Meaning(
        Effect.DONE, CrmAction.CONFIRM_ORDER, True, "order confirmed"
    ),
    AgentResult.INTERESTED: Meaning(Effect.DONE, CrmAction.CREATE_OPPORTUNITY, True, "interested"),
    AgentResult.NOT_INTERESTED: Meaning(Effect.DONE, CrmAction.NONE, True, "not interested"),
    AgentResult.COMPLAINT: Meaning(Effect.DONE, CrmAction.OPEN_SERVICE_REQUEST, True, "complaint"),
    AgentResult.CALLBACK: Meaning(Effect.SCHEDULE, CrmAction.NONE, True, "call back later"),
    AgentResult.WRONG_NUMBER: Meaning(Effect.FAIL, CrmAction.NONE, True, "wrong number"),
    AgentResult.DO_NOT_CALL: Meaning(Effect.DNC, CrmAction.NONE, True, "do not call"),
    AgentResult.NO_CONTACT: Meaning(Effect.RETRY, CrmAction.NONE, True, "no useful contact"),
}


def meaning(outcome: Outcome) -> Meaning:
    return _MEANINGS[outcome]


def parse_outcome(text: str) -> Outcome:
    """A stored or submitted word ("busy", "sale") -> its outcome; ValueError when unknown."""
    for kind in (DialOutcome, AgentResult):
        try:
            return kind(text)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is neither a dial outcome nor an agent's result")


def retried(outcome: Outcome) -> bool:
    """Outcomes that put the entry back in the list after a delay (each has retry minutes)."""
    return meaning(outcome).effect is Effect.RETRY


# The outcomes with a retry delay, in the order a settings form lists them.
RETRIED: tuple[Outcome, ...] = tuple(o for o in _MEANINGS if retried(o))
