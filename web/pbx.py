"""The PBX side of the app: the AMI link (to Asterisk, or to the built-in simulator started
here) and the desk behind it, and their status for /readyz and /metrics."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from desk.runtime import AmiAccount, PbxRuntime, driving_the_link
from web.appkeys import (
    clock_key,
    db_key,
    desk_key,
    metrics_key,
    notifier_key,
    runtime_key,
    settings_key,
    simulator_key,
)


async def pbx_context(app: web.Application) -> AsyncIterator[None]:
    """Drive the PBX link (Asterisk's, or the built-in simulator's started here) for as long
    as the app runs."""
    settings = app[settings_key]
    if settings.pbx == "none":
        yield
        return
    async with contextlib.AsyncExitStack() as stack:
        if settings.pbx == "simulator":
            from web.simulated_pbx import start_simulator

            simulator = await start_simulator(settings)
            stack.push_async_callback(simulator.close)
            app[simulator_key] = simulator
            account = AmiAccount(simulator.host, simulator.port, simulator.username,
                                 simulator.secret)
        else:
            account = AmiAccount(settings.ami_host, settings.ami_port, settings.ami_username,
                                 settings.ami_secret.get_secret_value())
        runtime = await stack.enter_async_context(driving_the_link(
            settings=settings, account=account, db=app[db_key], clock=app[clock_key],
            notifier=app[notifier_key], router=app[desk_key].router))
        app[runtime_key] = runtime
        collector = LinkCollector(runtime)
        app[metrics_key].registry.register(collector)
        stack.callback(app[metrics_key].registry.unregister, collector)
        yield


def pbx_status(app: web.Application) -> dict[str, object] | None:
    runtime = app.get(runtime_key)
    if runtime is None:
        return None
    return {"ok": runtime.link.connected, "kind": app[settings_key].pbx,
            **runtime.link.status.as_dict(time.time()),
            "workers": runtime.workers.status(),
            "dropped_events": runtime.telephony.dropped_events}


class LinkCollector(Collector):
    """The link's figures, read at scrape time."""

    def __init__(self, runtime: PbxRuntime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        status = self.runtime.link.status
        telephony = self.runtime.telephony
        yield GaugeMetricFamily("callcentre_ami_connected", "1 while the AMI link is up",
                                value=int(status.connected))
        yield CounterMetricFamily("callcentre_ami_reconnects", "AMI reconnections",
                                  value=status.reconnects)
        yield CounterMetricFamily("callcentre_ami_events", "AMI events received",
                                  value=status.events)
        yield GaugeMetricFamily("callcentre_ami_events_per_second",
                                "AMI events per second (last 10 s)",
                                value=status.events_per_second(time.time()))
        yield CounterMetricFamily("callcentre_ami_bad_frames", "AMI frames that made no sense",
                                  value=status.bad_frames)
        yield CounterMetricFamily("callcentre_ami_unmatched_responses",
                                  "AMI responses to no action of ours",
                                  value=status.unmatched_responses)
        yield CounterMetricFamily("callcentre_ami_resyncs", "AMI resynchronisations",
                                  value=status.resyncs)
        yield GaugeMetricFamily("callcentre_calls_tracked", "Calls followed by the state machine",
                                value=telephony.calls.tracked_call_count)
        yield CounterMetricFamily("callcentre_domain_events", "Domain events produced",
                                  value=telephony.domain_events)
        yield CounterMetricFamily("callcentre_domain_events_dropped",
                                  "Domain events a lagging consumer lost",
                                  value=telephony.dropped_events)
        yield CounterMetricFamily("callcentre_worker_restarts",
                                  "Restarts of background workers after a failure",
                                  value=self.runtime.workers.restarts)
