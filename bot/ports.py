"""What the core needs stored, as small Protocols that ``storage/`` implements.

Repositories never commit; the unit of work does, once per turn.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.events import UserRef
from bot.model import Draft, Idea, NewIdea, Person, StoredDraft


class ConcurrentUpdate(Exception):
    """Another worker changed the same conversation first; the turn must be run again."""


class ProcessedEvents(Protocol):
    async def record(self, platform: str, event_id: str, now: datetime) -> bool:
        """Remember a platform event id; False if it was already processed (a retry)."""
        ...


class People(Protocol):
    async def ensure(self, user: UserRef, now: datetime) -> Person: ...

    async def set_default_area(self, person_id: int, area: str | None) -> None: ...

    async def set_role(self, person_id: int, role: str) -> None: ...


class Drafts(Protocol):
    async def load(self, user: UserRef, now: datetime) -> StoredDraft: ...

    async def save(
        self, user: UserRef, draft: Draft | None, expected_version: int, now: datetime
    ) -> None:
        """Store the new state; raise :class:`ConcurrentUpdate` if the version moved on."""
        ...


class Ideas(Protocol):
    async def add(self, idea: NewIdea) -> Idea: ...

    async def recent_by_author(self, author_id: int, limit: int) -> list[Idea]: ...


class IdeaEvents(Protocol):
    async def add(
        self,
        idea_id: int,
        actor_id: int | None,
        action: str,
        from_status: str | None,
        to_status: str | None,
        reason: str | None,
        at: datetime,
    ) -> None: ...


class UnitOfWork(Protocol):
    """One database transaction per turn; leaving without ``commit`` rolls back."""

    processed: ProcessedEvents
    people: People
    drafts: Drafts
    ideas: Ideas
    idea_events: IdeaEvents

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def commit(self) -> None: ...
