"""Settings: what operators write is what we run on, and secrets stay secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.host.settings import DEFAULT_DATABASE_URL, Settings
from storage.database import async_database_url


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "KAIZEN_APPROVE_REACTIONS", "KAIZEN_TIMEZONE", "KAIZEN_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite+aiosqlite:///./kaizen.db"
    assert settings.port == 3978 and settings.timezone == "UTC"
    assert settings.approve_reactions == ["white_check_mark", "heavy_check_mark", "+1"]
    assert settings.reject_reactions == ["x"]
    assert not settings.slack_enabled and not settings.teams_local_mode
    assert not settings.teams_enabled  # /api/messages is not mounted unless asked for


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIZEN_MANAGERS", "slack:U1, slack:U2,,teams:U3")
    monkeypatch.setenv("KAIZEN_DIGEST_TIME", "7:30")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret")
    settings = Settings(_env_file=None)
    assert settings.managers == ["slack:U1", "slack:U2", "teams:U3"]
    assert settings.digest_time == "07:30"
    assert settings.slack_enabled
    assert "xoxb-secret-token" not in repr(settings) and "signing-secret" not in str(settings)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("KAIZEN_TIMEZONE", "Mars/Olympus", "IANA time zone"),
        ("KAIZEN_DIGEST_TIME", "25:00", "HH:MM"),
        ("KAIZEN_PORT", "0", "greater than or equal to 1"),
    ],
)
def test_invalid_values_are_explained(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                      message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/kaizen", "postgresql+asyncpg://u:p@db:5432/kaizen"),
        ("postgres://u@db/kaizen", "postgresql+asyncpg://u@db/kaizen"),
        ("postgresql://u@db/k?sslmode=require", "postgresql+asyncpg://u@db/k?ssl=require"),
        ("sqlite:///./kaizen.db", "sqlite+aiosqlite:///./kaizen.db"),
        ("sqlite+aiosqlite:///./kaizen.db", "sqlite+aiosqlite:///./kaizen.db"),
    ],
)
def test_database_urls_are_driven_async(given: str, expected: str) -> None:
    assert async_database_url(given) == expected


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(ValueError, match="use sqlite:/// or postgresql://"):
        async_database_url("mysql://u@db/k")
