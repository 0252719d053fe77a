"""The application layer between the PBX side (cti) and the CRM (crm_core): the agent board,
the consumers of telephony events (pops, call records, supervision, wrap-up), the desk's
commands and the typed notifications they publish. The web package adapts it to HTTP and
websockets; the dialer builds on it."""
