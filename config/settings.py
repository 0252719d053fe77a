"""One typed settings object, from CALLCENTRE_* environment variables and an optional TOML file.

The defaults are the embedded shape: a SQLite file in a data folder, the in-process bus, and
console logs. Production sets a PostgreSQL URL, a Redis URL and JSON logs.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import phonenumbers
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.cron import cron_trigger
from config.lists import ListForm, comma_list

ENV_PREFIX = "CALLCENTRE_"
CONFIG_FILE_ENV = ENV_PREFIX + "CONFIG"
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# List settings: a comma list in the environment ("sales,support"), or JSON (config/lists.py).
Names = Annotated[list[str], NoDecode]
LIST_FORMS: dict[str, ListForm] = {
    "allowed_origins": ListForm.matching(r"https?://\S+", "origins, e.g. https://crm.example.com"),
    "ami_call_variables": ListForm.matching(
        r"[A-Za-z_][A-Za-z0-9_]*", "channel variable names, e.g. CC_ACCOUNT,CC_CUSTOMER"
    ),
    "agent_default_queues": ListForm.matching(
        r"[A-Za-z0-9_.-]{1,80}", "queue names separated by commas, e.g. sales,support"
    ),
    "dial_internal_lengths": ListForm.matching(r"[1-9][0-9]?", "digit counts, e.g. 3,4,5"),
    "dial_internal_prefixes": ListForm.matching(r"[0-9]{1,10}", "leading digits, e.g. 1,50,6"),
    "dial_allowed_regions": ListForm.one_of(
        frozenset(phonenumbers.SUPPORTED_REGIONS) | {"001"},
        "country codes, e.g. US,CA (001: international networks)",
    ),
    "dial_refused_types": ListForm.one_of(
        frozenset(
            name.lower()
            for name in vars(phonenumbers.PhoneNumberType)
            if name.isupper() and name != "UNKNOWN"
        ),
        "number types, e.g. premium_rate,shared_cost,personal_number,uan,pager",
    ),
    "dial_fictional_prefixes": ListForm.matching(r"\+[0-9]{1,15}", "E.164 prefixes, e.g. +1555"),
    "queue_numbers": ListForm.matching(
        r"[A-Za-z0-9_.-]{1,80}=[0-9]{2,10}", "queue=number pairs, e.g. sales=5000,support=5001"
    ),
}


def parse_networks(value: str) -> tuple[IpNetwork, ...]:
    """A comma list of addresses or networks (a plain string in the environment, not JSON)."""
    networks = []
    for entry in value.split(","):
        if entry := entry.strip():
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError as exc:
                raise ValueError(f"not an address or network: {entry!r}") from exc
    return tuple(networks)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Path("data")
    # Empty means: a SQLite file inside data_dir.
    database_url: str = ""
    # Empty means: the in-process bus (one instance only).
    redis_url: str = ""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Empty means: generated once and kept in data_dir/secret_key.
    secret_key: SecretStr = SecretStr("")

    log_format: Literal["console", "json"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    remember_me_days: int = Field(default=14, ge=1, le=90)
    # However active, a session ends this long after its login (a stolen cookie cannot be kept
    # alive for ever): hours for an ordinary session, days for a "keep me signed in" one.
    session_max_hours: int = Field(default=12, ge=1, le=7 * 24)
    remember_me_max_days: int = Field(default=30, ge=1, le=365)
    # A session's last-seen time is written at most this often (each request would be a write).
    session_touch_seconds: int = Field(default=60, ge=0, le=600)
    # "auto": Secure when the request came over TLS (directly or via a trusted proxy header).
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    # The reverse proxies in front of the service: a comma list of addresses or networks
    # ("10.0.0.5,192.168.0.0/24"). X-Forwarded-For/-Proto are read only from these peers, and
    # the client is the right-most address they did not add. Empty: no proxy, headers ignored.
    trusted_proxies: str = ""
    # Replaced by trusted_proxies (which proxies to believe); refused when set, so that an old
    # configuration does not silently start believing nobody, or everybody.
    trust_proxy_headers: bool = False
    # Extra origins allowed to open websockets, besides the page's own host.
    allowed_origins: Names = Field(default_factory=list)

    login_window_minutes: int = Field(default=15, ge=1)
    # Failed logins inside the window that cost nothing; each one beyond doubles the wait
    # before the next attempt of that account (or from that address) is checked.
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_client: int = Field(default=20, ge=1)
    login_first_delay_seconds: float = Field(default=1.0, gt=0, le=60)
    login_max_delay_seconds: float = Field(default=30.0, gt=0, le=3600)
    # /metrics and the details of /readyz: for `Authorization: Bearer <token>`, users with
    # pbx.monitor, and direct loopback clients. Empty: no token is accepted.
    metrics_token: SecretStr = SecretStr("")

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=2, ge=1)

    default_region: str = Field(default="US", min_length=2, max_length=2)
    # Click-to-call (crm_core.dial_rules). Digits of these lengths (and, when prefixes are set,
    # starting with one) are internal numbers, dialled as typed: agents' phones, queues' DIDs.
    dial_internal_lengths: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [3, 4, 5])
    dial_internal_prefixes: Names = Field(default_factory=list)
    # Countries an outside number may be in (001: international networks). Empty: default_region.
    dial_allowed_regions: Names = Field(default_factory=list)
    # Number types refused unless the agent holds calls.dial_any (phonenumbers' types).
    dial_refused_types: Names = Field(
        default_factory=lambda: ["premium_rate", "shared_cost", "personal_number", "uan", "pager"]
    )
    # The number that reaches each queue in the dialplan (its DID), queue=number: the queues an
    # agent may transfer a call to (config/asterisk/extensions.conf, [transfer]).
    queue_numbers: Names = Field(default_factory=lambda: ["sales=5000", "support=5001"])
    # Fictional numbers (reserved, reaching nobody): dialled although invalid.
    dial_fictional_prefixes: Names = Field(default_factory=lambda: ["+1555"])

    # The PBX: the built-in simulator (embedded, over real AMI on loopback), a real Asterisk,
    # or none (web-only instances and tests that do not need a PBX).
    pbx: Literal["simulator", "asterisk", "none"] = "simulator"
    ami_host: str = "127.0.0.1"
    # 0 with the simulator: any free port.
    ami_port: int = Field(default=0, ge=0, le=65535)
    ami_username: str = "callcentre"
    ami_secret: SecretStr = SecretStr("")
    # Event classes to receive: the chatty "dialplan" class is left out at the source.
    ami_events: str = "call,agent,system,user"
    ami_ping_interval: float = Field(default=10.0, gt=0)
    # A link whose Ping is not answered within this is declared dead (half-open link).
    ami_ping_timeout: float = Field(default=20.0, gt=0)
    ami_action_timeout: float = Field(default=10.0, gt=0)
    ami_reconcile_seconds: float = Field(default=30.0, gt=0)
    # Channel variables (set by the IVR, carried by manager.conf channelvars) kept on a call.
    ami_call_variables: Names = Field(default_factory=lambda: ["CC_ACCOUNT", "CC_CUSTOMER"])
    # An agent's phone as a queue member, from their extension.
    agent_interface: str = "PJSIP/{extension}"
    # Queues an agent joins when going ready, unless they choose.
    agent_default_queues: Names = Field(default_factory=lambda: ["sales"])
    # After a call the agent is paused ("wrap-up") for at most this long, or until they send
    # the disposition; 0 turns wrap-up off.
    wrapup_seconds: float = Field(default=60.0, ge=0, le=3600)
    # The PBX link's lease (several instances: one drives, the others take over when it dies
    # within about this long).
    lease_seconds: float = Field(default=5.0, gt=0.5, le=120)
    # How long an agent's command waits for the instance that drives the PBX link to answer.
    command_deadline: float = Field(default=5.0, gt=0, le=60)
    # How often pauses are checked against their reason's time limit.
    pause_check_seconds: float = Field(default=5.0, gt=0)
    # Campaigns: the PJSIP trunk their calls go out through unless a campaign names its own,
    # and how often the pacing decides (VICIdial's loop delay is 1 s too).
    dialer_trunk: str = Field(
        default="PJSIP/trunk-main", pattern=r"^[A-Za-z]+/[A-Za-z0-9_.-]{1,64}$"
    )
    dialer_tick_seconds: float = Field(default=1.0, gt=0, le=10)
    simulator_scenario: str = "demo"
    simulator_seed: int = 1
    simulator_speed: float = Field(default=1.0, gt=0)
    # Churn warnings (crm_core.churn): customers without an order for this many months are
    # flagged, by a job on this cron schedule (UTC; five crontab fields, or six with seconds
    # first; config/cron.py). Default: Saturdays 02:00.
    churn_months: int = Field(default=6, ge=1, le=120)
    churn_schedule: str = "0 2 * * 6"

    @model_validator(mode="after")
    def _check_pbx(self) -> Settings:
        if self.pbx == "asterisk" and not (self.ami_port and self.ami_secret.get_secret_value()):
            raise ValueError("pbx = asterisk needs ami_port and ami_secret")
        return self

    @model_validator(mode="after")
    def _refuse_trust_proxy_headers(self) -> Settings:
        if self.trust_proxy_headers:
            raise ValueError(
                "trust_proxy_headers is replaced by trusted_proxies: list the reverse proxies' "
                "addresses (CALLCENTRE_TRUSTED_PROXIES=10.0.0.5,192.168.0.0/24)"
            )
        return self

    @field_validator(*LIST_FORMS, mode="before")
    @classmethod
    def _split_lists(cls, value: object, info: ValidationInfo) -> object:
        name = info.field_name or ""
        return comma_list(value, setting=name, form=LIST_FORMS[name])

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        parse_networks(value)  # refused at start, naming the bad entry
        return value

    @field_validator("churn_schedule")
    @classmethod
    def _check_churn_schedule(cls, value: str) -> str:
        cron_trigger(value)  # refused at start, saying what a schedule looks like
        return value

    @property
    def queue_dids(self) -> dict[str, str]:
        """Queue name -> the number that reaches it."""
        return dict(item.split("=", 1) for item in self.queue_numbers)

    @model_validator(mode="after")
    def _check_database_url(self) -> Settings:
        url = self.database_url
        if url and not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "database_url must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then environment, then the TOML file.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get(CONFIG_FILE_ENV)
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'callcentre.db').resolve()}"

    @cached_property
    def trusted_networks(self) -> tuple[IpNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def effective_secret_key(self) -> str:
        """The configured key, or one generated on first use and kept in the data folder."""
        configured = self.secret_key.get_secret_value()
        if configured:
            return configured
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key


def load_settings(**overrides: object) -> Settings:
    if (path := os.environ.get(CONFIG_FILE_ENV)) and not Path(path).is_file():
        raise FileNotFoundError(f"{CONFIG_FILE_ENV} names {path}, which is not a file")
    return Settings(**overrides)  # type: ignore[arg-type]
