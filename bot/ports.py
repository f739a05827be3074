"""What the core needs stored, as small Protocols that ``storage/`` implements.

Repositories never commit; the unit of work does, once per turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.events import UserRef
from bot.model import (
    ChannelConfig,
    Draft,
    Idea,
    IdeaEvent,
    NewIdea,
    Person,
    Process,
    StandardVersion,
    StoredDraft,
)
from bot.schedule import Schedule
from bot.subscriptions import Subscription
from bot.targets import Outbound


class ConcurrentUpdate(Exception):
    """Another worker changed the same conversation first; the turn must be run again."""


class StorageUnavailable(Exception):
    """The database could not be reached or was locked; nothing of the turn was kept."""


class ProcessedEvents(Protocol):
    async def record(self, platform: str, workspace: str, event_id: str, now: datetime) -> bool:
        """Remember a platform event id in its workspace; False if it was already processed
        (a retry)."""
        ...


class People(Protocol):
    async def ensure(self, user: UserRef, now: datetime) -> Person: ...

    async def get(self, person_id: int) -> Person | None: ...

    async def set_default_area(self, person_id: int, area: str | None) -> None: ...

    async def set_role(self, person_id: int, role: str) -> None: ...

    async def with_roles(self, platform: str, workspace: str, roles: set[str]) -> list[Person]:
        ...


class Drafts(Protocol):
    async def load(self, user: UserRef, now: datetime) -> StoredDraft: ...

    async def save(
        self, user: UserRef, draft: Draft | None, expected_version: int, now: datetime
    ) -> None:
        """Store the new state; raise :class:`ConcurrentUpdate` if the version moved on."""
        ...


class Ideas(Protocol):
    async def add(self, idea: NewIdea) -> Idea: ...

    async def get(self, idea_id: int) -> Idea | None: ...

    async def recent_by_author(self, author_id: int, limit: int) -> list[Idea]: ...

    async def open_unposted(self, platform: str, workspace: str, limit: int
                            ) -> tuple[list[int], int]:
        """Open ideas not posted on ``platform`` yet: the newest ``limit`` ids, oldest
        first, and how many there are in all."""
        ...

    async def transition(
        self,
        idea_id: int,
        from_status: str,
        to_status: str,
        decider_id: int | None,
        reason: str | None,
        now: datetime,
    ) -> bool:
        """Compare-and-set the status: False if the idea was no longer in ``from_status``."""
        ...

    async def edit(self, idea_id: int, fields: dict[str, str], now: datetime) -> bool:
        """Change texts while the idea is still submitted; False if it no longer is."""
        ...

    async def set_process(self, idea_id: int, process_id: int, now: datetime) -> None: ...

    async def created_since(self, author_id: int, since: datetime, limit: int) -> list[datetime]:
        """When the author's ideas created after ``since`` were made, newest first, at most
        ``limit`` of them: enough to tell whether they reached the hourly capture limit and
        when the oldest counted one leaves the window. Counted in the database, so the limit
        holds across workers."""
        ...


class IdeaEvents(Protocol):
    async def add(
        self,
        idea_id: int | None,
        actor_id: int | None,
        action: str,
        from_status: str | None,
        to_status: str | None,
        reason: str | None,
        at: datetime,
        *,
        result: str = "applied",
        via: str | None = None,
        subject_id: int | None = None,
    ) -> None: ...

    async def history(self, idea_id: int) -> list[IdeaEvent]: ...

    async def last_applied(self, idea_id: int) -> IdeaEvent | None: ...


class Reactions(Protocol):
    async def add(
        self, idea_id: int, person_id: int, reaction: str, kind: str, now: datetime
    ) -> bool:
        """Record a reaction (kind: support, approve, reject); False if already there."""
        ...

    async def remove(self, idea_id: int, person_id: int, reaction: str) -> str | None:
        """Forget a reaction; returns the kind it had, or None if there was none."""
        ...


class Standards(Protocol):
    async def find(self, platform: str, workspace: str, name: str) -> Process | None: ...

    async def ensure(self, platform: str, workspace: str, name: str,
                     now: datetime) -> Process: ...

    async def get(self, process_id: int) -> Process | None: ...

    async def all(self, platform: str, workspace: str) -> list[Process]: ...

    async def add_version(
        self, process_id: int, text: str, author_id: int | None, idea_id: int | None,
        now: datetime,
    ) -> StandardVersion: ...

    async def versions(self, process_id: int) -> list[StandardVersion]: ...


class Channels(Protocol):
    async def set(self, config: ChannelConfig, set_by: int | None, now: datetime) -> None: ...

    async def get(self, platform: str, workspace: str, purpose: str) -> ChannelConfig | None:
        ...


class Digests(Protocol):
    """Digest subscriptions, one per channel (the runs and the facts a digest reports are the
    scheduler's business, not the core's)."""

    async def subscribe(self, platform: str, workspace: str, channel_id: str,
                        reference: dict[str, object] | None, schedule: Schedule,
                        areas: tuple[str, ...], person_id: int | None,
                        now: datetime) -> Subscription: ...

    async def unsubscribe(self, platform: str, workspace: str, channel_id: str) -> bool: ...

    async def get(self, platform: str, workspace: str,
                  channel_id: str) -> Subscription | None: ...

    async def count(self, platform: str, workspace: str) -> int:
        """How many channels of the workspace have a digest subscription."""
        ...


class Outbox(Protocol):
    """What a turn sends, kept in its transaction and delivered after commit."""

    async def queue(self, platform: str, items: Sequence[Outbound], now: datetime) -> None: ...

    async def wake(self, platform: str, workspace: str, target_key: str, now: datetime) -> int:
        """Make messages that waited for a way to reach ``target_key`` due now."""
        ...


class IdeaPosts(Protocol):
    async def find_idea(self, platform: str, channel_id: str, message_id: str) -> int | None:
        """The idea whose post is that message, if any."""
        ...


class ConversationRefs(Protocol):
    """How to write into a conversation later (platforms that need a stored reference)."""

    async def save(self, platform: str, workspace: str, scope: str, key: str,
                   reference: dict[str, object], now: datetime) -> bool: ...

    async def forget(self, platform: str, workspace: str, scope: str, key: str) -> None: ...


class UnitOfWork(Protocol):
    """One database transaction per turn; leaving without ``commit`` rolls back.

    Its repositories are read-only properties, so an implementation's own (narrower)
    repository types satisfy them.
    """

    @property
    def processed(self) -> ProcessedEvents: ...
    @property
    def people(self) -> People: ...
    @property
    def drafts(self) -> Drafts: ...
    @property
    def ideas(self) -> Ideas: ...
    @property
    def idea_events(self) -> IdeaEvents: ...
    @property
    def reactions(self) -> Reactions: ...
    @property
    def standards(self) -> Standards: ...
    @property
    def channels(self) -> Channels: ...
    @property
    def digests(self) -> Digests: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def idea_posts(self) -> IdeaPosts: ...
    @property
    def conversation_refs(self) -> ConversationRefs: ...

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None: ...

    async def commit(self) -> None: ...
