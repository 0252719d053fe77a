"""The call-state machine: AMI frames in, domain events out, one call per Linkedid.

Pure logic: no I/O, no clock (the caller passes each frame's receive time as ``at``), no logging.
``CallTracker.apply`` is the hot path (about 180 AMI events per call, most of them ``Newexten`` /
``VarSet`` that matter to nobody): one dictionary lookup on the event name drops everything not in
``_HANDLERS`` (in ``tracker``, bound to the handler methods themselves).

What is a call, and which calls are reported
    Every channel belongs to the call of the Linkedid it was created with (``Newchannel``); the
    call ends when its last channel hangs up. Only calls we have a reason to report produce
    domain events: calls that entered a queue as a caller (inbound, unless expected otherwise) and
    calls registered with ``expect`` (the ChannelId we passed to Originate). Other Linkedids
    (internal calls, originates nobody expected) are followed silently so that resync stays
    correct, and forgotten when they end. Channels keep the call they were created in even if
    Asterisk later gives them another Linkedid (it propagates the oldest Linkedid across a bridge,
    e.g. after an attended transfer): each call still ends when its own channels are gone.

Idempotence
    Each call keeps the hashes of the frames it has applied (``hash(frame.headers)``, i.e. event
    name, ids and every header) and ignores a frame it has already seen; frames about a channel
    that has hung up find no channel and are dropped; ``Newchannel`` for a Linkedid that has ended
    is dropped (a bounded memory of ended Linkedids). So a frame replayed at any later point
    yields nothing, while memory stays bounded: a call's state and seen-set go with its
    ``CallEnded``. Byte-identical frames within one call are treated as one (they carry the same
    facts; Asterisk does send some twice, e.g. ``DialEnd CANCEL``).

Abandoned or timed out; Outcome
    The queue's verdict and the ``CallEnded.outcome`` rules: see ``cti.calls.outcomes``.

Transfers
    Blind and attended transfers, consultations, offers after an answer: see
    ``cti.calls.transfers``.

Modules
    ``model`` (calls, channels, offers, dialled legs, ``OpenCall``; small pure helpers),
    ``outcomes`` (outcome and withdrawal-reason rules), ``transfers`` (transfer and
    consultation rules), ``tracker`` (``CallTracker`` and its ``_HANDLERS`` table).
"""

from __future__ import annotations

from cti.calls.model import (
    CONSULT_RING,
    QUEUE_RING,
    TRANSFER_RING,
    OpenCall,
    number_of,
)
from cti.calls.tracker import (
    DEFAULT_MAX_EXPECTATIONS,
    DEFAULT_REMEMBERED_ENDED_CALLS,
    CallTracker,
    Handler,
)
from cti.devices import interface_of

# The public names of the former single module ``cti.calls``, importable from here as before.
__all__ = [
    "CONSULT_RING",
    "DEFAULT_MAX_EXPECTATIONS",
    "DEFAULT_REMEMBERED_ENDED_CALLS",
    "QUEUE_RING",
    "TRANSFER_RING",
    "CallTracker",
    "Handler",
    "OpenCall",
    "interface_of",
    "number_of",
]
