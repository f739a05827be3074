"""Slack payloads → bot events, by a table keyed by payload type.

Pure functions of the payload: :mod:`adapters.slack.app` stores what a row accepts at ack time
and runs its turn later from the stored body, so each normalizer runs on both sides and must
give the same answer. Adding a payload type is one row in :data:`EVENTS` (Events API event
types), :data:`INTERACTIONS` or :data:`ENVELOPES` (top-level payload types bolt has no
listener for) and one test in ``tests/test_slack_normalize.py``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.slack.reactions import normalise as normalise_reaction
from adapters.slack.text import slack_to_plain
from bot.events import MessageEvent, Place, PostRef, ReactionEvent, UserRef
from bot.replies import PROBLEMS
from bot.targets import Ephemeral, Route, ToChannel, ToUser

PLATFORM = "slack"
CONTEXT_KEY = "kaizen_context"
"""Where a stored event keeps what bolt told the ack about it (our bot user id)."""

Body = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Inbound:
    """A turn to run: the event, where its replies go, and the person whose turns must run
    in order (``team:user``)."""

    event: MessageEvent | ReactionEvent
    route: Route

    @property
    def person_key(self) -> str:
        return f"{self.event.user.workspace}:{self.event.user.user_id}"


@dataclass(frozen=True, slots=True)
class Notice:
    """Nothing to run: only worth a line in the log at ``level``."""

    level: int
    text: str


Normalized = Inbound | Notice | None
Normalizer = Callable[[Body], Normalized]


def _user(team: str, user_id: str) -> UserRef:
    """The person (display names are looked up later, by the app, from the Web API)."""
    return UserRef(PLATFORM, team, user_id)


ANSWER_SUBTYPES = frozenset({None, "file_share"})
"""Message subtypes that are someone writing to us: plain text, and a file with a comment
(its comment is the answer; a file alone gets "please write a few words")."""


def direct_message(body: Body) -> Normalized:
    """A direct message to the bot: the next answer of a capture, or a command. Other bots,
    our own posts, edits and deletions are not answers."""
    event = body.get("event") or {}
    if (event.get("channel_type") != "im" or event.get("bot_id")
            or event.get("subtype") not in ANSWER_SUBTYPES):
        return None
    if not event.get("user") or not event.get("channel"):
        return None
    channel = str(event["channel"])
    return Inbound(
        MessageEvent(
            event_id=body.get("event_id") or f"im-{channel}-{event.get('ts')}",
            user=_user(str(body.get("team_id", "")), str(event["user"])),
            text=slack_to_plain(str(event.get("text", ""))),
            place=Place(channel, direct=True),
        ),
        Route(ToChannel(channel)),
    )


def mention(body: Body) -> Normalized:
    """``@kaizen kaizen …`` in a channel: like the slash command, answered privately there
    (a capture continues in the person's DM)."""
    event = body.get("event") or {}
    if event.get("bot_id") or not event.get("user"):
        return None
    channel, user_id = str(event.get("channel", "")), str(event["user"])
    text = str(event.get("text", ""))
    bot_user = (body.get(CONTEXT_KEY) or {}).get("bot_user_id")
    if bot_user:
        text = re.sub(rf"<@{re.escape(bot_user)}(\|[^>]*)?>", " ", text)
    text = slack_to_plain(text).strip()
    if not re.match(r"^/?kaizen\b", text, re.IGNORECASE):
        text = f"/kaizen {text}"
    return Inbound(
        MessageEvent(event_id=body.get("event_id") or f"mention-{event.get('ts')}",
                     user=_user(str(body.get("team_id", "")), user_id), text=text,
                     place=Place(channel)),
        Route(Ephemeral(channel, user_id), in_flow_to=ToUser(user_id)),
    )


def reaction(added: bool) -> Normalizer:
    def normalize(body: Body) -> Normalized:
        """A reaction on a message: the service decides whether it is an idea's post.
        Only refusals are worth telling the reactor (privately, where they reacted)."""
        event = body.get("event") or {}
        item = event.get("item") or {}
        if item.get("type") != "message" or not event.get("user"):
            return None
        channel, user_id = str(item.get("channel", "")), str(event["user"])
        return Inbound(
            ReactionEvent(
                event_id=body.get("event_id") or f"reaction-{event.get('event_ts')}",
                user=_user(str(body.get("team_id", "")), user_id), idea_id=None,
                reaction=normalise_reaction(str(event.get("reaction", ""))), added=added,
                post=PostRef(channel, str(item.get("ts", "")))),
            Route(Ephemeral(channel, user_id), only=PROBLEMS),
        )

    return normalize


def button(body: Body) -> Normalized:
    """A quick-answer button (e.g. Continue / Start over) is the same as typing its value."""
    actions = body.get("actions") or [{}]
    action = actions[0]
    user_id = str((body.get("user") or {}).get("id", ""))
    if not user_id:
        return None
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id", "")
    channel = (body.get("channel") or {}).get("id")
    return Inbound(
        MessageEvent(event_id=button_event_id(body), user=_user(str(team), user_id),
                     text=str(action.get("value", "")),
                     place=Place(channel, direct=True) if channel else Place(direct=True)),
        Route(ToChannel(str(channel)) if channel else ToUser(user_id)),
    )


def rate_limited(body: Body) -> Normalized:
    """Slack dropped some of our events this minute (over 30,000 an hour for a workspace).
    It must still get a 200: Slack disables the subscriptions of apps that fail more than
    5 % of deliveries in an hour."""
    return Notice(logging.WARNING,
                  f"Slack rate-limited event deliveries for team {body.get('team_id', '?')} "
                  f"(minute {body.get('minute_rate_limited', '?')}): some events of that "
                  "minute were not sent to us")


EVENTS: dict[str, Normalizer] = {
    "message": direct_message,
    "app_mention": mention,
    "reaction_added": reaction(True),
    "reaction_removed": reaction(False),
}
"""Events API event types (``event.type``): acknowledged, stored, then run in order."""

INTERACTIONS: dict[str, Normalizer] = {
    "button": button,
}
"""Interactive payloads (``block_actions`` from our buttons)."""

ENVELOPES: dict[str, Normalizer] = {
    "app_rate_limited": rate_limited,
}
"""Top-level payload types no bolt listener routes: answered 200 before dispatch."""

_ALL: dict[str, Normalizer] = {**EVENTS, **INTERACTIONS, **ENVELOPES}


def normalize(kind: str, body: Body) -> Normalized:
    """The row for ``kind`` applied to ``body``; None for a kind we do not handle."""
    normalizer = _ALL.get(kind)
    return normalizer(body) if normalizer is not None else None


def slash_command(command: Body) -> tuple[MessageEvent, Route]:
    """``/kaizen …``: answered in the command's response unless it goes on in the DM (a
    capture, or a command typed in the DM itself)."""
    user_id = str(command.get("user_id", ""))
    channel = str(command.get("channel_id", ""))
    in_dm = channel.startswith("D") or command.get("channel_name") == "directmessage"
    event = MessageEvent(
        event_id=f"slash-{command.get('trigger_id') or time.time_ns()}",
        user=UserRef(PLATFORM, str(command.get("team_id", "")), user_id,
                     command.get("user_name") or None),
        text=f"/kaizen {slack_to_plain(str(command.get('text', '')))}".strip(),
        place=Place(channel, direct=in_dm),
    )
    return event, Route(ToUser(user_id) if in_dm else None, in_flow_to=ToUser(user_id))


def button_event_id(body: Body) -> str:
    action = (body.get("actions") or [{}])[0]
    return f"action-{action.get('action_ts')}-{(body.get('user') or {}).get('id', '')}"
