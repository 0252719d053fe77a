"""Demo data: one user per role (with a known password, printed by `demo`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import SYSTEM
from crm_core.clock import Clock
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
    """Create the demo users that do not exist yet. Returns each user and whether it is new."""
    service = UserService(session, passwords=passwords, clock=clock)
    result = []
    for demo in DEMO_USERS:
        exists = await service.by_username(demo.username) is not None
        if not exists:
            await service.create(
                UserCreate(username=demo.username, display_name=demo.display_name,
                           password=demo.password, roles=list(demo.roles),
                           extension=demo.extension),
                SYSTEM,
            )
        result.append((demo, not exists))
    await session.commit()
    return result
