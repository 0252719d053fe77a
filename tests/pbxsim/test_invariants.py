"""Whatever the seed and the load, every call ends cleanly (property-based)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from pbxsim import InboundBurst, ManualClock, QueueSettings, Simulator
from pbxsim.queues import STRATEGIES

from .conftest import EPOCH


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(["local", "pjsip"]),
    strategy=st.sampled_from(STRATEGIES),
    calls=st.integers(1, 40),
    agents=st.integers(0, 6),
    abandon_rate=st.floats(0, 1),
    answers=st.booleans(),
    wrapup=st.sampled_from([0.0, 5.0]),
)
def test_every_channel_is_hung_up_and_every_caller_leaves_the_queue(
    seed: int,
    mode: str,
    strategy: str,
    calls: int,
    agents: int,
    abandon_rate: float,
    answers: bool,
    wrapup: float,
) -> None:
    simulator = Simulator(clock=ManualClock(epoch=EPOCH), seed=seed, mode=mode)  # type: ignore[arg-type]
    simulator.queues.configure("sales", QueueSettings(strategy=strategy, wrapuptime=wrapup))
    names: Counter[str] = Counter()
    created: set[str] = set()
    gone: set[str] = set()

    def watch(event) -> None:
        names[event.name] += 1
        if event.name == "Newchannel":
            created.add(event.get("Channel"))
        elif event.name == "Hangup":
            gone.add(event.get("Channel"))

    simulator.add_listener(watch)
    burst = InboundBurst(
        calls=calls,
        over_seconds=20,
        agents=agents,
        abandon_rate=abandon_rate,
        patience=(2, 30),
        patient_wait=90,
        talk_time=(1, 30),
    )
    simulator.run(burst)
    if not answers:
        for extension in burst.extensions:
            simulator.behaviour.agents[extension] = simulator.behaviour.agents[extension].__class__(
                answers=0.0
            )
    simulator.clock.run_until_idle()
    assert simulator.pbx.errors == []
    assert created == gone and simulator.pbx.channels == {}
    assert names["QueueCallerJoin"] == names["QueueCallerLeave"] == burst.placed
    assert names["BridgeCreate"] == names["BridgeDestroy"] == names["AgentConnect"]
    assert simulator.trunks.in_use == {}
    queue = simulator.queues.get("sales")
    assert queue is not None and queue.entries == []
    assert all(not m.in_call and not m.offered for m in queue.members.values())
