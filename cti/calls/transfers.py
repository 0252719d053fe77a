"""Transfers and attended-transfer consultations: which offer is a consultation, when one is
over, and the events that tell of them. ``CallTracker`` (its Dial(), queue and transfer
handlers) drives these.

Transfers
    ``BlindTransfer`` and ``AttendedTransfer`` with ``Result: Success`` give ``CallTransferred``
    for the call of the transferee (else of the transferer); failed ones give nothing. The call
    keeps its Linkedid through a transfer, so it is followed, not replaced:

    * Once the call has been answered, a Dial() that rings another device is an offer to that
      agent (``CallOffered``, queue ""; the customer's identity, the same ``linked_id``), then
      ``CallAnswered`` or ``CallOfferWithdrawn``. Dialled from the customer's side (the queue
      caller or click-to-call customer leg, or the transferee of a blind transfer or Redirect)
      it is a transfer: the answering agent becomes the call's agent. Dialled from any other
      channel it is an attended transfer's consultation (AMI Atxfer dials through
      ``Local/<exten>@<context>``, created with the transferer as requestor and so with the
      customer's Linkedid): its answer is told to that agent, but the call stays the
      transferer's until ``AttendedTransfer`` (then the consulted agent takes it, at once or
      when it answers a "blond" transfer). A consultation that ends without the transfer is
      withdrawn (``TRANSFER_CANCELLED``), even after its ``CallAnswered``.
    * A transfer to a queue DID re-queues the customer: the queue's offers follow as usual. A
      consultation through a queue (Atxfer to a DID) gives offers with that queue's name, and
      its giving up is never the customer abandoning.
    * ``CallEnded`` comes once, when the last channel with the call's Linkedid is gone (the
      consultation's channels included), naming the last agent who had the customer.
    * A consultation with a Linkedid of its own (placed by the agent's phone, then joined by a
      SIP REFER) is another call, reported by nobody: it yields no domain events. The
      customer's call learns its new agent from ``AttendedTransfer`` (the transfer target's
      device, when it is not a Local channel) and reports ``CallTransferred`` and, later, its
      one ``CallEnded``.
"""

from __future__ import annotations

from cti.ami.framing import Frame
from cti.calls.model import CONSULT_RING, _Call, _Offer
from cti.devices import interface_of
from cti.events import CallAnswered, CallTransferred, TransferKind


def _consultation_answered(call: _Call, offer: _Offer, at: float) -> CallAnswered:
    """The consulted agent answered the transferer: told to that agent, but the call stays
    the transferer's until the transfer completes."""
    return CallAnswered(
        linked_id=call.linked_id,
        agent_interface=offer.agent_interface,
        member_name=offer.member_name,
        device_channel=offer.device_channel,
        queue=offer.queue,
        direction=call.direction,
        at=at,
        wait_seconds=max(0.0, at - offer.offered_at),
    )


def _consultation_over(offer: _Offer) -> bool:
    """An answered consultation whose device is gone before any transfer: withdrawn, though
    answered (open offers are withdrawn by their DialEnd)."""
    return offer.kind == CONSULT_RING and offer.answered and not offer.completed


def _consultation(call: _Call) -> _Offer | None:
    """The latest consultation still going on (ringing, or answered and not over)."""
    for offer in reversed(call.offers.values()):
        if offer.kind == CONSULT_RING and not offer.completed and (offer.open or offer.answered):
            return offer
    return None


def _transferred(
    call: _Call, frame: Frame, kind: TransferKind, transferer: str, target: str, at: float
) -> CallTransferred:
    transferer_channel = frame.get(f"{transferer}Channel") or ""
    return CallTransferred(
        linked_id=call.linked_id,
        kind=kind,
        agent_interface=interface_of(transferer_channel),
        transferer_channel=transferer_channel,
        transferee_channel=frame.get("TransfereeChannel") or "",
        target=target,
        at=at,
    )
