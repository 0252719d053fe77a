"""The PBX side of the app: the AMI link (to Asterisk, or to the built-in simulator started
here), the state machines behind it, and its status for /readyz and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import structlog
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from config.settings import Settings
from crm_core.cards import caller_lookups
from cti.agent_calls import AgentCalls
from cti.ami.link import AmiLink, LinkConfig
from cti.events import DomainEvent
from cti.telephony import Telephony
from web.appkeys import (
    agent_calls_key,
    bus_key,
    clock_key,
    db_key,
    directory_key,
    link_key,
    metrics_key,
    recorder_key,
    settings_key,
    simulator_key,
    telephony_key,
)
from web.call_recording import CallRecorder
from web.directory import AgentDirectory
from web.outbox import Outbox
from web.pops import PopPipeline
from web.supervision import SupervisorFeed
from web.wrapup import WrapUpKeeper

log = structlog.get_logger("cti")


def link_config(settings: Settings, telephony: Telephony, host: str, port: int,
                username: str, secret: str) -> LinkConfig:
    return LinkConfig(
        host=host, port=port, username=username, secret=secret, events=settings.ami_events,
        wanted_events=telephony.wanted_events, action_timeout=settings.ami_action_timeout,
        ping_interval=settings.ami_ping_interval, ping_timeout=settings.ami_ping_timeout,
        reconcile_interval=settings.ami_reconcile_seconds,
    )


async def pbx_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    if settings.pbx == "none":
        yield
        return
    telephony = Telephony(call_variables=settings.ami_call_variables)
    async with contextlib.AsyncExitStack() as stack:
        if settings.pbx == "simulator":
            from web.simulated_pbx import start_simulator

            simulator = await start_simulator(settings)
            stack.push_async_callback(simulator.close)
            app[simulator_key] = simulator
            config = link_config(settings, telephony, simulator.host, simulator.port,
                                 simulator.username, simulator.secret)
        else:
            config = link_config(settings, telephony, settings.ami_host, settings.ami_port,
                                 settings.ami_username, settings.ami_secret.get_secret_value())
        link = AmiLink(config, telephony)
        app[telephony_key] = telephony
        app[link_key] = link
        app[metrics_key].registry.register(LinkCollector(link, telephony))
        directory = AgentDirectory(app[db_key], app[bus_key])
        await directory.start()
        calls = AgentCalls()
        app[directory_key] = directory
        app[agent_calls_key] = calls
        pops = PopPipeline(events=telephony.subscribe(),
                           lookups=await stack.enter_async_context(
                               caller_lookups(settings.effective_database_url)),
                           bus=app[bus_key], directory=directory, calls=calls,
                           region=settings.default_region)
        await pops.start()
        recorder = CallRecorder(
            events=telephony.subscribe(), db=app[db_key], clock=app[clock_key],
            region=settings.default_region,
            outbox=Outbox(settings.data_dir / "outbox" / "call_ends.jsonl"),
        )
        app[recorder_key] = recorder
        supervision = SupervisorFeed(
            telephony=telephony, events=telephony.subscribe(), bus=app[bus_key],
            directory=directory, db=app[db_key], clock=app[clock_key],
            check_seconds=settings.pause_check_seconds)
        await supervision.start()
        wrapup = WrapUpKeeper(events=telephony.subscribe(), telephony=telephony, link=link,
                              bus=app[bus_key], directory=directory,
                              seconds=settings.wrapup_seconds)
        await wrapup.start()
        link_task = asyncio.create_task(link.run(), name="ami-link")
        workers = [
            asyncio.create_task(log_domain_events(telephony.subscribe()), name="cti-log"),
            asyncio.create_task(pops.run(), name="screen-pops"),
            asyncio.create_task(recorder.collect(), name="call-ends"),
            asyncio.create_task(recorder.outbox.run(recorder.write), name="call-records"),
            asyncio.create_task(supervision.run(), name="supervision"),
            asyncio.create_task(supervision.watch_pauses(), name="pause-limits"),
            asyncio.create_task(wrapup.run(), name="wrap-up"),
            asyncio.create_task(directory.run(), name="agent-directory"),
        ]
        yield
        await link.stop()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(link_task, *workers, return_exceptions=True)


async def log_domain_events(queue: asyncio.Queue[DomainEvent]) -> None:
    """One log line per domain event, with stable keys (call_id, agent, queue)."""
    while True:
        event = await queue.get()
        fields = {
            "call_id": getattr(event, "linked_id", None),
            "agent": getattr(event, "agent_interface", None) or getattr(event, "interface", None),
            "queue": getattr(event, "queue", None),
            "outcome": getattr(event, "outcome", None),
        }
        log.info("cti." + type(event).__name__, **{k: v for k, v in fields.items() if v})


def pbx_status(app: web.Application) -> dict[str, object] | None:
    link = app.get(link_key)
    if link is None:
        return None
    return {"ok": link.connected, "kind": app[settings_key].pbx,
            **link.status.as_dict(time.time())}


class LinkCollector(Collector):
    """The link's figures, read at scrape time."""

    def __init__(self, link: AmiLink, telephony: Telephony) -> None:
        self.link = link
        self.telephony = telephony

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        status = self.link.status
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
                                value=self.telephony.calls.tracked_call_count)
        yield CounterMetricFamily("callcentre_domain_events", "Domain events produced",
                                  value=self.telephony.domain_events)
