"""The composition root: one engine, one session factory, one service, built from settings.

Created once by the CLI (never at import time), handed to whatever adapter runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from adapters.host.settings import Settings
from adapters.host.signing import Scope, TokenSigner, login_link, public_base
from bot.service import KaizenService, normalise_reaction
from bot.turn import Policy
from storage.database import async_database_url, create_engine, create_session_factory
from storage.migrate import current_revision, head_revision
from storage.unit_of_work import SqlUnitOfWork


def policy_from(settings: Settings, signer: TokenSigner | None = None) -> Policy:
    """The core's workspace rules from configuration."""
    board_link = None
    if signer is not None:
        base = public_base(settings)

        def board_link(platform: str, workspace: str, user: str) -> str:
            return login_link(signer, base, Scope(platform, workspace, user))

    return Policy(
        board_link=board_link,
        managers=frozenset(settings.managers),
        admins=frozenset(settings.admins),
        approve_reactions=frozenset(normalise_reaction(r) for r in settings.approve_reactions),
        reject_reactions=frozenset(normalise_reaction(r) for r in settings.reject_reactions),
        digest_time=settings.digest_time,
        timezone=settings.timezone,
        capture_limit_per_hour=settings.capture_limit_per_hour,
        digest_subscriptions_max=settings.digest_subscriptions_max,
    )


def system_clock() -> datetime:
    """The real time, in UTC: the one clock everything in a process reads (tests inject
    their own through :meth:`Runtime.create`)."""
    return datetime.now(UTC)


class DatabaseNotReady(RuntimeError):
    """The database is unreachable or not migrated to the code's revision."""


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[Any]
    service: KaizenService
    signer: TokenSigner
    clock: Callable[[], datetime] = field(default=system_clock)

    @classmethod
    def create(cls, settings: Settings,
               clock: Callable[[], datetime] = system_clock) -> Runtime:
        engine = create_engine(settings.database_url,
                               sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        sessions = create_session_factory(engine)
        signer = TokenSigner(settings.secret_key.get_secret_value()
                             if settings.secret_key else None)

        def unit_of_work() -> SqlUnitOfWork:
            return SqlUnitOfWork(sessions)

        service = KaizenService(unit_of_work, clock=clock,
                                policy=policy_from(settings, signer))
        return cls(settings, engine, sessions, service, signer, clock)

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions)

    @property
    def safe_database_url(self) -> str:
        """The database URL with any password masked, fit for logs."""
        return make_url(async_database_url(self.settings.database_url)).render_as_string(
            hide_password=True
        )

    async def check_database(self) -> str:
        """Return the current revision; raise :class:`DatabaseNotReady` saying what is wrong."""
        try:
            async with self.engine.connect() as connection:
                current = await current_revision(connection)
        except Exception as exc:  # any driver error means "not reachable"
            raise DatabaseNotReady(f"database unreachable: {type(exc).__name__}") from exc
        head = head_revision()
        if current is None or current != head:
            raise DatabaseNotReady(
                f"database at revision {current or 'none'}, code expects {head}: "
                "run `kaizen db upgrade`"
            )
        return current

    async def close(self) -> None:
        await self.engine.dispose()
