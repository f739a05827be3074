"""Where a message goes, and what a turn sends: typed values instead of adapters' dicts.

A front end says, with each event, where the speaker's replies belong (a :class:`Route`); the
service turns the turn's replies, notifications and changed ideas into :data:`Outbound` items and
hands them to the unit of work before it commits, so they exist exactly when the change they
report does. A deliverer later sends each one through its platform's sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.replies import Reply, TurnResult


@dataclass(frozen=True, slots=True)
class ToUser:
    """The person's direct conversation with the bot.

    Where the platform can only reach a person through a conversation they opened (Teams),
    ``fallback`` is used when there is none yet; without one the message waits for them
    (``wait``) or is dropped.
    """

    user_id: str
    fallback: Target | None = None
    wait: bool = True


@dataclass(frozen=True, slots=True)
class ToChannel:
    """A channel (or a direct conversation) by its platform id."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class Ephemeral:
    """Shown only to ``user_id`` inside ``channel_id`` (Slack's ephemeral messages)."""

    channel_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class ToReference:
    """A conversation the platform lets us write to only through a stored reference (a Teams
    ``ConversationReference``): opaque JSON the core never reads."""

    reference: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class InPlace:
    """Instead of an earlier message of ours, in its conversation (a form once it was sent)."""

    reference: Mapping[str, object]
    message_id: str


Target = ToUser | ToChannel | Ephemeral | ToReference | InPlace


@dataclass(frozen=True, slots=True)
class Message:
    """A reply (or notification) for one target."""

    workspace: str
    to: Target
    reply: Reply
    idea_id: int | None = None


@dataclass(frozen=True, slots=True)
class RefreshIdea:
    """An idea changed: its post in the ideas channel is (re)posted."""

    workspace: str
    idea_id: int


Outbound = Message | RefreshIdea


@dataclass(frozen=True, slots=True)
class Route:
    """Where a turn's replies go.

    ``to`` takes them (None: the front end answers them itself, e.g. in a slash command's
    response); a turn of the capture conversation uses ``in_flow_to`` when given (Slack moves
    it to the person's DM). ``only`` keeps just those reply kinds (a reaction's only worth
    telling the reactor when it was refused); ``skip`` drops kinds shown another way.
    """

    to: Target | None
    in_flow_to: Target | None = None
    only: frozenset[str] | None = None
    skip: frozenset[str] = frozenset()
    private_to: Target | None = None
    """Where replies that show the person's private draft go (their own chat); without it,
    ``in_flow_to``; and if that is not set either, such replies are not sent here at all."""

    def target_for(self, result: TurnResult) -> Target | None:
        if result.private:
            return self.private_to or self.in_flow_to
        if result.in_flow and self.in_flow_to is not None:
            return self.in_flow_to
        return self.to

    def keeps(self, reply: Reply) -> bool:
        return reply.kind not in self.skip and (self.only is None or reply.kind in self.only)


def outbound(result: TurnResult, workspace: str, route: Route | None) -> list[Outbound]:
    """What a turn sends on its platform: replies by ``route``, notifications to their
    person's direct conversation, a refreshed post for every changed idea. Without a route
    (the console, scripts) nothing is sent: the caller shows the replies itself."""
    if route is None:
        return []
    items: list[Outbound] = []
    target = route.target_for(result)
    if target is not None:
        items += [Message(workspace, target, reply) for reply in result.replies
                  if route.keeps(reply)]
    items += [Message(note.to.workspace, ToUser(note.to.user_id), note.reply, note.idea_id)
              for note in result.notifications]
    items += [RefreshIdea(workspace, idea_id) for idea_id in result.changed_ideas]
    return items
