"""The configuration a fresh simulator starts with: the lab's queues, one trunk, one AMI user."""

from __future__ import annotations

# The lab's queues.conf (ami-traces/lab-config), which the recorded traces ran with.
QUEUES_CONF = """\
[general]
persistentmembers = no
shared_lastcall = yes
log_membername_as_agent = yes

[callcentre](!)
strategy = rrmemory
timeout = 15
retry = 2
wrapuptime = 0
maxlen = 0
joinempty = yes
leavewhenempty = no
ringinuse = no
autofill = yes
autopause = no
announce-frequency = 0
periodic-announce-frequency = 0
announce-holdtime = no
announce-position = no
reportholdtime = no
memberdelay = 0
timeoutrestart = no
setinterfacevar = yes
setqueueentryvar = yes
setqueuevar = yes

[sales](callcentre)
[support](callcentre)
[outbound](callcentre)
"""

# One trunk to the public network; device_state_busy_at is its channel limit.
TRUNKS_CONF = """\
[trunk-main]
type = endpoint
context = inbound
disallow = all
allow = ulaw,alaw
aors = trunk-main-aor
outbound_auth = trunk-main-auth
callerid = "Call Centre" <+15550100100>
device_state_busy_at = 0

[trunk-main-aor]
type = aor
contact = sip:sip.provider.example:5060

[trunk-main-auth]
type = auth
auth_type = userpass
username = callcentre
password = change-me
"""

DEFAULT_USERNAME = "cti"
DEFAULT_SECRET = "cti-secret"
