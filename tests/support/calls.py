"""Call ends as the PBX side hands them to the call records."""

from __future__ import annotations

from crm_core.call_records import EndedCall


def ended(call_id: str, extension: str, ended_at: float) -> EndedCall:
    return EndedCall(
        linked_id=call_id,
        direction="inbound",
        outcome="answered",
        caller_number="+15551234567",
        customer_number="+15551234567",
        queue="sales",
        agent_interface=f"PJSIP/{extension}",
        agent_extension=extension,
        offered_at=ended_at - 60,
        answered_at=ended_at - 50,
        ended_at=ended_at,
        wait_seconds=10,
        talk_seconds=50,
        hangup_cause=16,
    )
