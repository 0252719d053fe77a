"""The `callcentre` command: serve, demo, migrate, create-user, load-demo-data, simulator."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import os
import sys
import time
from collections.abc import Sequence

import structlog
from aiohttp import web

from config.logs import configure_logging
from config.settings import Settings, load_settings
from crm_core.audit import Actor
from crm_core.clock import utc_now
from crm_core.db import create_engine, session_factory
from crm_core.demo import load_demo_customers, load_demo_users
from crm_core.demo_data import DemoPlan, LoadReport, check_empty, load_demo_data
from crm_core.errors import Conflict
from crm_core.migrate import upgrade_to_head
from crm_core.passwords import Passwords
from crm_core.schemas import UserCreate
from crm_core.uow import UnitOfWork
from crm_core.users import UserService
from dialer.demo import load_demo_campaign
from pbxsim import __main__ as simulator_cli
from web.app import SchemaBehind, create_app
from web.inputs import BadInput, validate

log = structlog.get_logger("cli")


def _passwords(settings: Settings) -> Passwords:
    return Passwords(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


async def _migrate(settings: Settings) -> None:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.effective_database_url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


async def _load_demo(settings: Settings) -> list:
    engine = create_engine(settings.effective_database_url)
    try:
        async with UnitOfWork(session_factory(engine)) as uow:
            users = await load_demo_users(
                uow.session, passwords=_passwords(settings), clock=utc_now
            )
            created = await load_demo_customers(uow.session, clock=utc_now)
            await load_demo_campaign(uow.session, clock=utc_now)
            await uow.commit()
        if created:
            print(f"created {created} demo customers", flush=True)
        return users
    finally:
        await engine.dispose()


async def _load_demo_at_size(
    settings: Settings, customers: int, seed: int
) -> tuple[list, LoadReport]:
    """The demo users, then a generated CRM of ``customers`` (crm_core.demo_data) as of today
    (midnight UTC: the same seed gives the same rows all day). Refused (Conflict) when the
    database holds customers, before anything is written."""
    engine = create_engine(settings.effective_database_url)
    try:
        async with engine.connect() as conn:
            await check_empty(conn)
        async with UnitOfWork(session_factory(engine)) as uow:
            users = await load_demo_users(
                uow.session, passwords=_passwords(settings), clock=utc_now
            )
            await uow.commit()
        today = utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
        plan = DemoPlan(customers=customers, now=today, seed=seed)
        async with engine.begin() as conn:
            report = await load_demo_data(
                conn, plan, progress=lambda line: print(line, file=sys.stderr, flush=True)
            )
        return users, report
    finally:
        await engine.dispose()


async def _create_user(settings: Settings, data: UserCreate) -> int:
    engine = create_engine(settings.effective_database_url)
    try:
        async with UnitOfWork(session_factory(engine)) as uow:
            service = UserService(uow.session, passwords=_passwords(settings), clock=utc_now)
            user = await service.create(data, Actor(user_id=None, name="cli"))
            await uow.commit()
            return user.id
    finally:
        await engine.dispose()


async def _freeze_the_startup_heap(_app: web.Application) -> None:
    """Everything made while starting lives as long as the process: out of the collector's
    way, so that a full collection (tens of milliseconds over it) no longer stalls the loop,
    and with it every pop, now and then."""
    gc.collect()
    gc.freeze()


def _serving(settings: Settings, *, migrate: bool) -> web.Application:
    app = create_app(settings, migrate=migrate)
    app.on_startup.append(_freeze_the_startup_heap)
    return app


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    app = _serving(settings, migrate=args.migrate)
    log.info("serve.listening", host=settings.host, port=settings.port)
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    except SchemaBehind as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    asyncio.run(_migrate(settings))
    users = asyncio.run(_load_demo(settings))
    url = f"http://{settings.host}:{settings.port}"
    lines = [
        f"\nCall-centre CRM demo on {url}  (data in {settings.data_dir.resolve()})",
        "Demo users (user name / password / roles):",
    ]
    for demo, _new in users:
        lines.append(f"  {demo.username:<10} {demo.password:<22} {', '.join(demo.roles)}")
    print("\n".join(lines) + "\n", flush=True)
    app = _serving(settings, migrate=False)

    async def ready(_app: web.Application) -> None:
        log.info("demo.ready", url=url, seconds=round(time.perf_counter() - started, 2))

    app.on_startup.append(ready)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(_migrate(settings))
    print("database is at the latest migration")
    return 0


def cmd_load_demo_data(settings: Settings, args: argparse.Namespace) -> int:
    if args.customers is None:
        users = asyncio.run(_load_demo(settings))
    else:
        try:
            users, report = asyncio.run(_load_demo_at_size(settings, args.customers, args.seed))
        except Conflict as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        rows = ", ".join(f"{count:,} {table}" for table, count in report.rows.items())
        print(f"loaded in {report.seconds:.0f} s: {rows}", flush=True)
    for demo, new in users:
        state = "created" if new else "exists"
        print(f"{demo.username:<10} {demo.password:<22} {state}")
    return 0


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return number


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    password = os.environ.get("CALLCENTRE_NEW_PASSWORD") or getpass.getpass("Password: ")
    try:
        data = validate(
            UserCreate,
            {
                "username": args.username,
                "display_name": args.name or args.username,
                "password": password,
                "roles": args.role or [],
                **({"extension": args.extension} if args.extension else {}),
            },
        )
        user_id = asyncio.run(_create_user(settings, data))
    except BadInput as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except Exception as exc:
        message = getattr(exc, "message", str(exc))
        print(f"error: {message}", file=sys.stderr)
        return 1
    print(f"created user {data.username} (id {user_id})")
    return 0


def cmd_simulator(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(simulator_cli.run(args))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcentre", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service (settings from CALLCENTRE_* / TOML)")
    serve.add_argument("--migrate", action="store_true", help="migrate the database first")
    serve.set_defaults(func=cmd_serve)
    demo = sub.add_parser("demo", help="everything embedded, with demo users, on localhost")
    demo.add_argument("--port", type=int, default=None)
    demo.add_argument("--data-dir", default=None)
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("migrate", help="bring the database to the latest schema").set_defaults(
        func=cmd_migrate
    )
    load = sub.add_parser(
        "load-demo-data",
        help="create the demo users (and the demo customers); with --customers N, a whole "
        "generated CRM of N customers instead (into a database without customers)",
    )
    load.add_argument("--customers", type=_positive, default=None, metavar="N")
    load.add_argument("--seed", type=int, default=1, help="the same seed, the same rows")
    load.set_defaults(func=cmd_load_demo_data)
    create = sub.add_parser(
        "create-user", help="create a user (password from CALLCENTRE_NEW_PASSWORD or a prompt)"
    )
    create.add_argument("username")
    create.add_argument("--name", help="full name")
    create.add_argument("--role", action="append", help="a role; repeat for several")
    create.add_argument("--extension", help="phone extension")
    create.set_defaults(func=cmd_create_user)
    simulator = sub.add_parser(
        "simulator",
        help="run the PBX simulator alone (AMI over TCP)",
        description=simulator_cli.DESCRIPTION,
    )
    simulator_cli.add_arguments(simulator)
    simulator.set_defaults(func=cmd_simulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides: dict[str, object] = {}
    if args.command == "demo":
        overrides["log_format"] = os.environ.get("CALLCENTRE_LOG_FORMAT", "console")
        if args.port is not None:
            overrides["port"] = args.port
        if args.data_dir:
            overrides["data_dir"] = args.data_dir
        elif "CALLCENTRE_DATA_DIR" not in os.environ:
            overrides["data_dir"] = "demo-data"
    settings = load_settings(**overrides)
    configure_logging(settings.log_format, settings.log_level)
    return int(args.func(settings, args))


if __name__ == "__main__":
    sys.exit(main())
