"""The app factory: the one place where everything is assembled. It only wires."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp_jinja2
import jinja2
import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings
from crm_core import sessions
from crm_core.auth import LoginLimits
from crm_core.clock import Clock, utc_now
from crm_core.db import create_engine, session_factory
from crm_core.dial_rules import DialRules
from crm_core.migrate import current_revision, head_revision, upgrade_to_head
from crm_core.passwords import Passwords
from crm_core.sessions import SessionPolicy
from crm_core.users import current_permissions
from cti.bus import create_bus
from desk.commands import CommandRouter, Desk
from desk.notifications import Notifier
from desk.scheduler import Scheduler, churn_job
from dialer.outbound import OutboundDesk
from web.api import endpoints
from web.api.registry import Api
from web.appkeys import (
    api_key,
    bus_key,
    clock_key,
    db_key,
    desk_key,
    engine_key,
    hub_key,
    login_limits_key,
    metrics_key,
    notifier_key,
    outbound_key,
    passwords_key,
    scheduler_key,
    secret_key,
    session_policy_key,
    settings_key,
)
from web.headers import add_security_headers
from web.hub import Hub, PermissionsOf, sweep_ended_sessions
from web.loop_lag import loop_lag_context
from web.metrics import Metrics
from web.middlewares import authenticate, csrf, request_context
from web.pbx import pbx_context
from web.views import (
    admin,
    agent,
    auth,
    callbacks,
    calls,
    campaigns,
    churn,
    customers,
    do_not_call,
    docs,
    health,
    home,
    imports,
    opportunities,
    orders,
    outbound,
    pbx_link,
    products,
    service_requests,
    supervisor,
    what_if,
    ws,
)

HERE = Path(__file__).parent
log = structlog.get_logger("web")
# Room for a 1 MB field plus the rest of the form, so that oversize values get a field error.
MAX_BODY = 2 * 1024 * 1024
SESSION_SWEEP_SECONDS = 30.0
# The scheduled jobs of this instance (desk/scheduler.py).


def create_app(
    settings: Settings, *, clock: Clock = utc_now, migrate: bool = False
) -> web.Application:
    """Build the service. `migrate` brings the schema to head at start (the demo does)."""
    app = web.Application(
        middlewares=[request_context, authenticate, csrf], client_max_size=MAX_BODY
    )
    app[settings_key] = settings
    app[clock_key] = clock
    app[secret_key] = settings.effective_secret_key()
    app[metrics_key] = Metrics()
    app[passwords_key] = Passwords(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    app[session_policy_key] = SessionPolicy(
        idle=timedelta(minutes=settings.session_idle_minutes),
        remember=timedelta(days=settings.remember_me_days),
        touch_every=timedelta(seconds=settings.session_touch_seconds),
        max_age=timedelta(hours=settings.session_max_hours),
        remember_max_age=timedelta(days=settings.remember_me_max_days),
    )
    app[login_limits_key] = LoginLimits(
        window=timedelta(minutes=settings.login_window_minutes),
        per_account=settings.login_max_failures_per_account,
        per_client=settings.login_max_failures_per_client,
        first_delay=timedelta(seconds=settings.login_first_delay_seconds),
        max_delay=timedelta(seconds=settings.login_max_delay_seconds),
    )

    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    for module in (
        auth,
        home,
        admin,
        agent,
        imports,  # before customers and products: /customers/import is not a customer id
        customers,
        products,
        orders,
        service_requests,
        callbacks,
        opportunities,
        churn,
        campaigns,
        do_not_call,
        supervisor,
        pbx_link,
        docs,
        health,
        ws,
    ):
        app.router.add_routes(module.routes)
    api = app[api_key] = Api(
        endpoints.api,
        agent.api,
        calls.api,
        customers.api,
        imports.api,
        products.api,
        orders.api,
        service_requests.api,
        callbacks.api,
        opportunities.api,
        churn.api,
        campaigns.api,
        do_not_call.api,
        outbound.api,
        what_if.api,
    )
    api.add_to(app)
    app.router.add_static("/static", HERE / "static", name="static", append_version=True)

    app.cleanup_ctx.append(loop_lag_context)  # first: it watches the others start and stop
    app.cleanup_ctx.append(_database(migrate))
    app.cleanup_ctx.append(_bus_and_hub)
    app.cleanup_ctx.append(pbx_context)
    app.cleanup_ctx.append(_scheduled_jobs)
    app.cleanup_ctx.append(what_if.what_if_pool)
    app.on_shutdown.append(_close_websockets)
    app.on_response_prepare.append(add_security_headers)
    return app


def _database(migrate: bool):  # type: ignore[no-untyped-def]
    async def database(app: web.Application) -> AsyncIterator[None]:
        settings = app[settings_key]
        if settings.is_sqlite:
            # Only our user may read the database (the file itself: crm_core.db).
            settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        engine = create_engine(settings.effective_database_url)
        if migrate:
            await upgrade_to_head(engine)
        else:
            await _refuse_an_old_schema(engine)
        app[engine_key] = engine
        app[db_key] = session_factory(engine)
        yield
        await engine.dispose()

    return database


async def _refuse_an_old_schema(engine: AsyncEngine) -> None:
    """A database behind the code would fail on every request: say so at start. One that
    cannot be reached is no reason not to start (/readyz says it)."""
    try:
        async with asyncio.timeout(10):
            current = await current_revision(engine)
    except Exception as exc:
        log.warning("app.schema_unchecked", error=f"{type(exc).__name__}: {exc}"[:300])
        return
    head = head_revision()
    if current != head:
        await engine.dispose()
        raise SchemaBehind(
            f"the database is at migration {current or 'none'}, this version "
            f"needs {head}: run `callcentre migrate` (or `serve --migrate`)"
        )


class SchemaBehind(RuntimeError):
    pass


async def _bus_and_hub(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    bus = create_bus(settings.redis_url)
    await bus.start()
    notifier = Notifier(bus)
    hub = Hub(notifier=notifier, metrics=app[metrics_key], permissions_of=_permissions_of(app))
    await hub.start()
    # Commands go to the instance driving the PBX link; only through Redis can that be another.
    router = CommandRouter(
        notifier, forward=bus.kind == "redis", deadline=settings.command_deadline
    )
    await router.start()
    app[bus_key] = bus
    app[notifier_key] = notifier
    app[hub_key] = hub
    app[desk_key] = Desk(
        db=app[db_key],
        clock=app[clock_key],
        notifier=notifier,
        router=router,
        region=settings.default_region,
        interface_template=settings.agent_interface,
        default_queues=settings.agent_default_queues,
        queue_dids=settings.queue_dids,
        dial_rules=DialRules(
            region=settings.default_region,
            internal_lengths=frozenset(settings.dial_internal_lengths),
            internal_prefixes=tuple(settings.dial_internal_prefixes),
            allowed_regions=frozenset(settings.dial_allowed_regions),
            refused_types=frozenset(settings.dial_refused_types),
            fictional_prefixes=tuple(settings.dial_fictional_prefixes),
        ),
    )

    app[outbound_key] = OutboundDesk(
        db=app[db_key],
        clock=app[clock_key],
        desk=app[desk_key],
        default_trunk=settings.dialer_trunk,
        region=settings.default_region,
    )

    async def over_among(ids: list[str]) -> dict[str, str]:
        async with app[db_key]() as db:
            return await sessions.over_among(db, ids, now=app[clock_key]())

    sweeper = asyncio.create_task(
        sweep_ended_sessions(hub, over_among, SESSION_SWEEP_SECONDS), name="ws-session-sweep"
    )
    log.info("app.started", bus=bus.kind)
    yield
    sweeper.cancel()
    await bus.close()


async def _scheduled_jobs(app: web.Application) -> AsyncIterator[None]:
    """The churn check on its cron schedule, on every instance: each occurrence is run by
    the one that claims it first; one missed while all were down runs at start."""
    settings = app[settings_key]
    job = churn_job(schedule=settings.churn_schedule, months=settings.churn_months)
    scheduler = app[scheduler_key] = Scheduler(db=app[db_key], clock=app[clock_key], jobs=[job])
    await scheduler.start()
    yield
    await scheduler.stop()


def _permissions_of(app: web.Application) -> PermissionsOf:
    async def permissions_of(user_ids: list[int]) -> dict[int, frozenset[str]]:
        async with app[db_key]() as db:
            return await current_permissions(db, user_ids)

    return permissions_of


async def _close_websockets(app: web.Application) -> None:
    # On shutdown, before aiohttp waits for handlers: open sockets would hold it up.
    await app[hub_key].close()
