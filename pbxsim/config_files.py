"""Asterisk configuration files held in memory: ``queues.conf`` and ``pjsip_trunks.conf``.

``GetConfig`` reads them and ``UpdateConfig`` edits them as Asterisk's manager does (the
``Action-000000``/``Cat-``/``Var-``/``Value-``/``Match-`` batch). Unlike Asterisk, every edited
file is validated as a whole before it replaces the old one, so a bad update changes nothing and
answers with the reason. A validated file takes effect on ``Reload`` (as in Asterisk), or at once
with ``UpdateConfig ... Reload: yes``.

``pjsip_trunks.conf`` uses res_pjsip's sections: ``type=endpoint`` (``context``, ``allow``,
``aors``, ``outbound_auth``, ``callerid``, ``device_state_busy_at`` = the trunk's channel limit),
``type=aor`` (``contact``), ``type=auth`` (``username``, ``password``), ``type=identify``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pbxsim.queues import STRATEGIES, QueueSettings
from pbxsim.trunks import Trunk

QUEUES_FILE = "queues.conf"
TRUNKS_FILE = "pjsip_trunks.conf"

_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,80}")
_CODECS = frozenset({"ulaw", "alaw", "g722", "g729", "gsm", "opus", "slin", "ilbc", "speex"})
_PJSIP_TYPES = frozenset({"endpoint", "aor", "auth", "identify", "registration"})


class ConfigError(Exception):
    """An update Asterisk (or our validation) refuses; the message is what the client sees."""


@dataclass
class Category:
    name: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    is_template: bool = False

    def get(self, key: str, default: str = "") -> str:
        for name, value in reversed(self.lines):
            if name == key:
                return value
        return default


@dataclass
class ConfigFile:
    name: str
    categories: list[Category] = field(default_factory=list)

    def find(self, name: str, match: str | None = None) -> Category | None:
        for category in self.categories:
            if category.name == name and (match is None or _matches(category, match)):
                return category
        return None

    def effective_lines(self, category: Category) -> list[tuple[str, str]]:
        """Variables inherited from templates first, then the category's own."""
        lines: list[tuple[str, str]] = []
        for template_name in category.templates:
            template = self.find(template_name)
            if template is not None:
                lines.extend(self.effective_lines(template))
        return lines + category.lines


def _matches(category: Category, match: str) -> bool:
    key, _, value = match.partition("=")
    return category.get(key.strip()) == value.strip()


def parse_conf(name: str, text: str) -> ConfigFile:
    """A small reader for Asterisk's .conf syntax: ``[cat](!,tpl)``, ``key = value``, ``;``."""
    config = ConfigFile(name)
    current: Category | None = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        header = re.fullmatch(r"\[([^\]]+)\]\s*(?:\(([^)]*)\))?", line)
        if header:
            options = [o.strip() for o in (header.group(2) or "").split(",") if o.strip()]
            current = Category(
                header.group(1).strip(),
                templates=[o for o in options if o != "!"],
                is_template="!" in options,
            )
            config.categories.append(current)
            continue
        key, separator, value = line.partition("=")
        if current is None or not separator:
            raise ConfigError(f"Config file has invalid format: {raw.strip()!r}")
        current.lines.append((key.strip(), value.lstrip(">").strip()))
    return config


# -- validation ------------------------------------------------------------------------------


def _integer(value: str, what: str, *, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"Invalid configuration: {what} must be a whole number") from None
    if number < minimum:
        raise ConfigError(f"Invalid configuration: {what} must be at least {minimum}")
    return number


