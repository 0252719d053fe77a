"""Asterisk Manager Interface: wire framing, trace files, and (later) the link to the PBX."""
