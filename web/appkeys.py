"""Every piece of typed app state, in one place."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from config.settings import Settings
from crm_core.auth import LoginLimits
from crm_core.clock import Clock
from crm_core.passwords import Passwords
from crm_core.sessions import SessionPolicy
from cti.bus import Bus
from desk.commands import Desk
from desk.notifications import Notifier

settings_key = web.AppKey("settings", Settings)
clock_key = web.AppKey("clock", Clock)
engine_key = web.AppKey("engine", AsyncEngine)
db_key = web.AppKey("db", async_sessionmaker)
passwords_key = web.AppKey("passwords", Passwords)
session_policy_key = web.AppKey("session_policy", SessionPolicy)
login_limits_key = web.AppKey("login_limits", LoginLimits)
bus_key = web.AppKey("bus", Bus)
hub_key = web.AppKey("hub", "Hub")
api_key = web.AppKey("api", "Api")  # the JSON API's operations, for routing and OpenAPI
metrics_key = web.AppKey("metrics", "Metrics")
secret_key = web.AppKey("secret", str)
notifier_key = web.AppKey("notifier", Notifier)
desk_key = web.AppKey("desk", Desk)
# The PBX side: the lease, the desk's workers, and the link's runtime while this instance drives.
pbx_key = web.AppKey("pbx", "PbxSide")
simulator_key = web.AppKey("simulator", "RunningSimulator")
scheduler_key = web.AppKey("scheduler", "Scheduler")
outbound_key = web.AppKey("outbound", "OutboundDesk")  # dialer.outbound: the outbound agent

# Per-request state.
principal_key = web.RequestKey("principal", "Principal")
request_id_key = web.RequestKey("request_id", str)
form_key = web.RequestKey("form", dict)
