"""Demo data: one user per role (with a known password, printed by `demo`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import SYSTEM
from crm_core.clock import Clock
from crm_core.customers import name_key
from crm_core.models import Contact, Customer, Order, PhoneNumber, ServiceRequest
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


async def load_demo_customers(
    session: AsyncSession, *, clock: Clock, count: int = DEMO_CUSTOMERS
) -> int:
    """Create the demo customers unless there are customers already; returns how many.
    The caller commits."""
    if await session.scalar(select(func.count()).select_from(Customer)):
        return 0
    now = clock()
    for n in range(count):
        name, number, level, region = demo_customer(n)
        customer = Customer(
            name=name,
            name_key=name_key(name),
            level=level,
            region=region,
            churn_flag=n % 17 == 0,
            account_number=f"AC-{100000 + n}",
            created_at=now,
            updated_at=now,
        )
        customer.numbers = [
            PhoneNumber(raw=f"(555) {number[5:8]}-{number[8:]}", e164=number, label="main")
        ]
        if n % 4 == 0:
            customer.contacts = [
                Contact(
                    name=f"{_FIRST[(n + 5) % len(_FIRST)]} {_LAST[n % len(_LAST)]}",
                    title="Buyer",
                    is_primary=True,
                )
            ]
        session.add(customer)
        _demo_history(customer, n, now)
    return count


_ITEMS = ("office chairs", "printer toner", "standing desk", "monitor arms", "paper, 40 boxes")
_REQUESTS = (
    "Delivery arrived damaged",
    "Invoice shows the wrong address",
    "Warranty repair",
    "Wants to change the delivery date",
)


def _demo_history(customer: Customer, n: int, now: datetime) -> None:
    """Some customers have open orders and service requests, so the demo's cards show them."""
    if n % 3 == 0:
        customer.orders = [
            Order(
                reference=f"SO-{50000 + n}",
                status="confirmed",
                summary=_ITEMS[n % len(_ITEMS)],
                amount_cents=1990 + n * 37,
                currency="USD",
                placed_at=now - timedelta(days=n % 20),
            )
        ]
    if n % 5 == 0:
        customer.service_requests = [
            ServiceRequest(
                subject=_REQUESTS[n % len(_REQUESTS)],
                status="open",
                service_type="repair",
                opened_at=now - timedelta(days=n % 9),
            )
        ]
