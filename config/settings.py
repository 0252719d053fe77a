"""One typed settings object, from CALLCENTRE_* environment variables and an optional TOML file.

The defaults are the embedded shape: a SQLite file in a data folder, the in-process bus, and
console logs. Production sets a PostgreSQL URL, a Redis URL and JSON logs.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "CALLCENTRE_"
CONFIG_FILE_ENV = ENV_PREFIX + "CONFIG"


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
    # A session's last-seen time is written at most this often (each request would be a write).
    session_touch_seconds: int = Field(default=60, ge=0, le=600)
    # "auto": Secure when the request came over TLS (directly or via a trusted proxy header).
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    # Behind a reverse proxy: take the client address and scheme from X-Forwarded-* headers.
    trust_proxy_headers: bool = False
    # Extra origins allowed to open websockets, besides the page's own host.
    allowed_origins: list[str] = Field(default_factory=list)

    login_window_minutes: int = Field(default=15, ge=1)
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_client: int = Field(default=20, ge=1)

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=2, ge=1)

    default_region: str = Field(default="US", min_length=2, max_length=2)

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
    ami_call_variables: list[str] = Field(default_factory=lambda: ["CC_ACCOUNT", "CC_CUSTOMER"])
    # An agent's phone as a queue member, from their extension.
    agent_interface: str = "PJSIP/{extension}"
    # Queues an agent joins when going ready, unless they choose.
    agent_default_queues: list[str] = Field(default_factory=lambda: ["sales"])
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
    simulator_scenario: str = "demo"
    simulator_seed: int = 1
    simulator_speed: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _check_pbx(self) -> Settings:
        if self.pbx == "asterisk" and not (self.ami_port and self.ami_secret.get_secret_value()):
            raise ValueError("pbx = asterisk needs ami_port and ami_secret")
        return self

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
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key


def load_settings(**overrides: object) -> Settings:
    if (path := os.environ.get(CONFIG_FILE_ENV)) and not Path(path).is_file():
        raise FileNotFoundError(f"{CONFIG_FILE_ENV} names {path}, which is not a file")
    return Settings(**overrides)  # type: ignore[arg-type]
