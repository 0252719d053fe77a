"""Demo data: one user per role (with a known password, printed by `demo`), and the demo's
customers with their history."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import SYSTEM
from crm_core.clock import Clock
from crm_core.demo_data import DemoPlan, FixedCustomer, load_demo_data
from crm_core.models import Customer
from crm_core.passwords import Passwords
from crm_core.schemas import UserCreate
from crm_core.users import UserService


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    display_name: str
    roles: tuple[str, ...]
    extension: str | None = None

    @property
    def password(self) -> str:
        return f"{self.username}-demo-pass"


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "Ada Admin", ("admin",)),
    DemoUser("pbx", "Pat PBX", ("pbx_admin",)),
    DemoUser("lead", "Lee Lead", ("team_lead",)),
    DemoUser("sales", "Sam Sales", ("sales_manager",)),
    DemoUser("account", "Alex Account", ("account_manager",)),
    DemoUser("agent1", "Ann Agent", ("inbound_agent",), "1001"),
    DemoUser("agent2", "Bo Agent", ("inbound_agent",), "1002"),
    DemoUser("outbound1", "Olga Outbound", ("outbound_agent",), "1101"),
    DemoUser("service", "Sol Service", ("service_staff",)),
)


async def load_demo_users(
    session: AsyncSession, *, passwords: Passwords, clock: Clock
) -> list[tuple[DemoUser, bool]]:
    """Create the demo users that do not exist yet. Returns each user and whether it is new.
    The caller commits."""
    service = UserService(session, passwords=passwords, clock=clock)
    result = []
    for demo in DEMO_USERS:
        exists = await service.by_username(demo.username) is not None
        if not exists:
            await service.create(
                UserCreate(
                    username=demo.username,
                    display_name=demo.display_name,
                    password=demo.password,
                    roles=list(demo.roles),
                    extension=demo.extension,
                ),
                SYSTEM,
            )
        result.append((demo, not exists))
    return result


_FIRST = (
    "Ana",
    "Ben",
    "Chen",
    "Dara",
    "Emil",
    "Fatima",
    "Goran",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Vera",
    "Wei",
    "Xenia",
    "Yusuf",
    "Zoe",
)
_LAST = (
    "Almeida",
    "Brown",
    "Chowdhury",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Huang",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "López",
    "Müller",
    "Nakamura",
    "O'Brien",
    "Petrov",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ulrich",
    "Virtanen",
    "Wang",
    "Yilmaz",
    "Zhang",
)
_COMPANY = ("Trading", "Logistics", "Bakery", "Clinic", "Studio", "Motors", "Foods", "Tech")
_LEVELS = ("vip", "gold", "silver", "standard", "standard", "standard")
_REGIONS = ("north", "south", "east", "west", "central")
DEMO_CUSTOMERS = 3000


def demo_customer(n: int) -> tuple[str, str, str, str]:
    """The n-th demo customer: name, phone (+1 555 …), level, region. Deterministic, so the
    simulator can call from the same numbers."""
    first, last = _FIRST[n % len(_FIRST)], _LAST[(n * 7) % len(_LAST)]
    name = f"{first} {last}" if n % 3 else f"{last} {_COMPANY[n % len(_COMPANY)]}"
    return name, f"+1555{2_000_000 + n:07d}", _LEVELS[n % len(_LEVELS)], _REGIONS[n % 5]


# The simulator's known callers (demo_customer(n) with n % KNOWN_CALLER_EVERY == 0, as
# web/simulated_pbx.py picks them) keep their names; every demo customer keeps its number.
KNOWN_CALLER_EVERY = 7
DEMO_SEED = 2026


def _demo_identity(n: int) -> FixedCustomer:
    name, number, level, region = demo_customer(n)
    raw = f"(555) {number[5:8]}-{number[8:]}"
    if n % KNOWN_CALLER_EVERY:
        return FixedCustomer(e164=number, raw=raw)
    return FixedCustomer(
        e164=number, raw=raw, name=name, level=level, region=region, company=n % 3 == 0
    )


async def load_demo_customers(
    session: AsyncSession, *, clock: Clock, count: int = DEMO_CUSTOMERS
) -> int:
    """Create the demo customers with their history (crm_core.demo_data: orders, service
    requests, calls, opportunities, churn warnings) unless there are customers already;
    returns how many. Customer n owns demo_customer(n)'s number. The caller commits."""
    if await session.scalar(select(func.count()).select_from(Customer)):
        return 0
    plan = DemoPlan(customers=count, now=clock(), seed=DEMO_SEED, fixed=_demo_identity)
    await load_demo_data(await session.connection(), plan)
    return count
