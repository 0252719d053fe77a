"""Phones, their interfaces and their channels: the one place that knows how the names relate.

An agent's phone is a queue member *interface* (``PJSIP/1001``, ``Local/1001@agents``) built
from its *extension* (``1001``) with the configured template (``PJSIP/{extension}``); each call
on it is a *channel* named after the interface plus a sequence (``PJSIP/1001-0000001b``,
``Local/1001@agents-0000001b;1``)."""

from __future__ import annotations


def interface_for(extension: str, template: str = "PJSIP/{extension}") -> str:
    """The queue member interface as the PBX is told it (``Local/1001@agents/n`` keeps its
    options: actions name the member exactly so)."""
    return template.format(extension=extension)


def member_key(interface: str) -> str:
    """The phone behind a member interface, as its channels name it: a Local channel's
    options go (``Local/1001@agents/n`` -> ``Local/1001@agents``), the rest stays. Agents are
    known by this everywhere inside; only actions use the interface as configured."""
    if interface.startswith("Local/"):
        head, slash, options = interface.rpartition("/")
        if slash and "@" in head and options.isalpha():
            return head
    return interface


def interface_of(channel_name: str) -> str:
    """The device of a channel: ``PJSIP/1001-0000001b`` -> ``PJSIP/1001``,
    ``Local/1001@agents-0000001b;1`` -> ``Local/1001@agents``."""
    base = channel_name.partition(";")[0]
    head, separator, suffix = base.rpartition("-")
    if separator and head and suffix and all(c in "0123456789abcdefABCDEF" for c in suffix):
        return head
    return base


def is_channel_of(channel_name: str, interface: str) -> bool:
    return interface_of(channel_name) == member_key(interface)


def extension_of(interface: str) -> str:
    """The agent's extension in a queue member or state interface: ``PJSIP/1001`` -> ``1001``,
    ``Local/1001@agents/n`` -> ``1001``, ``hint:1001@agents`` -> ``1001``; "" when none."""
    if interface.startswith("hint:"):
        rest = interface[len("hint:") :]
    else:
        _, _, rest = interface.partition("/")
    extension = rest.partition("@")[0]
    return extension if extension.isdigit() else ""
