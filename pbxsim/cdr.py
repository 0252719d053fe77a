"""Call detail records (``Cdr`` events, class ``cdr``), one or more per calling channel.

Asterisk's CDR engine opens a record for the party that places a call; every further dial
attempt, and every dialplan step after a finished dial, forks a new record. The simulator keeps
the same bookkeeping so that the number of ``Cdr`` events per channel matches a real system.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pbxsim.channels import Channel
from pbxsim.events import Header


@dataclass
class CdrRecord:
    destination_channel: str = ""
    disposition: str = "NO ANSWER"
    last_app: str = ""
    last_data: str = ""
    answered_at: float | None = None
    dial_finished: bool = False


class CdrBook:
    """The open records of one channel."""

    __slots__ = ("destination", "destination_context", "records", "started_at")

    def __init__(self, channel: Channel, started_at: float) -> None:
        self.started_at = started_at
        self.destination = channel.exten
        self.destination_context = channel.context
        self.records = [CdrRecord()]

    @property
    def current(self) -> CdrRecord:
        return self.records[-1]

    def app(self, channel: Channel, application: str, data: str) -> None:
        record = self.current
        if record.dial_finished and record.destination_channel:
            record = CdrRecord(answered_at=channel.answered_at)
            self.records.append(record)
        record.last_app, record.last_data = application, data
        if channel.answered_at is not None and record.answered_at is None:
            record.answered_at = channel.answered_at
            record.disposition = "ANSWERED"

    def dial_begin(self, destination: Channel) -> None:
        record = self.current
        if record.destination_channel:
            record = CdrRecord(last_app=record.last_app, last_data=record.last_data)
            self.records.append(record)
        record.destination_channel = destination.name

    def dial_end(self, status: str, answered_at: float | None) -> None:
        record = self.current
        record.dial_finished = True
        record.disposition = {
            "ANSWER": "ANSWERED",
            "BUSY": "BUSY",
            "CONGESTION": "CONGESTION",
            "CHANUNAVAIL": "FAILED",
        }.get(status, "NO ANSWER")
        if status == "ANSWER":
            record.answered_at = answered_at

    def answered(self, at: float) -> None:
        record = self.current
        if record.answered_at is None and not record.destination_channel:
            record.answered_at = at
            record.disposition = "ANSWERED"

    def failed(self, disposition: str) -> None:
        self.current.disposition = disposition


def _stamp(epoch: float, at: float | None) -> str:
    if at is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch + at))


def cdr_headers(
    channel: Channel, book: CdrBook, record: CdrRecord, *, epoch: float, ended_at: float
) -> list[Header]:
    caller_id = channel.caller_all() if channel.caller_num else ""
    duration = int(ended_at - book.started_at)
    billable = int(ended_at - record.answered_at) if record.answered_at is not None else 0
    return [
        ("AccountCode", channel.account_code),
        ("Source", channel.caller_num),
        ("Destination", book.destination),
        ("DestinationContext", book.destination_context),
        ("CallerID", caller_id),
        ("Channel", channel.name),
        ("DestinationChannel", record.destination_channel),
        ("LastApplication", record.last_app),
        ("LastData", record.last_data),
        ("StartTime", _stamp(epoch, book.started_at)),
        ("AnswerTime", _stamp(epoch, record.answered_at)),
        ("EndTime", _stamp(epoch, ended_at)),
        ("Duration", str(duration)),
        ("BillableSeconds", str(billable)),
        ("Disposition", record.disposition),
        ("AMAFlags", "DOCUMENTATION"),
        ("UniqueID", channel.uniqueid),
        ("UserField", ""),
    ]
