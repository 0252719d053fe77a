"""The simulator as one object: the PBX model, its clock, its configuration, its AMI server."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from pbxsim.behaviour import Behaviour
from pbxsim.channels import ChannelState
from pbxsim.clock import RealTimeClock, Scheduler
from pbxsim.config_files import (
    QUEUES_FILE,
    TRUNKS_FILE,
    ConfigStore,
    queue_settings,
    trunk_settings,
)
from pbxsim.defaults import DEFAULT_SECRET, DEFAULT_USERNAME, QUEUES_CONF, TRUNKS_CONF
from pbxsim.events import Event
from pbxsim.farends import trunk_caller
from pbxsim.lab_dialplan import lab_dialplan
from pbxsim.legs import CallerId
from pbxsim.originate import OriginateRequest, OriginateResult, originate
from pbxsim.pbx import Pbx
from pbxsim.queues import Queues, QueueSettings
from pbxsim.runtime import Mode, Runtime
from pbxsim.server import AmiServer
from pbxsim.sip_dialplan import sip_dialplan
from pbxsim.trunks import Trunks
from pbxsim.users import AmiUser

if TYPE_CHECKING:
    from pbxsim.scenarios import Scenario

log = logging.getLogger(__name__)


class Simulator:
    """A PBX that speaks AMI. Build it, ``await start(host, port)``, point a client at it.

    ``mode="local"`` reproduces the recorded lab (Local channel agents, callers, customers);
    ``mode="pjsip"`` looks like production (``PJSIP/1001`` phones, ``PJSIP/trunk-...`` trunks).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        speed: float = 1.0,
        clock: Scheduler | None = None,
        epoch: float | None = None,
        mode: Mode = "local",
        users: Iterable[AmiUser] | None = None,
        behaviour: Behaviour | None = None,
        config_files: Mapping[str, str] | None = None,
        device_states: Mapping[str, str] | None = None,
        auth_failure_delay: float = 1.0,
        dialplan_events: bool = True,
    ) -> None:
        if clock is None:
            clock = RealTimeClock(speed=speed, epoch=time.time() if epoch is None else epoch)
        elif epoch is not None:
            clock.epoch = epoch
        self.seed = seed
        self.mode = mode
        self.clock = clock
        self.pbx = Pbx(clock, id_seed=seed)
        # Newexten/VarSet chatter: each session can refuse it (read classes), or nobody gets it.
        self.pbx.dialplan_events = dialplan_events
        self.behaviour = behaviour or Behaviour(seed=seed)
        self.queues = Queues(self.pbx, rng=random.Random(f"{seed}:queues"))
        self.trunks = Trunks()
        self.configs = ConfigStore(
            config_files or {QUEUES_FILE: QUEUES_CONF, TRUNKS_FILE: TRUNKS_CONF}
        )
        self.apply_config(TRUNKS_FILE)
        trunk = self.trunks.default or "trunk-main"
        self.runtime = Runtime(
            self.pbx,
            dialplan=lab_dialplan() if mode == "local" else sip_dialplan(trunk),
            behaviour=self.behaviour,
            queues=self.queues,
            trunks=self.trunks,
            mode=mode,
        )
        self.apply_config(QUEUES_FILE)
        if mode == "pjsip":
            for name in self.trunks.trunks:
                self.pbx.device_states.setdefault(f"PJSIP/{name}", "NOT_INUSE")
        self.pbx.device_states.update(device_states or {})
        self.users: dict[str, AmiUser] = {
            user.username: user
            for user in (users or [AmiUser.create(DEFAULT_USERNAME, DEFAULT_SECRET)])
        }
        self.globals: dict[str, str] = {}
        self.started_wall = clock.wall()
        self.reloaded_wall = self.started_wall
        self.server = AmiServer(self, auth_failure_delay=auth_failure_delay)
        self.pbx.listeners.append(self.server.broadcast)
        self.scenario: Scenario | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- lifetime -----------------------------------------------------------------------------

    async def start(
        self, host: str = "127.0.0.1", port: int = 5038, *, run_clock: bool = True
    ) -> None:
        """Listen for AMI clients; ``run_clock=False`` keeps simulated time at its start until
        ``clock.start()`` (so clients can log in before anything happens)."""
        await self.server.start(host, port)
        if run_clock and isinstance(self.clock, RealTimeClock) and not self.clock.running:
            self.clock.start()

    @property
    def port(self) -> int:
        return self.server.port

    async def close(self) -> None:
        if self.scenario is not None:
            self.scenario.stop()
        await self.server.close()
        if isinstance(self.clock, RealTimeClock):
            self.clock.stop()

    def run(self, scenario: Scenario) -> None:
        """Start a scenario on this simulator (it schedules its calls on the clock)."""
        self.scenario = scenario
        scenario.start(self)

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Receive every event as it is emitted (in-process observers, tests, benchmarks)."""
        self.pbx.listeners.append(listener)

    # -- calls --------------------------------------------------------------------------------

    def originate(self, request: OriginateRequest) -> OriginateResult:
        return originate(self.runtime, request)

    def inbound_call(
        self,
        did: str,
        caller_id: CallerId,
        *,
        patience: float,
        queue: str | None = None,
        keys: str = "",
    ) -> bool:
        """A call arriving from the public network to ``did``; False if the trunk is full.

        The caller hangs up if no agent answers within ``patience`` seconds; ``keys``: what
        they key in at the IVR (pjsip mode: the account number prompt)."""
        if queue is not None:
            self.runtime.did_routes.setdefault(did, queue)
        trunk = self.trunks.default
        if self.mode == "local":
            if trunk is not None and not self.trunks.has_room(trunk):
                self.trunks.refused += 1
                return False
            seconds = max(1, round(patience))
            self.originate(
                OriginateRequest(
                    f"Local/patience{seconds}@callers",
                    context="inbound",
                    exten=did,
                    caller_id=caller_id,
                    timeout=30.0,
                    report=False,
                )
            )
            return True
        if trunk is not None and not self.trunks.acquire(trunk):
            return False
        pbx = self.pbx
        endpoint = trunk or "trunk-main"
        channel = pbx.new_channel(
            f"PJSIP/{endpoint}-{pbx.next_channel_suffix()}",
            tech="PJSIP",
            device=f"PJSIP/{endpoint}",
            state=ChannelState.RING,
            context="inbound",
            exten=did,
        )
        channel.trunk = trunk
        channel.dtmf = keys
        channel.caller_num, channel.caller_name = caller_id.number, caller_id.name
        channel.connected_num, channel.connected_name = did, ""
        pbx.announce(channel)
        self.runtime.start_pbx(channel, "inbound", did)
        pbx.spawn(trunk_caller(self.runtime, channel, patience), name=f"caller {channel.name}")
        return True

    # -- configuration ------------------------------------------------------------------------

    def apply_config(self, name: str) -> None:
        """Make a (validated) configuration file take effect, as a module reload does."""
        config = self.configs.get(name)
        if name == QUEUES_FILE:
            wanted = queue_settings(config)
            for queue_name in list(self.queues.queues):
                if queue_name not in wanted:
                    self.queues.remove_queue(queue_name)
            for queue_name, (settings, members) in wanted.items():
                self._configure_queue(queue_name, settings, members)
        elif name == TRUNKS_FILE:
            trunks = trunk_settings(config)
            for old in list(self.trunks.trunks):
                if old not in {t.name for t in trunks}:
                    self.trunks.remove(old)
            for trunk in trunks:
                self.trunks.configure(trunk)
        self.reloaded_wall = self.clock.wall()

    def _configure_queue(self, name: str, settings: QueueSettings, members: list) -> None:
        queue = self.queues.configure(name, settings)
        for member in members:
            if member.interface not in queue.members:
                added = self.queues.add_member(
                    name,
                    member.interface,
                    name=member.name,
                    penalty=member.penalty,
                    state_interface=member.state_interface,
                )
                added.membership = "static"

    # -- figures ------------------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        clock = self.clock
        figures: dict[str, object] = {
            "simulated_seconds": round(clock.now(), 3),
            "channels": len(self.pbx.channels),
            "calls": len({c.linkedid for c in self.pbx.channels.values()}),
            "sessions": len(self.server.sessions),
            "trunk_channels_in_use": dict(self.trunks.in_use),
            "trunk_refusals": self.trunks.refused,
            "errors": len(self.pbx.errors),
        }
        if isinstance(clock, RealTimeClock) and not math.isinf(clock.speed):
            figures["lag_worst_seconds"] = round(clock.lag.worst, 4)
        return figures
