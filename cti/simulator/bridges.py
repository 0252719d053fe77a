"""Two-party bridges: the conversation between a caller and an agent, or an agent and a customer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cti.simulator.events import Header

if TYPE_CHECKING:
    from cti.simulator.channels import Channel


class Bridge:
    """A basic bridge as Asterisk's ``bridge_basic`` reports it."""

    __slots__ = ("channels", "created_at", "uniqueid")

    def __init__(self, uniqueid: str, created_at: float) -> None:
        self.uniqueid = uniqueid
        self.created_at = created_at
        self.channels: list[Channel] = []

    def headers(self) -> list[Header]:
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(len(self.channels))),
            ("BridgeVideoSourceMode", "none"),
        ]

    def other(self, channel: Channel) -> Channel | None:
        for member in self.channels:
            if member is not channel:
                return member
        return None
