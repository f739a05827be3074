"""The small event types an adapter produces from a platform payload.

An adapter turns "a signed Slack envelope" or "a Bot Framework activity" into one of these,
so the core never has to know which platform the words came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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
class Place:
    """Where something was said: a channel (or direct conversation) id, whether it is the
    person's direct conversation with the bot, and the platform's own way back into it when it
    needs one (a Teams conversation reference: opaque JSON the core stores, never reads)."""

    channel_id: str | None = None
    direct: bool = False
    reference: Mapping[str, object] | None = None


NOWHERE = Place()


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """Someone said something to the bot: a slash command, a direct message or a console line.

    ``event_id`` is the platform's own id for this delivery (Slack ``event_id``, Teams activity id);
    the same id delivered twice is a platform retry and is processed once.
    ``place`` is where it was said, kept as the idea's origin. ``offers_form``: the front end
    can show a capture form, so an incomplete one-shot capture gets the form (filled in with
    what was said) instead of the questions.
    """

    event_id: str
    user: UserRef
    text: str
    place: Place = NOWHERE
    offers_form: bool = False

    @property
    def channel(self) -> str | None:
        return self.place.channel_id


@dataclass(frozen=True, slots=True)
class ReactionEvent:
    """Someone added (or removed) a reaction on an idea's post.

    The front end names the post (:class:`PostRef`: Slack ``(channel, ts)``, Teams
    ``(conversation, replyToId)``) and the service finds its idea; tests and the console may
    name the idea directly. ``reaction`` is the normalised name (``white_check_mark``, ``+1``,
    ``like``).
    """

    event_id: str
    user: UserRef
    idea_id: int | None
    reaction: str
    added: bool = True
    post: PostRef | None = None


@dataclass(frozen=True, slots=True)
class PostRef:
    """A message the bot posted: its conversation and the platform's message id."""

    channel_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class FormEvent:
    """A complete answer set from a form (Teams' capture card): no conversation, no labels to
    parse; each field arrives on its own (``standard``, ``problem``, ``proposal``, optional
    ``area`` and ``process``)."""

    event_id: str
    user: UserRef
    values: dict[str, str]
    place: Place = NOWHERE

    @property
    def channel(self) -> str | None:
        return self.place.channel_id


@dataclass(frozen=True, slots=True)
class DecisionEvent:
    """A decision button clicked on an idea's card (approve, or reject with a reason)."""

    event_id: str
    user: UserRef
    idea_id: int | None
    """None when the card did not carry a valid one: the clicker is asked which idea."""
    decision: str
    reason: str = ""
    place: Place = NOWHERE


@dataclass(frozen=True, slots=True)
class ConversationEvent:
    """The bot was added to (``joined``) or removed from a conversation. ``place.reference``
    is how to write there later; ``personal``: the person's own chat with the bot."""

    user: UserRef
    place: Place
    joined: bool
    personal: bool