def _yes(value: str, what: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("yes", "true", "on", "1", "y"):
        return True
    if lowered in ("no", "false", "off", "0", "n"):
        return False
    raise ConfigError(f"Invalid configuration: {what} must be yes or no")


@dataclass(frozen=True)
class StaticMember:
    interface: str
    penalty: int = 0
    name: str = ""
    state_interface: str = ""


def queue_settings(config: ConfigFile) -> dict[str, tuple[QueueSettings, list[StaticMember]]]:
    """Every queue of a queues.conf, validated; raises ConfigError with the first problem."""
    queues: dict[str, tuple[QueueSettings, list[StaticMember]]] = {}
    seen: set[str] = set()
    for category in config.categories:
        if not _NAME.fullmatch(category.name):
            raise ConfigError(f"Invalid configuration: bad section name {category.name!r}")
        if category.name in seen:
            raise ConfigError(f"Invalid configuration: queue {category.name} defined twice")
        seen.add(category.name)
        for template in category.templates:
            if config.find(template) is None:
                raise ConfigError(f"Invalid configuration: template {template} not found")
        if category.name == "general" or category.is_template:
            continue
        settings = QueueSettings()
        members: list[StaticMember] = []
        where = f"queue {category.name}"
        for key, value in config.effective_lines(category):
            key = key.lower()
            if key == "strategy":
                if value not in STRATEGIES:
                    raise ConfigError(f"Invalid configuration: {where}: unknown strategy {value!r}")
                settings.strategy = value
            elif key in ("timeout", "retry", "wrapuptime", "maxlen", "weight", "servicelevel"):
                setattr(settings, key, _integer(value, f"{where}: {key}"))
            elif key in ("ringinuse", "joinempty", "leavewhenempty", "autofill"):
                if key in ("joinempty", "leavewhenempty") and value not in ("yes", "no"):
                    continue  # Asterisk also accepts lists of conditions: kept, not simulated
                setattr(settings, key, _yes(value, f"{where}: {key}"))
            elif key == "member":
                members.append(_static_member(value, where))
        if settings.timeout <= 0:
            raise ConfigError(f"Invalid configuration: {where}: timeout must be at least 1")
        queues[category.name] = (settings, members)
    return queues


def _static_member(value: str, where: str) -> StaticMember:
    parts = [part.strip() for part in value.split(",")]
    interface = parts[0]
    if "/" not in interface:
        raise ConfigError(f"Invalid configuration: {where}: member needs Tech/resource")
    penalty = _integer(parts[1], f"{where}: member penalty") if len(parts) > 1 and parts[1] else 0
    name = parts[2] if len(parts) > 2 else ""
    state = parts[3] if len(parts) > 3 else ""
    return StaticMember(interface, penalty, name, state)


def trunk_settings(config: ConfigFile) -> list[Trunk]:
    """The trunks (endpoint sections) of a pjsip_trunks.conf, validated."""
    by_type: dict[str, dict[str, Category]] = {kind: {} for kind in _PJSIP_TYPES}
    for category in config.categories:
        if not _NAME.fullmatch(category.name):
            raise ConfigError(f"Invalid configuration: bad section name {category.name!r}")
        if category.is_template:
            continue
        kind = dict(config.effective_lines(category)).get("type", "")
        if kind not in _PJSIP_TYPES:
            raise ConfigError(
                f"Invalid configuration: section {category.name} needs type="
                f"{'|'.join(sorted(_PJSIP_TYPES))}"
            )
        if category.name in by_type[kind]:
            raise ConfigError(f"Invalid configuration: {kind} {category.name} defined twice")
        by_type[kind][category.name] = category
    trunks: list[Trunk] = []
    for name, category in by_type["aor"].items():
        contact = dict(config.effective_lines(category)).get("contact", "")
        if contact and not re.fullmatch(r"sips?:[^\s]+", contact):
            raise ConfigError(f"Invalid configuration: aor {name}: contact must be a SIP URI")
    for name, category in by_type["auth"].items():
        values = dict(config.effective_lines(category))
        if not values.get("username"):
            raise ConfigError(f"Invalid configuration: auth {name}: username is required")
        if not values.get("password") and not values.get("md5_cred"):
            raise ConfigError(f"Invalid configuration: auth {name}: password is required")
    for name, category in by_type["endpoint"].items():
        values = dict(config.effective_lines(category))
        where = f"endpoint {name}"
        if not values.get("context"):
            raise ConfigError(f"Invalid configuration: {where}: context is required")
        codecs = tuple(c.strip() for c in values.get("allow", "ulaw").split(",") if c.strip())
        unknown = [c for c in codecs if c not in _CODECS]
        if unknown:
            raise ConfigError(f"Invalid configuration: {where}: unknown codec {unknown[0]!r}")
        for aor in filter(None, (a.strip() for a in values.get("aors", "").split(","))):
            if aor not in by_type["aor"]:
                raise ConfigError(f"Invalid configuration: {where}: aor {aor} not defined")
        auth = values.get("outbound_auth", "")
        if auth and auth not in by_type["auth"]:
            raise ConfigError(f"Invalid configuration: {where}: auth {auth} not defined")
        limit = _integer(values.get("device_state_busy_at", "0"), f"{where}: device_state_busy_at")
        host = ""
        for aor in filter(None, (a.strip() for a in values.get("aors", "").split(","))):
            contact = by_type["aor"][aor].get("contact")
            host = host or contact.split(":", 1)[-1]
        trunks.append(
            Trunk(
                name=name,
                max_channels=limit,
                host=host,
                caller_id=values.get("callerid", ""),
                codecs=codecs,
            )
        )
    for name, category in by_type["identify"].items():
        endpoint = dict(config.effective_lines(category)).get("endpoint", "")
        if endpoint not in by_type["endpoint"]:
            raise ConfigError(f"Invalid configuration: identify {name}: no endpoint {endpoint!r}")
    return trunks


VALIDATORS = {QUEUES_FILE: queue_settings, TRUNKS_FILE: trunk_settings}


# -- the store -------------------------------------------------------------------------------


class ConfigStore:
    """The in-memory files, with Asterisk's GetConfig/UpdateConfig semantics."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files: dict[str, ConfigFile] = {}
        for name, text in files.items():
            config = parse_conf(name, text)
            VALIDATORS.get(name, lambda _c: None)(config)
            self.files[name] = config

    def get(self, name: str) -> ConfigFile:
        config = self.files.get(name)
        if config is None:
            raise ConfigError("Config file not found")
        return config

    def getconfig_lines(
        self, name: str, *, category: str | None = None, filters: dict[str, str] | None = None
    ) -> list[tuple[str, str]]:
        config = self.get(name)
        headers: list[tuple[str, str]] = []
        count = 0
        for cat in config.categories:
            if category and cat.name != category:
                continue
            lines = config.effective_lines(cat)
            values = dict(lines)
            if filters and any(values.get(k) != v for k, v in filters.items()):
                continue
            headers.append((f"Category-{count:06d}", cat.name))
            if cat.is_template:
                headers.append((f"IsTemplate-{count:06d}", "1"))
            if cat.templates:
                headers.append((f"Templates-{count:06d}", ",".join(cat.templates)))
            for index, (key, value) in enumerate(lines):
                headers.append((f"Line-{count:06d}-{index:06d}", f"{key}={value}"))
            count += 1
        if category and count == 0:
            raise ConfigError("No categories found")
        return headers

    def update(self, source: str, destination: str, steps: list[dict[str, str]]) -> ConfigFile:
        """Apply an UpdateConfig batch to a copy, validate it, and keep it; the new file."""
        if destination not in VALIDATORS:
            raise ConfigError("Config file not found")
        edited = copy.deepcopy(self.get(source))
        edited.name = destination
        for step in steps:
            _apply_step(edited, step)
        VALIDATORS[destination](edited)
        self.files[destination] = edited
        return edited


def _apply_step(config: ConfigFile, step: dict[str, str]) -> None:
    action = step.get("Action", "").lower()
    cat_name = step.get("Cat", "")
    var = step.get("Var", "")
    value = step.get("Value", "")
    match = step.get("Match") or None
    if not cat_name:
        raise ConfigError("Problem with category, value, or line (if required)")
    category = config.find(cat_name, match)
    if action == "newcat":
        options = [o.strip() for o in step.get("Options", "").split(",") if o.strip()]
        if category is not None and "allowdups" not in options:
            raise ConfigError("Create category did not complete successfully")
        templates = [o[len("inherit=") :] for o in options if o.startswith("inherit=")]
        templates = [t for spec in templates for t in spec.split("|")]
        config.categories.append(
            Category(cat_name, templates=templates, is_template="template" in options)
        )
        return
    if category is None:
        raise ConfigError("Given category does not exist")
    if action == "renamecat":
        if not value:
            raise ConfigError("Problem with category, value, or line (if required)")
        category.name = value
    elif action == "delcat":
        config.categories.remove(category)
    elif action == "emptycat":
        category.lines.clear()
    elif action == "update":
        if not var:
            raise ConfigError("Problem with category, value, or line (if required)")
        for index, (key, _old) in enumerate(category.lines):
            if key == var:
                category.lines[index] = (var, value)
                return
        raise ConfigError("Update did not complete successfully")
    elif action == "delete":
        before = len(category.lines)
        category.lines = [(k, v) for k, v in category.lines if k != var]
        if len(category.lines) == before:
            raise ConfigError("Delete did not complete successfully")
    elif action == "append":
        if not var:
            raise ConfigError("Problem with category, value, or line (if required)")
        category.lines.append((var, value))
    elif action == "insert":
        line = int(step.get("Line", "0") or 0)
        category.lines.insert(line, (var, value))
    else:
        raise ConfigError("Unknown action command")
