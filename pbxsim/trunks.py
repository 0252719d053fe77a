"""SIP trunks: the simulator's way to the public network, each with a channel limit."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Trunk:
    name: str  # the PJSIP endpoint, e.g. "trunk-main"
    max_channels: int = 0  # 0: no limit
    host: str = ""
    caller_id: str = ""
    codecs: tuple[str, ...] = ("ulaw", "alaw")


class Trunks:
    """Configured trunks and how many channels each carries right now."""

    def __init__(self) -> None:
        self.trunks: dict[str, Trunk] = {}
        self.in_use: dict[str, int] = {}
        self.refused = 0  # calls refused because a trunk was full

    def configure(self, trunk: Trunk) -> None:
        self.trunks[trunk.name] = trunk

    def remove(self, name: str) -> None:
        self.trunks.pop(name, None)

    @property
    def default(self) -> str | None:
        return next(iter(self.trunks), None)

    def has_room(self, name: str) -> bool:
        trunk = self.trunks.get(name)
        if trunk is None or not trunk.max_channels:
            return True
        return self.in_use.get(name, 0) < trunk.max_channels

    def acquire(self, name: str) -> bool:
        """Take a channel on ``name``; False when the trunk is at its limit."""
        trunk = self.trunks.get(name)
        used = self.in_use.get(name, 0)
        if trunk is not None and trunk.max_channels and used >= trunk.max_channels:
            self.refused += 1
            return False
        self.in_use[name] = used + 1
        return True

    def release(self, name: str) -> None:
        used = self.in_use.get(name, 0)
        if used <= 1:
            self.in_use.pop(name, None)
        else:
            self.in_use[name] = used - 1
