"""The production-like dialplan: agents are PJSIP phones, the public network is a PJSIP trunk.

The contexts keep the lab's names (``inbound``, ``clicktocall``, ``predictive``, ``transfer``)
so a client is configured the same way in both modes; only channel strings differ
(``PJSIP/1001`` instead of ``Local/1001@agents``, ``PJSIP/<number>@trunk-main`` instead of
``Local/<number>@customers``). Predictive calls go through answering-machine detection.
"""

from __future__ import annotations

from pbxsim.dialplan import Apps, Dialplan
from pbxsim.lab_dialplan import LAB_DIDS, lab_dialplan
from pbxsim.process import Steps


def sip_dialplan(trunk: str) -> Dialplan:
    def inbound(a: Apps) -> Steps:
        channel = a.channel
        a.noop(f"Inbound call to {channel.exten} from {channel.caller_all()}")
        # As config/asterisk/extensions.conf routes them: 5001 to support, others to sales.
        queue = a.runtime.did_routes.get(channel.exten) or LAB_DIDS.get(channel.exten, "sales")
        a.set("TARGETQ", queue)
        a.exec_if(a.var("QTIMEOUT") == "", "QTIMEOUT", "300")
        yield from a.answer(settle=0.0)
        if channel.dtmf:
            # The IVR, as config/asterisk/extensions.conf has it: Read(CC_ACCOUNT) and then
            # FILTER(0-9): only the digits a caller keys in survive.
            yield from a.wait(0.5)
            a.set("CC_ACCOUNT", "".join(c for c in channel.dtmf if c.isdigit()))
        # t: the agent may transfer the caller (features.conf), as in config/asterisk.
        status = yield from a.queue(a.var("TARGETQ"), float(a.var("QTIMEOUT")), options="tr")
        a.noop(f"Queue result {status}")
        a.hangup()

    def click_to_call(a: Apps) -> Steps:
        channel = a.channel
        a.noop(f"Click-to-call from {channel.caller_all()} to {channel.exten}")
        status = yield from a.dial(f"PJSIP/{channel.exten}@{trunk}", 30)
        a.noop(f"DIALSTATUS={status}")
        a.hangup()

    def click_to_call_extension(a: Apps) -> Steps:
        channel = a.channel
        a.noop(f"Click-to-call from {channel.caller_all()} to extension {channel.exten}")
        status = yield from a.dial(f"PJSIP/{channel.exten}", 30)
        a.noop(f"DIALSTATUS={status}")
        a.hangup()

    def predictive(a: Apps) -> Steps:
        # As config/asterisk/extensions.conf's [predictive]: AMD, then the campaign's queue
        # (CC_QUEUE) for QTIMEOUT seconds (2 by default), then the no-agent message.
        a.noop(f"Predictive: {a.channel.caller_num} answered for campaign {a.var('CC_CAMPAIGN')}")
        yield from a.amd()
        if a.var("AMDSTATUS") == "MACHINE":
            a.hangup()
        a.exec_if(a.var("QTIMEOUT") == "", "QTIMEOUT", "2")
        a.exec_if(a.var("CC_QUEUE") == "", "CC_QUEUE", "outbound")
        status = yield from a.queue(a.var("CC_QUEUE"), float(a.var("QTIMEOUT")), options="tr")
        a.noop(f"Queue result {status}")
        # [outbound-msg]: nobody was free; the campaign's message, else the default.
        yield from a.playback(a.var("CC_ABANDON_MSG") or "pls-hold-while-try")
        a.hangup()

    def transfer_to_agent(a: Apps) -> Steps:
        a.noop(f"Transfer to agent {a.channel.exten}")
        yield from a.dial(f"PJSIP/{a.channel.exten}", 30)
        a.hangup()

    def transfer_to_did(a: Apps) -> Steps:
        yield from a.goto("inbound", a.channel.exten, 1)

    dialplan = lab_dialplan()  # Local channels keep working as in the lab
    for context in ("inbound", "clicktocall", "predictive", "transfer"):
        dialplan.clear(context)
    dialplan.add("inbound", "_X.", inbound)
    dialplan.add("inbound", "_+X.", inbound)
    dialplan.add("clicktocall", "_X.", click_to_call)
    dialplan.add("clicktocall", "_+X.", click_to_call)
    # As config/asterisk routes them: an agent's extension rings the phone, a DID the queue.
    dialplan.add("clicktocall", "_1XXX", click_to_call_extension)
    dialplan.add("clicktocall", "_50XX", transfer_to_did)
    dialplan.add("predictive", "s", predictive)
    dialplan.add("predictive", "_X.", predictive)
    dialplan.add("predictive", "_+X.", predictive)
    dialplan.add("transfer", "_X.", transfer_to_agent)
    dialplan.add("transfer", "_50XX", transfer_to_did)
    return dialplan
