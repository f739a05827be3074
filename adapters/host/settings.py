"""All configuration, read once from the environment (and a ``.env`` file) into one typed object.

Secrets are :class:`~pydantic.SecretStr`, so they never show up in logs, reprs or tracebacks.
"""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.identity import PLATFORMS, identity_problem, parse_identity
from bot.turn import DEFAULT_CAPTURE_LIMIT_PER_HOUR, DEFAULT_DIGEST_SUBSCRIPTIONS_MAX

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./kaizen.db"
CommaList = Annotated[list[str], NoDecode]
_HH_MM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
BOARD_WORKSPACE_FORM = "KAIZEN_BOARD_WORKSPACE must be platform:id, e.g. slack:T0123ABCD"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    """Environment variables of DESIGN.md section 1 (names are matched case-insensitively)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    sqlite_busy_timeout_ms: int = Field(30_000, ge=0,
                                        validation_alias="KAIZEN_SQLITE_BUSY_TIMEOUT_MS")
    platform_timeout_seconds: float = Field(
        10.0, gt=0, le=300, validation_alias="KAIZEN_PLATFORM_TIMEOUT_SECONDS",
        description="How long one Slack Web API call may take before the outbox retries it.")
    host: str = Field("127.0.0.1", validation_alias="KAIZEN_HOST")
    port: int = Field(3978, ge=1, le=65535, validation_alias="KAIZEN_PORT")
    log_level: str = Field("INFO", validation_alias="KAIZEN_LOG_LEVEL")

    slack_bot_token: SecretStr | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", validation_alias="SLACK_API_URL")

    microsoft_app_id: str = Field("", validation_alias="MICROSOFT_APP_ID")
    microsoft_app_password: SecretStr | None = Field(
        None, validation_alias="MICROSOFT_APP_PASSWORD"
    )
    microsoft_app_type: str | None = Field(None, validation_alias="MICROSOFT_APP_TYPE")
    microsoft_app_tenant_id: str | None = Field(None, validation_alias="MICROSOFT_APP_TENANT_ID")
    teams_tenants: CommaList = Field(
        default_factory=list, validation_alias="KAIZEN_TEAMS_TENANTS",
        description="tenant ids whose activities are accepted (default: "
        "MICROSOFT_APP_TENANT_ID; none set: every tenant)")
    teams_local: bool = Field(
        False, validation_alias="KAIZEN_TEAMS_LOCAL",
        description="serve /api/messages without authentication to loopback peers only, for "
        "the Microsoft 365 Agents Playground on this machine (ignored with MICROSOFT_APP_ID)")
    microsoft_openid_metadata_url: str | None = Field(
        None, validation_alias="MICROSOFT_OPENID_METADATA_URL",
        description="advanced: where Bot Framework token signing keys are published "
        "(sovereign clouds, tests); default is Microsoft's public endpoint",
    )

    secret_key: SecretStr | None = Field(None, validation_alias="KAIZEN_SECRET_KEY")
    board_password: SecretStr | None = Field(None, validation_alias="KAIZEN_BOARD_PASSWORD")
    board_workspace: str | None = Field(
        None, validation_alias="KAIZEN_BOARD_WORKSPACE",
        description="the one workspace the wall screen shows, platform:id; required with "
        "KAIZEN_BOARD_PASSWORD")
    public_url: str | None = Field(None, validation_alias="KAIZEN_PUBLIC_URL")

    ideas_channel: str | None = Field(None, validation_alias="KAIZEN_IDEAS_CHANNEL")
    managers: CommaList = Field(default_factory=list, validation_alias="KAIZEN_MANAGERS")
    admins: CommaList = Field(default_factory=list, validation_alias="KAIZEN_ADMINS")
    timezone: str = Field("UTC", validation_alias="KAIZEN_TIMEZONE")
    digest_time: str = Field("09:00", validation_alias="KAIZEN_DIGEST_TIME")
    approve_reactions: CommaList = Field(
        default_factory=lambda: ["white_check_mark", "heavy_check_mark", "+1"],
        validation_alias=AliasChoices("KAIZEN_APPROVE_REACTIONS"),
    )
    reject_reactions: CommaList = Field(
        default_factory=lambda: ["x"], validation_alias="KAIZEN_REJECT_REACTIONS"
    )
    capture_limit_per_hour: int = Field(
        DEFAULT_CAPTURE_LIMIT_PER_HOUR, ge=0, le=10_000,
        validation_alias="KAIZEN_CAPTURE_LIMIT_PER_HOUR",
        description="Ideas one person may share per hour (0: no limit); a flood from one "
        "account (a script, a stuck client) is answered kindly instead of filling the board.")
    digest_subscriptions_max: int = Field(
        DEFAULT_DIGEST_SUBSCRIPTIONS_MAX, ge=0, le=100_000,
        validation_alias="KAIZEN_DIGEST_SUBSCRIPTIONS_MAX",
        description="Digest subscriptions per workspace (0: no limit): each one is a daily "
        "query and a post, so a workspace cannot make the scheduler do unbounded work.")
    request_body_timeout_seconds: float = Field(
        10.0, gt=0, le=300, validation_alias="KAIZEN_REQUEST_BODY_TIMEOUT_SECONDS",
        description="How long a request body may take to arrive before the answer is 408: a "
        "client that sends headers and then stalls must not hold a connection.")

    @field_validator("managers", "admins", "approve_reactions", "reject_reactions",
                     "teams_tenants", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("managers", "admins")
    @classmethod
    def _identities(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """``platform:id`` only: a bare id would match that id on every platform."""
        variable = f"KAIZEN_{str(info.field_name).upper()}"
        identities = []
        for entry in value:
            parsed = parse_identity(entry)
            if parsed is None:
                raise ValueError(identity_problem(entry, variable))
            identities.append(":".join(parsed))
        return identities

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        """A URL we can drive: ``sqlite:///…`` or ``postgresql://…`` (said at start-up, not as
        a traceback from deep inside SQLAlchemy)."""
        from sqlalchemy.exc import ArgumentError

        from storage.database import async_database_url

        try:
            async_database_url(value)
        except (ValueError, ArgumentError) as exc:
            if "unsupported" in str(exc):
                raise ValueError(str(exc).replace("DATABASE_URL ", "")) from exc
            raise ValueError(
                f"not a database URL ({value[:40]!r}): use sqlite:///./kaizen.db or "
                "postgresql://user:password@host:5432/dbname") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level: use one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"KAIZEN_TIMEZONE={value!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)"
            ) from exc
        return value

    @field_validator("digest_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        match = _HH_MM.match(value.strip())
        if not match:
            raise ValueError(f"KAIZEN_DIGEST_TIME={value!r} must be HH:MM, e.g. 09:00")
        return f"{int(match.group(1)):02d}:{match.group(2)}"

    @field_validator("board_workspace")
    @classmethod
    def _platform_and_id(cls, value: str | None) -> str | None:
        """``platform:id`` (the project's identity form), platform in lower case; blank = unset."""
        if value is None or not value.strip():
            return None
        parsed = parse_identity(value)
        if parsed is None:
            raise ValueError(f"{BOARD_WORKSPACE_FORM} (platform: {', '.join(PLATFORMS)}); "
                             f"got {value!r}")
        return ":".join(parsed)

    @model_validator(mode="after")
    def _wall_screen_names_its_workspace(self) -> Settings:
        # A wall screen shows exactly one workspace, chosen by the operator: never a guess
        # (such as the busiest one) that whoever posts ideas could steer.
        if self.board_password and not self.board_workspace:
            raise ValueError(f"{BOARD_WORKSPACE_FORM} (required with KAIZEN_BOARD_PASSWORD)")
        return self

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def teams_local_mode(self) -> bool:
        """Explicitly asked for (``KAIZEN_TEAMS_LOCAL=true``) and no app id: the Teams endpoint
        takes unauthenticated traffic, from loopback peers only (the Agents Playground)."""
        return self.teams_local and not self.microsoft_app_id

    @property
    def teams_enabled(self) -> bool:
        """``/api/messages`` is mounted: with Bot Framework credentials, or in local mode."""
        return bool(self.microsoft_app_id) or self.teams_local_mode

    @property
    def allowed_teams_tenants(self) -> frozenset[str]:
        """Tenants whose Teams activities are served; empty means any (multi-tenant)."""
        tenants = self.teams_tenants or ([self.microsoft_app_tenant_id]
                                         if self.microsoft_app_tenant_id else [])
        return frozenset(t.strip().lower() for t in tenants if t.strip())

    @property
    def platform_configured(self) -> bool:
        """Slack or Teams credentials are set (``make run`` offers local mode when not)."""
        return bool(self.slack_bot_token or self.slack_signing_secret or self.microsoft_app_id)
