"""The small event types an adapter produces from a platform payload.

An adapter turns "a signed Slack envelope" or "a Bot Framework activity" into one of these,
so the core never has to know which platform the words came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class UserRef:
    """Who acted: a person is identified per platform and workspace (Slack team, Teams tenant)."""

    platform: str
    workspace: str
    user_id: str
    display_name: str | None = None
    directory_id: str | None = None
    """Teams: the Entra (AAD) object id, the id people are configured by (``teams:<id>``)."""


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """Someone said something to the bot: a slash command, a direct message or a console line.

    ``event_id`` is the platform's own id for this delivery (Slack ``event_id``, Teams activity id);
    the same id delivered twice is a platform retry and is processed once.
    ``channel`` is where it was said, kept as the idea's origin.
    """

    event_id: str
    user: UserRef
    text: str
    channel: str | None = None
    source: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReactionEvent:
    """Someone added (or removed) a reaction on an idea's post.

    Adapters resolve the post to the idea (Slack ``(channel, ts)``, Teams ``replyToId``) and
    pass the reaction's normalised name (``white_check_mark``, ``+1``, ``like``).
    """

    event_id: str
    user: UserRef
    idea_id: int
    reaction: str
    added: bool = True


@dataclass(frozen=True, slots=True)
class FormEvent:
    """A complete answer set from a form (Teams' capture card): no conversation, no labels to
    parse; each field arrives on its own (``standard``, ``problem``, ``proposal``, optional
    ``area`` and ``process``)."""

    event_id: str
    user: UserRef
    values: dict[str, str]
    channel: str | None = None
