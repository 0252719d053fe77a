"""Two-party bridges: the conversation between a caller and an agent, or an agent and a customer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pbxsim.events import Header
from pbxsim.process import Signal

if TYPE_CHECKING:
    from pbxsim.channels import Channel


class Bridge:
    """A basic bridge as Asterisk's ``bridge_basic`` reports it.

    ``owner`` is the channel whose application (Queue, Dial) made the bridge and tears it down
    when the other party leaves; None once nobody's application holds it any more (an attended
    transfer's supervisor does). ``transfer`` is the attended transfer using the bridge (while
    set, no second one can start on it: Asterisk inhibits bridge merges the same way).
    ``handover`` is fired by a completed attended transfer with the ``DialLeg`` of the party
    that takes the transferer's place, for the owner's application to follow from then on."""

    __slots__ = ("_handover", "channels", "created_at", "owner", "transfer", "uniqueid")

    def __init__(self, uniqueid: str, created_at: float) -> None:
        self.uniqueid = uniqueid
        self.created_at = created_at
        self.channels: list[Channel] = []
        self.owner: Channel | None = None
        self.transfer: Any = None
        self._handover: Signal | None = None

    @property
    def handover(self) -> Signal:
        if self._handover is None:
            self._handover = Signal()
        return self._handover

    def rearm_handover(self) -> None:
        """Signals fire once: a bridge can change hands again after a handover was taken."""
        self._handover = Signal()

    def headers(self, prefix: str = "") -> list[Header]:
        return [
            (f"{prefix}BridgeUniqueid", self.uniqueid),
            (f"{prefix}BridgeType", "basic"),
            (f"{prefix}BridgeTechnology", "simple_bridge"),
            (f"{prefix}BridgeCreator", "<unknown>"),
            (f"{prefix}BridgeName", "<unknown>"),
            (f"{prefix}BridgeNumChannels", str(len(self.channels))),
            (f"{prefix}BridgeVideoSourceMode", "none"),
        ]

    def other(self, channel: Channel) -> Channel | None:
        for member in self.channels:
            if member is not channel:
                return member
        return None
