"""panoramisk's AMI protocol with our framing and our writer.

panoramisk (1.4) decodes each TCP chunk before framing it, drops undecodable bytes, builds a
dict per event and dispatches through fnmatch patterns with fire-and-forget callbacks; it writes
header values unescaped and, when a link drops, queues unanswered actions to send again. Through
its `protocol_factory` option this class keeps what it does well (matching responses to actions
by ActionID, list responses) and replaces the rest: bytes are framed by `cti.ami.framing`, every
event goes synchronously to one sink, actions are written by our serialiser (which refuses
CR/LF), and pending actions fail with `LinkDown` instead of being re-sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any, Protocol

from panoramisk import actions as pk_actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from cti.ami.actions import Action
from cti.ami.errors import LinkDown
from cti.ami.framing import AmiFrameParser, Frame


class FrameSink(Protocol):
    def on_event(self, frame: Frame, at: float) -> None: ...
    def on_bad_frame(self, frame: Frame) -> None: ...
    def on_unmatched_response(self, frame: Frame) -> None: ...
    def on_connection_lost(self, exc: BaseException | None) -> None: ...


def to_message(frame: Frame) -> Message:
    """A panoramisk Message (repeated keys become lists) for the response matcher."""
    return Message(_collapse(frame.headers))


class FramedProtocol(AMIProtocol):
    sink: FrameSink | None = None

    def __init__(self, wanted_events: frozenset[str] | None = None) -> None:
        super().__init__()
        self.wanted_events = wanted_events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.parser = AmiFrameParser(wanted_events=self.wanted_events)
        self.last_received = time.monotonic()
        self.last_heard = time.time()  # wall time: the last moment the PBX was known alive

    def data_received(self, data: bytes) -> None:
        at = self.last_heard = time.time()
        self.last_received = time.monotonic()
        sink = self.sink
        responses = self.responses
        for frame in self.parser.feed(data):
            kind = frame.kind
            if kind == "event":
                # Most events answer nothing of ours: look only while an action waits.
                if responses and frame.action_id in responses:
                    self._answer(frame)
                    # List items answer our own question; an OriginateResponse is news too.
                    if frame.name != "OriginateResponse":
                        continue
                if sink is not None:
                    sink.on_event(frame, at)
                if frame.name == "Shutdown":
                    self.transport.close()
            elif kind == "response":
                if frame.action_id in self.responses:
                    self._answer(frame)
                elif sink is not None:
                    sink.on_unmatched_response(frame)
            elif sink is not None:
                sink.on_bad_frame(frame)

    def _answer(self, frame: Frame) -> None:
        message = to_message(frame)
        message.frame = frame  # list actions hand their items on as frames
        pending = self.responses.get(message.action_id)
        if pending is not None and pending.add_message(message):
            self.responses.pop(pending.id, None)

    def send_action(self, action: Action, *, as_list: bool = False) -> asyncio.Future[Any]:
        """Write the action and return the future of its response(s)."""
        payload = action.to_bytes()  # validated: no CR/LF can reach the wire
        pending = pk_actions.Action(dict(_collapse(action.pairs())), as_list=as_list)
        self.responses[action.action_id] = pending
        self.transport.write(payload)
        return pending.future

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()
        if self.sink is not None:
            self.sink.on_connection_lost(exc)

    def close(self) -> None:
        # Unlike panoramisk, never queue unanswered actions for a later link: an Originate sent
        # twice is a customer called twice. The caller decides, knowing the ChannelId.
        for pending in list(self.responses.values()):
            if not pending.future.done():
                pending.future.set_exception(LinkDown("the AMI link dropped"))
        self.responses.clear()
        if not self.closed:
            self.closed = True
            self.transport.close()


def _collapse(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out
