"""The PBX side of the app: the AMI link (to Asterisk, or to the built-in simulator started
here) and the desk behind it, and their status for /readyz and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from config.settings import Settings
from cti.leader import Leadership, Lease, RedisLease, SoleLease
from desk.checkpoint import Checkpoint, RedisCheckpoint
from desk.runtime import AmiAccount, PbxRuntime, call_recorder, driving_the_link
from desk.workers import Workers
from dialer.engine import CampaignRunner
from web.appkeys import (
    clock_key,
    db_key,
    desk_key,
    metrics_key,
    notifier_key,
    pbx_key,
    settings_key,
    simulator_key,
)


@dataclass
class PbxSide:
    """Set up once per app; what changes while it runs (terms as driver) changes in here."""

    workers: Workers  # the desk's work on every instance (the call records' outbox)
    leadership: Leadership | None = None  # None: no PBX configured
    runtime: PbxRuntime | None = None  # while this instance drives the link
    dialer: CampaignRunner | None = None  # the running campaigns, driven with the link


async def pbx_context(app: web.Application) -> AsyncIterator[None]:
    """Drive the PBX link (Asterisk's, or the built-in simulator's started here) whenever this
    instance holds its lease; stand by otherwise. Call records are written from this
    instance's outbox in either case."""
    settings = app[settings_key]
    recorder = call_recorder(settings, app[db_key], app[clock_key])
    workers = Workers()
    workers.start("call-records", lambda: recorder.outbox.run(recorder.write))
    side = app[pbx_key] = PbxSide(workers)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(workers.stop)
        if settings.pbx == "none":
            yield
            return
        if settings.pbx == "simulator":
            from web.simulated_pbx import start_simulator

            simulator = await start_simulator(settings)
            stack.push_async_callback(simulator.close)
            app[simulator_key] = simulator
            account = AmiAccount(
                simulator.host, simulator.port, simulator.username, simulator.secret
            )
        else:
            account = AmiAccount(
                settings.ami_host,
                settings.ami_port,
                settings.ami_username,
                settings.ami_secret.get_secret_value(),
            )

        @contextlib.asynccontextmanager
        async def drive(token: int) -> AsyncIterator[None]:
            async with driving_the_link(
                settings=settings,
                account=account,
                db=app[db_key],
                clock=app[clock_key],
                notifier=app[notifier_key],
                router=app[desk_key].router,
                recorder=recorder,
                fence=token,
                checkpoint=checkpoint,
            ) as runtime:
                dialer = CampaignRunner(
                    db=app[db_key],
                    link=runtime.link,
                    telephony=runtime.telephony,
                    board=runtime.board,
                    clock=app[clock_key],
                    fence=token,
                    notifier=app[notifier_key],
                    default_trunk=settings.dialer_trunk,
                    region=settings.default_region,
                )
                runtime.workers.consume(
                    "dialer-events", runtime.telephony.subscribe(), dialer.handle
                )
                runtime.workers.every("dialer", settings.dialer_tick_seconds, dialer.tick)
                collector = LinkCollector(runtime)
                app[metrics_key].registry.register(collector)
                side.runtime, side.dialer = runtime, dialer
                try:
                    yield
                finally:
                    side.runtime = side.dialer = None
                    app[metrics_key].registry.unregister(collector)

        lease, checkpoint = await stack.enter_async_context(_lease(settings, account))
        leadership = Leadership(lease, drive, ttl=settings.lease_seconds)
        side.leadership = leadership
        task = asyncio.create_task(leadership.run(), name="pbx-leadership")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):  # a sole instance drives before it serves
                await leadership.first_try.wait()
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def _lease(
    settings: Settings,
    account: AmiAccount,
) -> AsyncIterator[tuple[Lease, Checkpoint | None]]:
    """One lease per AMI link, with the driver's open calls beside it, in Redis when instances
    share one; else this instance's own."""
    name = f"pbx:{account.host}:{account.port}"
    if not settings.redis_url:
        yield SoleLease(name), None
        return
    import redis.asyncio as redis

    client = redis.from_url(settings.redis_url)
    try:
        yield RedisLease(client, name, ttl=settings.lease_seconds), RedisCheckpoint(client, name)
    finally:
        await client.aclose()


def pbx_status(app: web.Application) -> dict[str, object] | None:
    side = app[pbx_key]
    leadership = side.leadership
    if leadership is None:
        return None
    status: dict[str, object] = {
        "kind": app[settings_key].pbx,
        "role": "driver" if leadership.leading else "standby",
        "lease": leadership.lease.name,
        "token": leadership.token,
        "elected_at": leadership.elected_at,
        "terms": leadership.terms,
        "outbox_workers": side.workers.status(),
    }
    runtime = side.runtime
    if runtime is None:  # standing by: healthy as long as the lease can be watched
        return {"ok": True, **status}
    return {
        **status,
        "ok": runtime.link.connected,
        **runtime.link.status.as_dict(time.time()),
        "workers": runtime.workers.status(),
        "dropped_events": runtime.telephony.dropped_events,
    }


class LinkCollector(Collector):
    """The link's figures, read at scrape time."""

    def __init__(self, runtime: PbxRuntime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        status = self.runtime.link.status
        telephony = self.runtime.telephony
        yield GaugeMetricFamily(
            "callcentre_ami_connected", "1 while the AMI link is up", value=int(status.connected)
        )
        yield CounterMetricFamily(
            "callcentre_ami_reconnects", "AMI reconnections", value=status.reconnects
        )
        yield CounterMetricFamily(
            "callcentre_ami_events", "AMI events received", value=status.events
        )
        yield GaugeMetricFamily(
            "callcentre_ami_events_per_second",
            "AMI events per second (last 10 s)",
            value=status.events_per_second(time.time()),
        )
        yield CounterMetricFamily(
            "callcentre_ami_bad_frames", "AMI frames that made no sense", value=status.bad_frames
        )
        yield CounterMetricFamily(
            "callcentre_ami_unmatched_responses",
            "AMI responses to no action of ours",
            value=status.unmatched_responses,
        )
        yield CounterMetricFamily(
            "callcentre_ami_resyncs", "AMI resynchronisations", value=status.resyncs
        )
        yield GaugeMetricFamily(
            "callcentre_calls_tracked",
            "Calls followed by the state machine",
            value=telephony.calls.tracked_call_count,
        )
        yield CounterMetricFamily(
            "callcentre_domain_events", "Domain events produced", value=telephony.domain_events
        )
        yield CounterMetricFamily(
            "callcentre_domain_events_dropped",
            "Domain events a lagging consumer lost",
            value=telephony.dropped_events,
        )
        yield CounterMetricFamily(
            "callcentre_worker_restarts",
            "Restarts of background workers after a failure",
            value=self.runtime.workers.restarts,
        )
