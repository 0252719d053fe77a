"""The lab's extensions.conf (ami-traces/lab-config), as dialplan programs.

Every agent, caller and customer is a Local channel whose ``;2`` half runs one of these contexts,
so the events match the recorded traces step for step. Where the lab hard-codes behaviour (an
agent answers after 2 s and talks 20 s; ``19XX`` never answers; ``7XXX`` is busy), the programs
ask ``Behaviour``, whose defaults are the lab's, so scenarios can vary them.
"""

from __future__ import annotations

from pbxsim.behaviour import ANSWER, BUSY, CONGESTION, MACHINE, NO_ANSWER, sample
from pbxsim.dialplan import Apps, Dialplan
from pbxsim.process import Steps

# The caller half answers at once; its Answer() returns almost immediately.
CALLER_ANSWER_SETTLE = 0.02
LAB_DIDS = {"5000": "sales", "5001": "support", "5002": "sales"}


def agent_phone(a: Apps) -> Steps:
    """agents,_1XXX / _19XX: the agent's phone rings, and is answered or not."""
    channel = a.channel
    extension = channel.exten
    behaviour = a.runtime.behaviour
    profile = behaviour.agent(extension)
    rng = behaviour.rng("agent", extension, channel.uniqueid)
    answers = rng.random() < profile.answers
    if answers:
        a.noop(f"Agent phone {extension} ringing, caller {channel.caller_all()}")
    else:
        a.noop(f"Agent phone {extension} rings but is never answered")
    a.set("AGENT_EXT", extension)
    a.set(f"DEVICE_STATE(Custom:agent{extension})", "RINGING")
    a.ringing()
    if not answers:
        yield from a.wait(profile.never_answer_ring)
        a.hangup()
    yield from a.wait(sample(profile.ring_delay, rng))
    yield from a.answer()
    a.set(f"DEVICE_STATE(Custom:agent{extension})", "INUSE")
    yield from a.wait(sample(profile.talk_time, rng))
    a.hangup()


def agent_hangup(a: Apps) -> Steps:
    """agents,h: the agent's custom device state goes back to NOT_INUSE."""
    extension = a.var("AGENT_EXT")
    a.exec_if(extension != "", f"DEVICE_STATE(Custom:agent{extension})", "NOT_INUSE")
    yield from ()


def held_caller(a: Apps) -> Steps:
    """callers,_hold.: the caller answers and stays up N seconds, whatever happens."""
    seconds = a.channel.exten[len("hold") :]
    a.noop(f"Simulated caller, stays up {seconds} s")
    yield from a.answer(settle=CALLER_ANSWER_SETTLE)
    yield from a.wait(float(seconds))
    a.hangup()


def patient_caller(a: Apps) -> Steps:
    """callers,_patience.: waits up to N seconds for an agent; once connected, stays on."""
    seconds = a.channel.exten[len("patience") :]
    a.noop(f"Simulated caller, waits up to {seconds} s for an agent")
    yield from a.answer(settle=CALLER_ANSWER_SETTLE)
    connected = yield from a.wait_for_connect(float(seconds))
    if not connected:
        a.hangup()


def inbound_did(a: Apps) -> Steps:
    """inbound,_50XX: the lab's DIDs, queued to sales or support."""
    channel = a.channel
    did = channel.exten
    a.noop(f"Inbound DID {did} from {channel.caller_all()}")
    for variable, function in (
        ("CID_NUM", "CALLERID(num)"),
        ("CID_NAME", "CALLERID(name)"),
        ("CID_PRES", "CALLERID(pres)"),
    ):
        value = a.var(variable)
        a.exec_if(value != "", function, value)
    a.set("TARGETQ", "sales")
    a.exec_if(did == "5001", "TARGETQ", "support")
    a.exec_if(did == "5002" and a.var("QTIMEOUT") == "", "QTIMEOUT", "10")
    a.exec_if(a.var("QTIMEOUT") == "", "QTIMEOUT", "300")
    status = yield from a.queue(a.var("TARGETQ"), float(a.var("QTIMEOUT")))
    a.noop(f"Queue result {status}")
    a.hangup()


