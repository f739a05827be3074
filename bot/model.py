"""Domain records the core reads and writes through the storage ports.

Plain dataclasses: storage maps its rows onto these, so the core never touches an ORM object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.events import UserRef

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
    directory_id: str | None = None
    """The person's directory id where the platform has one (Teams: the Entra object id),
    which configuration may name them by (``teams:<object id>``)."""

    @property
    def name(self) -> str:
        return self.display_name or self.user_id

    @property
    def ref(self) -> UserRef:
        return UserRef(self.platform, self.workspace, self.user_id, self.display_name,
                       self.directory_id)


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
    """A saved idea, with who wrote it, where it stands and who decided."""

    id: int
    workspace: str
    platform: str
    author_id: int
    author_name: str
    author_user_id: str
    area: str | None
    standard: str
    problem: str
    proposal: str
    status: str
    created_at: datetime
    updated_at: datetime
    process_id: int | None = None
    process: str | None = None
    support: int = 0
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None

    @property
    def key(self) -> str:
        return idea_key(self.id)

    @property
    def author_ref(self) -> UserRef:
        return UserRef(self.platform, self.workspace, self.author_user_id, self.author_name)


@dataclass(frozen=True, slots=True)
class IdeaEvent:
    """One line of an idea's audit trail (or a role change, with ``subject`` set)."""

    id: int
    idea_id: int | None
    actor_id: int | None
    actor: str | None
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    result: str
    via: str | None
    subject: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Process:
    """A named way of working (e.g. "expense claims") whose standard kaizens improve."""

    id: int
    platform: str
    workspace: str
    name: str
    current_version: int
    current_text: str | None


@dataclass(frozen=True, slots=True)
class StandardVersion:
    """One version of a process's standard, and the idea that caused it (if any)."""

    process_id: int
    version: int
    text: str
    author: str | None
    idea_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """A channel configured for a purpose (``ideas``, ``digest``) in a workspace."""

    platform: str
    workspace: str
    purpose: str
    channel_id: str
    reference: dict[str, object] | None
