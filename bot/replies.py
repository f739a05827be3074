"""The tiny platform-neutral reply model the core returns and adapters render.

Text is plain: adapters escape it for their platform (Slack mrkdwn, Adaptive Cards) so user text can
never become a mention or markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.events import UserRef

if TYPE_CHECKING:
    from bot.targets import Outbound


class ReplyKind(StrEnum):
    """What a reply is, so front ends can show (or route) each kind its own way."""

    INFO = "info"
    QUESTION = "question"
    INTRO = "intro"
    CHOICE = "choice"
    DONE = "done"
    SAVED = "saved"
    ERROR = "error"
    REFUSED = "refused"
    LIMIT = "limit"
    HELP = "help"
    LIST = "list"
    IDEA = "idea"
    STANDARD = "standard"
    NOTIFICATION = "notification"
    FORM_ERROR = "form_error"
    """A submitted form could not be saved: shown on the form itself (a :attr:`FORM`)."""
    FORM = "form"
    """The capture form, filled in with ``fields`` (name, value); ``text`` says what to fix."""


PROBLEMS = frozenset({ReplyKind.REFUSED, ReplyKind.ERROR})
"""The kinds worth telling someone whose reaction or click did not do what they meant."""


@dataclass(frozen=True, slots=True)
class Button:
    """A quick answer. Clicking it sends ``value`` as if the user had typed it."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message back to the person who spoke.

    ``fields`` are labelled values (rendered as a fact list or section fields) and ``buttons`` are
    optional quick answers; a platform without buttons shows their values as hints.
    """

    text: str
    fields: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()
    kind: ReplyKind = ReplyKind.INFO
    link: tuple[str, str] | None = None
    """One of our own addresses, ``(label, url)``, shown as a live link. Only here: front
    ends make nothing in ``text`` or ``fields`` (where people's words go) a link."""


@dataclass(frozen=True, slots=True)
class Notification:
    """A message for someone other than the speaker, delivered to their direct conversation.

    Closing the loop: every status change of an idea notifies its author this way.
    ``idea_id`` lets adapters also refresh the idea's post (support count, status).
    """

    to: UserRef
    reply: Reply
    idea_id: int | None = None


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What one turn produced: replies to the speaker, in order, and notifications to others.

    ``changed_ideas`` are ideas whose post should be refreshed (status or support changed).
    ``in_flow`` says the turn was part of the capture conversation (adapters continue it in
    the person's direct conversation), not a one-off command.
    """

    replies: list[Reply] = field(default_factory=list)
    duplicate: bool = False
    notifications: list[Notification] = field(default_factory=list)
    changed_ideas: list[int] = field(default_factory=list)
    in_flow: bool = False
    private: bool = False
    """The replies show the person's private draft (said outside their direct conversation):
    they go only where the route sends private replies."""
    storage_error: bool = False
    """The database was unavailable: nothing was kept, the replies ask to try again and must
    be sent directly (the outbox lives in that database)."""
    outbound: list[Outbound] = field(default_factory=list)
    """What the turn queued for delivery, in the same transaction as its change."""

    @property
    def texts(self) -> list[str]:
        return [reply.text for reply in self.replies]


def reply_to_dict(reply: Reply) -> dict[str, object]:
    """A reply as plain JSON data (for the outbox)."""
    return {
        "text": reply.text,
        "fields": [list(f) for f in reply.fields],
        "buttons": [[b.label, b.value] for b in reply.buttons],
        "kind": reply.kind,
        **({"link": list(reply.link)} if reply.link else {}),
    }


def reply_from_dict(data: Mapping[str, object]) -> Reply:
    return Reply(
        text=str(data.get("text", "")),
        fields=tuple((str(k), str(v)) for k, v in _pairs(data.get("fields"))),
        buttons=tuple(Button(str(label), str(value))
                      for label, value in _pairs(data.get("buttons"))),
        kind=_kind(data.get("kind")),
        link=next(((str(label), str(url)) for label, url in _pairs([data.get("link")])), None),
    )


def _pairs(value: object) -> list[tuple[object, object]]:
    """``[[a, b], …]`` as stored in JSON; anything else is no pairs at all."""
    if not isinstance(value, list | tuple):
        return []
    return [(pair[0], pair[1]) for pair in value
            if isinstance(pair, list | tuple) and len(pair) == 2]


def _kind(value: object) -> ReplyKind:
    try:
        return ReplyKind(str(value))
    except ValueError:  # a row queued by another version: show it as plain information
        return ReplyKind.INFO