def routed_did(a: Apps) -> Steps:
    """inbound,_X.: DIDs a scenario adds, routed to the queue it names."""
    channel = a.channel
    a.noop(f"Inbound DID {channel.exten} from {channel.caller_all()}")
    a.set("TARGETQ", a.runtime.did_routes.get(channel.exten, "sales"))
    a.exec_if(a.var("QTIMEOUT") == "", "QTIMEOUT", "300")
    status = yield from a.queue(a.var("TARGETQ"), float(a.var("QTIMEOUT")))
    a.noop(f"Queue result {status}")
    a.hangup()


def customer(a: Apps) -> Steps:
    """customers,_X.: a dialled number; what it does comes from the customer model."""
    number = a.channel.exten
    plan = a.runtime.behaviour.customer(number)
    if plan.lab_exten is not None:
        yield from a.goto("customers", plan.lab_exten, 1)
        return
    if a.channel.name in a.runtime.congested:
        a.noop(f"Customer {number}: trunk full")
        yield from a.congestion()
        a.hangup()
    if plan.outcome == BUSY:
        a.noop(f"Customer {number}: busy")
        yield from a.busy()
        a.hangup()
    if plan.outcome == CONGESTION:
        a.noop(f"Customer {number}: congestion")
        yield from a.congestion()
        a.hangup()
    if plan.outcome == NO_ANSWER:
        a.noop(f"Customer {number}: rings, no answer")
        a.ringing()
        yield from a.wait(120)
        a.hangup()
    if plan.outcome == MACHINE:
        a.noop(f"Customer {number}: answering machine")
        a.runtime.machines.add(a.channel.name)
    else:
        assert plan.outcome == ANSWER
        a.noop(f"Customer {number}: answers")
    a.ringing()
    yield from a.wait(plan.ring)
    yield from a.answer()
    yield from a.wait(plan.talk)
    a.hangup()


def click_to_call(a: Apps) -> Steps:
    """clicktocall,_X.: the agent answered; now dial the customer."""
    channel = a.channel
    a.noop(f"Click-to-call from {channel.caller_all()} to {channel.exten}")
    status = yield from a.dial(f"Local/{channel.exten}@customers", 30)
    a.noop(f"DIALSTATUS={status}")
    a.hangup()


def predictive(a: Apps) -> Steps:
    """predictive,s: the answered customer waits for an agent in queue outbound."""
    a.noop(f"Predictive: customer {a.channel.caller_num} answered, queueing to outbound")
    a.exec_if(a.var("QTIMEOUT") == "", "QTIMEOUT", "300")
    status = yield from a.queue("outbound", float(a.var("QTIMEOUT")))
    a.noop(f"Queue result {status}")
    a.hangup()


def transfer_to_agent(a: Apps) -> Steps:
    """transfer,_1XXX: a blind transfer to an agent's phone."""
    a.noop(f"Transfer to agent {a.channel.exten}")
    yield from a.dial(f"Local/{a.channel.exten}@agents", 30)
    a.hangup()


def transfer_to_did(a: Apps) -> Steps:
    """transfer,_50XX: a blind transfer back into an inbound DID (and so a queue)."""
    yield from a.goto("inbound", a.channel.exten, 1)


def lab_dialplan() -> Dialplan:
    dialplan = Dialplan()
    dialplan.add("agents", "_1XXX", agent_phone)
    dialplan.add("agents", "_X.", agent_phone)  # scenarios may use other extensions
    dialplan.add("agents", "h", agent_hangup)
    dialplan.add("callers", "_hold.", held_caller)
    dialplan.add("callers", "_patience.", patient_caller)
    dialplan.add("inbound", "_50XX", inbound_did)
    dialplan.add("inbound", "_X.", routed_did)
    dialplan.add("customers", "_X.", customer)
    dialplan.add("customers", "_+X.", customer)
    dialplan.add("clicktocall", "_X.", click_to_call)
    dialplan.add("clicktocall", "_+X.", click_to_call)
    dialplan.add("predictive", "s", predictive)
    dialplan.add("transfer", "_1XXX", transfer_to_agent)
    dialplan.add("transfer", "_50XX", transfer_to_did)
    return dialplan
