"""Generator-driven activities on the simulated clock (in the manner of SimPy).

A channel running its dialplan, a queue ringing its members, a scenario feeding calls: each is a
generator that yields what it waits for, so its steps read in order:

* ``yield 2.0`` sleeps two simulated seconds;
* ``yield signal`` waits until ``signal.fire(value)`` and returns the value;
* ``yield Wait((a, b), timeout=15)`` waits for the first of several signals, or the timeout, and
  returns ``(signal, value)`` or ``(None, None)``.

``interrupt(exc)`` throws ``exc`` into the generator at the point where it waits (a hangup during
``Wait(20)``). Everything runs synchronously on the scheduler, so the order of what processes do
is the order of the code, the same on every run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from pbxsim.clock import Scheduler, Timer

log = logging.getLogger(__name__)

Steps = Generator[Any, Any, Any]


class Signal:
    """A one-shot happening that processes can wait for; later waiters see it at once."""

    __slots__ = ("_waiters", "fired", "value")

    def __init__(self) -> None:
        self.fired = False
        self.value: Any = None
        self._waiters: list[Callable[[Signal, Any], None]] | None = None

    def fire(self, value: Any = None) -> None:
        if self.fired:
            return
        self.fired, self.value = True, value
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            waiter(self, value)

    def subscribe(self, waiter: Callable[[Signal, Any], None]) -> None:
        if self.fired:
            waiter(self, self.value)
        elif self._waiters is None:
            self._waiters = [waiter]
        else:
            self._waiters.append(waiter)

    def unsubscribe(self, waiter: Callable[[Signal, Any], None]) -> None:
        if self._waiters and waiter in self._waiters:
            self._waiters.remove(waiter)


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait for the first of ``signals`` to fire, or ``timeout`` seconds."""

    signals: tuple[Signal, ...]
    timeout: float | None = None


_SEND, _THROW = 0, 1
_SLEEP, _ONE, _ANY = 0, 1, 2


class Process:
    """Runs one generator on a scheduler; see the module docstring for what it may yield."""

    __slots__ = (
        "_done",
        "_finished",
        "_gen",
        "_pending",
        "_result",
        "_running",
        "_timer",
        "_wait_kind",
        "_waiting_on",
        "error",
        "name",
        "on_error",
        "scheduler",
    )

    def __init__(
        self,
        scheduler: Scheduler,
        steps: Steps,
        *,
        name: str = "",
        on_error: Callable[[Process, BaseException], None] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.name = name
        self.on_error = on_error
        self._done: Signal | None = None
        self._finished = False
        self._result: object = None
        self.error: BaseException | None = None
        self._gen = steps
        self._running = False
        self._pending: BaseException | None = None
        self._timer: Timer | None = None
        self._waiting_on: tuple[Signal, ...] = ()
        self._wait_kind = _SLEEP

    @property
    def alive(self) -> bool:
        return not self._finished

    @property
    def done(self) -> Signal:
        """Fired with the generator's return value when it finishes."""
        if self._done is None:
            self._done = Signal()
            if self._finished:
                self._done.fire(self._result)
        return self._done

    def _finish(self, value: object) -> None:
        self._finished, self._result = True, value
        if self._done is not None:
            self._done.fire(value)

    def start(self) -> Process:
        """Run the first steps now, synchronously."""
        self._advance(_SEND, None)
        return self

    def interrupt(self, exc: BaseException) -> None:
        """Throw ``exc`` into the generator where it waits (or at its next wait if running)."""
        if not self.alive:
            return
        if self._running:
            self._pending = exc
            return
        self._stop_waiting()
        self._advance(_THROW, exc)

    def _stop_waiting(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for signal in self._waiting_on:
            signal.unsubscribe(self._on_signal)
        self._waiting_on = ()

    def _on_timeout(self) -> None:
        self._timer = None
        kind = self._wait_kind
        self._stop_waiting()
        self._advance(_SEND, (None, None) if kind == _ANY else None)

    def _on_signal(self, signal: Signal, value: object) -> None:
        if signal not in self._waiting_on:
            return
        kind = self._wait_kind
        self._stop_waiting()
        self._advance(_SEND, (signal, value) if kind == _ANY else value)

    def _advance(self, mode: int, arg: object) -> None:
        while True:
            self._running = True
            try:
                command = self._gen.send(arg) if mode == _SEND else self._gen.throw(arg)
            except StopIteration as stop:
                self._running = False
                self._finish(stop.value)
                return
            except BaseException as exc:
                self._running = False
                self.error = exc
                self._finish(None)
                if self.on_error is None:
                    raise
                self.on_error(self, exc)
                return
            self._running = False
            if self._pending is not None:
                mode, arg, self._pending = _THROW, self._pending, None
                continue
            immediate = self._wait_for(command)
            if immediate is None:
                return
            mode, arg = _SEND, immediate[0]

    def _wait_for(self, command: object) -> tuple[object] | None:
        """Arrange to be resumed; a 1-tuple holding the value if it is available right now."""
        if isinstance(command, int | float):
            self._wait_kind = _SLEEP
            self._timer = self.scheduler.call_later(float(command), self._on_timeout)
            return None
        if isinstance(command, Signal):
            if command.fired:
                return (command.value,)
            self._wait_kind = _ONE
            self._waiting_on = (command,)
            command.subscribe(self._on_signal)
            return None
        if isinstance(command, Wait):
            for signal in command.signals:
                if signal.fired:
                    return ((signal, signal.value),)
            if command.timeout is not None and command.timeout <= 0:
                return ((None, None),)
            self._wait_kind = _ANY
            self._waiting_on = command.signals
            for signal in command.signals:
                signal.subscribe(self._on_signal)
            if command.timeout is not None:
                self._timer = self.scheduler.call_later(command.timeout, self._on_timeout)
            return None
        raise TypeError(f"process {self.name!r} yielded {command!r}; expected seconds or a Signal")
