"""Settings: one prefix in the environment, an optional TOML file, embedded defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import load_settings


def test_the_defaults_are_the_embedded_shape(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/data/callcentre.db"
    assert settings.redis_url == ""
    assert settings.session_idle_minutes == 30


def test_environment_variables_with_the_prefix_override(monkeypatch):
    monkeypatch.setenv("CALLCENTRE_DATABASE_URL", "postgresql+asyncpg://u@db/cc")
    monkeypatch.setenv("CALLCENTRE_SESSION_IDLE_MINUTES", "10")
    monkeypatch.setenv("CALLCENTRE_ALLOWED_ORIGINS", '["https://crm.example.com"]')
    settings = load_settings()
    assert settings.effective_database_url == "postgresql+asyncpg://u@db/cc"
    assert settings.session_idle_minutes == 10
    assert settings.allowed_origins == ["https://crm.example.com"]
    assert not settings.is_sqlite


def test_a_toml_file_is_read_and_the_environment_wins(monkeypatch, tmp_path):
    path = tmp_path / "callcentre.toml"
    path.write_text('port = 9000\nlog_format = "console"\nredis_url = "redis://r:6379/0"\n')
    monkeypatch.setenv("CALLCENTRE_CONFIG", str(path))
    monkeypatch.setenv("CALLCENTRE_PORT", "9100")
    settings = load_settings()
    assert settings.port == 9100
    assert settings.log_format == "console"
    assert settings.redis_url == "redis://r:6379/0"


def test_bad_settings_are_refused_with_the_name(monkeypatch, tmp_path):
    monkeypatch.setenv("CALLCENTRE_DATABASE_URL", "mysql://x")
    with pytest.raises(ValidationError, match="database_url"):
        load_settings()
    monkeypatch.delenv("CALLCENTRE_DATABASE_URL")
    monkeypatch.setenv("CALLCENTRE_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(FileNotFoundError, match=r"missing\.toml"):
        load_settings()


def test_the_secret_key_is_generated_once_and_kept(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    first = settings.effective_secret_key()
    assert len(first) > 40
    assert load_settings(data_dir=tmp_path).effective_secret_key() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
