"""One transaction per turn: repositories share a session; only :meth:`commit` makes it stick."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.digests import SqlDigests
from storage.outbox import SqlConversationRefs, SqlIdeaPosts, SqlOutbox
from storage.repositories import (
    SqlChannels,
    SqlDrafts,
    SqlIdeaEvents,
    SqlIdeas,
    SqlPeople,
    SqlProcessedEvents,
    SqlReactions,
    SqlStandards,
)


class SqlUnitOfWork:
    """Implements :class:`bot.ports.UnitOfWork`. Leaving the block without commit rolls back."""

    session: AsyncSession

    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

    async def __aenter__(self) -> SqlUnitOfWork:
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
        self.idea_posts = SqlIdeaPosts(self.session)
        self.conversation_refs = SqlConversationRefs(self.session)
        self.digests = SqlDigests(self.session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.session.rollback()  # a no-op after commit
        finally:
            await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()
