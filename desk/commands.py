"""The desk's commands: what an agent's desktop (and later the dialer) asks for. Views parse
input and call these; nothing here knows HTTP.

Each command is checked against the CRM on the instance that received it (the user's phone,
the customer, the pause reason), then the PBX part runs on the instance that drives the PBX
link: here if it is this one, else forwarded over the bus (``CommandRouter``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core import errors
from crm_core.cards import customer_card
from crm_core.clock import Clock
from crm_core.dial_rules import DIAL_ANY, DialRules, NotDialable
from crm_core.dictionary import DictionaryService
from crm_core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unavailable
from crm_core.models import PhoneNumber, User
from crm_core.permissions import allows
from crm_core.schemas import pbx_reason
from cti.devices import interface_for
from desk import notifications as note
from desk.call_control import Command
from desk.workers import background

log = structlog.get_logger("desk.commands")
COMMAND_DEADLINE = 5.0  # seconds a forwarded command may take before the sender gives up
# The errors a forwarded command may come back with, by name.
_ERRORS: dict[str, type[DomainError]] = {
    cls.__name__: cls
    for cls in (
        errors.Conflict,
        errors.NotFound,
        errors.InvalidInput,
        errors.Refused,
        errors.Unavailable,
        errors.UpstreamFailed,
    )
}


@dataclass(frozen=True, slots=True)
class Phone:
    user: User
    interface: str


class CommandRouter:
    """Runs a PBX command where the link is driven. ``local`` is set while this instance
    drives it; otherwise the command goes over the bus to the instance that does."""

    def __init__(
        self, notifier: note.Notifier, *, forward: bool, deadline: float = COMMAND_DEADLINE
    ) -> None:
        self.notifier = notifier
        self.forward = forward  # False: one instance only (no other could drive the link)
        self.deadline = deadline
        self.local: dict[str, Command] | None = None
        self._waiting: dict[str, asyncio.Future[note.CommandReply]] = {}

    async def start(self) -> None:
        await self.notifier.subscribe(note.CommandRequest, self._on_request)
        await self.notifier.subscribe(note.CommandReply, self._on_reply)

    async def run(self, command: str, **arguments: Any) -> dict[str, Any]:
        if self.local is not None:
            return await self.local[command](**arguments)
        if not self.forward:
            raise Unavailable("no PBX is connected to this service (settings: pbx)")
        return await self._forwarded(command, arguments)

    async def _forwarded(self, command: str, arguments: dict[str, Any]) -> dict[str, Any]:
        request_id = uuid.uuid4().hex
        reply: asyncio.Future[note.CommandReply] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = reply
        try:
            try:
                await self.notifier.publish(
                    note.CommandRequest(
                        request_id=request_id,
                        command=command,
                        arguments=arguments,
                        deadline=time.time() + self.deadline,
                    )
                )
            except Exception as exc:  # the bus is down: nothing was sent
                raise Unavailable("the message bus is down; try again in a moment") from exc
            try:
                async with asyncio.timeout(self.deadline):
                    answer = await reply
            except TimeoutError as exc:
                raise Unavailable(
                    "no instance is driving the PBX link; try again in a moment"
                ) from exc
        finally:
            self._waiting.pop(request_id, None)
        if answer.ok:
            return answer.result
        raise _ERRORS.get(answer.error, Unavailable)(answer.message)

    def _on_request(self, request: note.CommandRequest) -> None:
        if self.local is None or request.command not in self.local:
            return  # not the driver: the driver answers
        if time.time() > request.deadline:
            log.warning("command.too_late", command=request.command)
            return  # the sender gave up: doing it now would surprise them
        background(self._execute(request), what=f"command {request.command}")

    async def _execute(self, request: note.CommandRequest) -> None:
        assert self.local is not None
        try:
            result = await self.local[request.command](**request.arguments)
            reply = note.CommandReply(request_id=request.request_id, ok=True, result=result)
        except DomainError as exc:
            reply = note.CommandReply(
                request_id=request.request_id,
                ok=False,
                error=type(exc).__name__,
                message=exc.message,
            )
        except Exception:
            log.exception("command.failed", command=request.command)
            reply = note.CommandReply(
                request_id=request.request_id,
                ok=False,
                error="Unavailable",
                message="the command failed",
            )
        await self.notifier.publish(reply)

    def _on_reply(self, reply: note.CommandReply) -> None:
        waiting = self._waiting.get(reply.request_id)
        if waiting is not None and not waiting.done():
            waiting.set_result(reply)


class Desk:
    def __init__(
        self,
        *,
        db: async_sessionmaker,
        clock: Clock,
        notifier: note.Notifier,
        router: CommandRouter,
        region: str,
        interface_template: str,
        default_queues: list[str],
        queue_dids: Mapping[str, str] | None = None,
        dial_rules: DialRules | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.notifier = notifier
        self.router = router
        self.region = region
        self.interface_template = interface_template
        self.default_queues = default_queues
        self.dial_rules = dial_rules or DialRules(region=region)
        self.queue_dids = dict(queue_dids or {})  # queue -> the number that reaches it

    async def phone_of(self, user_id: int) -> Phone:
        """The user and their phone's queue-member interface."""
        async with self.db() as db:
            user = await db.get(User, user_id)
        if user is None or not user.extension:
            raise Conflict("your user has no phone extension")
        return Phone(user, interface_for(user.extension, self.interface_template))

    async def dial(
        self,
        user_id: int,
        number: str,
        customer_id: int | None = None,
        *,
        permissions: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Click-to-call: the agent's phone rings first, then the number is dialled: an
        internal number as typed, any other as E.164 if the dial rules allow it (with the
        caller's ``permissions``). A refusal happens here, before the PBX hears of it."""
        try:
            target = self.dial_rules.target(number)
        except NotDialable as exc:
            raise InvalidInput(exc.reason, field="number") from exc
        phone = await self.phone_of(user_id)
        found = None
        if not target.internal:  # on a customer record, any number may be dialled
            async with self.db() as db:
                found = await db.scalar(
                    select(PhoneNumber.id).where(PhoneNumber.e164 == target.number).limit(1)
                )
        try:
            self.dial_rules.check(
                target, on_record=found is not None, may_dial_any=allows(permissions, DIAL_ANY)
            )
        except NotDialable as exc:
            # A rule a permission would lift is a refusal; an impossible number is bad input.
            refusal = Forbidden if exc.by_rule else InvalidInput
            raise refusal(exc.reason, field="number") from exc
        card = None
        if customer_id:
            async with self.db() as db:
                card = await customer_card(db, customer_id)
            if card is None:
                raise NotFound(f"no customer {customer_id}")
        tags = {"user_id": str(user_id)}
        if customer_id:
            tags["customer_id"] = str(customer_id)
        placed = await self.router.run(
            "dial",
            interface=phone.interface,
            number=target.number,
            tags=tags,
            caller_id=f'"{_quotable(phone.user.display_name)}" <{phone.user.extension}>',
        )
        return {**placed, "number": target.number, "card": card}

    async def hang_up(self, user_id: int) -> dict[str, Any]:
        return await self._on_my_phone(user_id, "hang_up")

    async def transfer(self, user_id: int, kind: str, target: str) -> dict[str, Any]:
        """Only to a colleague's phone or a queue: a number the PBX does not route would drop
        the customer (a blind transfer) with nothing to go back to."""
        directory = await self._transfer_directory(exclude=user_id)
        if target not in {a["extension"] for a in directory} | set(self.queue_dids.values()):
            raise InvalidInput(
                f"{target!r} is neither a colleague's extension nor a queue: "
                "choose someone from the transfer list",
                field="target",
            )
        return await self._on_my_phone(user_id, "transfer", kind=kind, target=target)

    async def transfer_targets(self, user_id: int) -> dict[str, Any]:
        """Who and where a call can be transferred to, with each colleague's status now."""
        agents = await self._transfer_directory(exclude=user_id)
        try:
            statuses = (await self.router.run("statuses"))["agents"]
        except Unavailable:
            statuses = {}  # no PBX link: the list still stands, without availability
        return {
            "agents": [
                {**agent, "status": statuses.get(agent["extension"], "logged_out")}
                for agent in agents
            ],
            "queues": [{"queue": q, "number": n} for q, n in sorted(self.queue_dids.items())],
        }

    async def _transfer_directory(self, *, exclude: int) -> list[dict[str, Any]]:
        async with self.db() as db:
            rows = await db.execute(
                select(User.id, User.extension, User.display_name)
                .where(User.extension.is_not(None), User.is_active.is_(True), User.id != exclude)
                .order_by(User.display_name)
            )
        return [
            {"extension": extension, "name": name}
            for _id, extension, name in rows.all()
            if extension
        ]

    async def complete_transfer(self, user_id: int) -> dict[str, Any]:
        return await self._on_my_phone(user_id, "complete_transfer")

    async def cancel_transfer(self, user_id: int) -> dict[str, Any]:
        return await self._on_my_phone(user_id, "cancel_transfer")

    async def _on_my_phone(
        self,
        user_id: int,
        command: str,
        **arguments: Any,
    ) -> dict[str, Any]:
        phone = await self.phone_of(user_id)
        return await self.router.run(command, interface=phone.interface, **arguments)

    async def set_state(
        self, user_id: int, state: str, reason: str | None, queues: list[str] | None
    ) -> dict[str, Any]:
        pbx_reason(reason)  # refused before anything reaches the PBX
        if state == "paused":
            async with self.db() as db:
                codes = {
                    e.code
                    for e in await DictionaryService(db, clock=self.clock).entries(
                        "pause_reason", active_only=True
                    )
                }
            if reason not in codes:
                raise InvalidInput("choose a pause reason from the dictionary", field="reason")
        phone = await self.phone_of(user_id)
        return await self.router.run(
            "set_state",
            interface=phone.interface,
            state=state,
            reason=reason,
            queues=queues or self.default_queues,
            member_name=phone.user.display_name,
        )


def _quotable(name: str) -> str:
    """A display name fit for a quoted caller ID: no quotes or angle brackets inside."""
    return "".join(c for c in name if c not in '"<>\\')[:40]
