"""One transaction per turn: repositories share a session; only :meth:`commit` makes it stick."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.ports import StorageUnavailable
from storage.channels import SqlChannels, SqlConversationRefs, SqlIdeaPosts
from storage.digest_facts import SqlDigestFacts
from storage.digest_subscriptions import SqlDigestSubscriptions
from storage.ideas import SqlIdeaEvents, SqlIdeas, SqlReactions
from storage.inbox import SqlInbox
from storage.outbox import SqlOutbox
from storage.people import SqlDrafts, SqlPeople
from storage.processed_events import SqlProcessedEvents
from storage.standards import SqlStandards

_WRITE_LOCKS: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


class SqlDigests(SqlDigestSubscriptions):
    """What ``uow.digests`` is: the subscriptions and runs (the :class:`bot.ports.Digests` port
    and the scheduler's bookkeeping) with ``facts``, the read model of what a digest says,
    taken from :class:`SqlDigestFacts`. One attribute, so the scheduler and ``kaizen digest``
    ask one place for a subscription's runs and its digest; the two stay separate modules."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.facts = SqlDigestFacts(session).facts


def _write_lock(engine: Any) -> asyncio.Lock:
    """One lock per SQLite engine (per process): turns write one after another."""
    lock = _WRITE_LOCKS.get(engine)
    if lock is None:
        lock = _WRITE_LOCKS[engine] = asyncio.Lock()
    return lock


class SqlUnitOfWork:
    """Implements :class:`bot.ports.UnitOfWork`. Leaving the block without commit rolls back."""

    session: AsyncSession

    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> SqlUnitOfWork:
        bind = self._sessions.kw.get("bind")
        if bind is not None and bind.dialect.name == "sqlite":
            # SQLite has one writer at a time anyway: queue turns here instead of in SQLite's
            # busy handler, whose sleeps turned 64 concurrent turns into seconds of p99.
            self._lock = _write_lock(bind)
            await self._lock.acquire()
        self.session = self._sessions()
        self.processed = SqlProcessedEvents(self.session)
        self.people = SqlPeople(self.session)
        self.drafts = SqlDrafts(self.session)
        self.ideas = SqlIdeas(self.session)
        self.idea_events = SqlIdeaEvents(self.session)
        self.reactions = SqlReactions(self.session)
        self.standards = SqlStandards(self.session)
        self.channels = SqlChannels(self.session)
        # Delivery bookkeeping for adapters (not part of the core's ports).
        self.outbox = SqlOutbox(self.session)
        self.inbox = SqlInbox(self.session)
        self.idea_posts = SqlIdeaPosts(self.session)
        self.conversation_refs = SqlConversationRefs(self.session)
        self.digests = SqlDigests(self.session)
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            with contextlib.suppress(DBAPIError, OSError, ConnectionError):
                await self.session.rollback()  # a no-op after commit; may fail if the link died
        finally:
            with contextlib.suppress(DBAPIError, OSError, ConnectionError):
                await self.session.close()
            if self._lock is not None:
                self._lock.release()
                self._lock = None
        if isinstance(exc, IntegrityError | DataError):
            return  # a race the caller handles, or a value the input checks let through: a bug
            # to see in the log, not an outage to retry and report as "the database is busy"
        if isinstance(exc, DBAPIError | OSError | ConnectionError):
            # The core only knows its own exception: tell it the store is unavailable.
            raise StorageUnavailable(type(exc).__name__) from exc

    async def commit(self) -> None:
        await self.session.commit()
