"""Domain records the core reads and writes through the storage ports.

Plain dataclasses: storage maps its rows onto these, so the core never touches an ORM object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

DRAFT_TTL = timedelta(hours=24)
"""A draft untouched for this long expires (its answers are shown back, never silently lost)."""

IDEA_KEY_PREFIX = "KZ-"


def idea_key(idea_id: int) -> str:
    """The human key of an idea, e.g. ``KZ-12``: short enough to type in a command."""
    return f"{IDEA_KEY_PREFIX}{idea_id}"


@dataclass(frozen=True, slots=True)
class Person:
    """Someone who talks to the bot, as stored (id is ours, user_id the platform's)."""

    id: int
    platform: str
    workspace: str
    user_id: str
    display_name: str | None
    default_area: str | None
    role: str = "member"

    @property
    def name(self) -> str:
        return self.display_name or self.user_id


@dataclass(slots=True)
class Draft:
    """The capture conversation's state: which question is open and what has been answered.

    ``pending`` holds a decision the bot asked for and is waiting on (e.g. "continue or start
    over?"), together with anything the user typed that must not be lost meanwhile.
    """

    step: str
    answers: dict[str, str] = field(default_factory=dict)
    area: str | None = None
    pending: dict[str, str] | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None

    def is_expired(self, now: datetime) -> bool:
        return self.updated_at is not None and now - self.updated_at > DRAFT_TTL


@dataclass(frozen=True, slots=True)
class StoredDraft:
    """A draft as loaded, with the row version the save must still find (optimistic locking)."""

    draft: Draft | None
    version: int


@dataclass(frozen=True, slots=True)
class NewIdea:
    """A completed capture, ready to be saved."""

    workspace: str
    platform: str
    author_id: int
    area: str | None
    standard: str
    problem: str
    proposal: str
    source_channel: str | None
    source_event_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Idea:
    """A saved idea."""

    id: int
    workspace: str
    platform: str
    author_id: int
    author_name: str
    area: str | None
    standard: str
    problem: str
    proposal: str
    status: str
    created_at: datetime
    updated_at: datetime

    @property
    def key(self) -> str:
        return idea_key(self.id)
