"""The one seam between delivery and a platform: what a sender can send, and how it fails.

Each platform's ``sender.py`` implements :class:`Sender` with Web API calls and nothing else:
no unit of work, no outbox rows. The :class:`~adapters.jobs.delivery.Deliverer` reads the outbox,
finds what a send needs (the idea, the ideas channel, a person's conversation), calls the sender
and records the outcome. A new outbound kind is a method here, one in each sender and a row in
the deliverer's table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.digest import DigestView
from bot.events import PostRef
from bot.model import Idea
from bot.replies import Reply
from bot.targets import Target


@dataclass(frozen=True, slots=True)
class IdeasChannel:
    """Where a workspace's ideas are posted, as configured (``/kaizen ideas here``): its id
    and, on platforms that need one, the stored way to write there. Both None when nobody
    chose a channel (a platform may have a default)."""

    channel_id: str | None = None
    reference: Mapping[str, object] | None = None


class Sender(Protocol):
    platform: str
    reaches_people: bool
    """True: it can write to any person by id (Slack opens the DM). False: only through the
    conversation the person has with the bot, which the deliverer looks up (Teams)."""

    async def reply(self, to: Target, reply: Reply) -> None:
        """A reply, a notice or the capture form (a reply of kind ``form``)."""

    async def post_idea(self, channel: IdeasChannel, idea: Idea) -> PostRef | None:
        """Post a new idea; where it went (None: nowhere to post it, already logged)."""

    async def update_idea(self, channel: IdeasChannel, post: PostRef, idea: Idea) -> None:
        """Show the idea's new state in its existing post."""

    async def send_digest(self, to: Target, view: DigestView) -> None:
        """A channel's stand-up digest."""


class PermanentDeliveryError(Exception):
    """Retrying cannot help (e.g. the channel is archived, the bot was removed)."""


class TargetGone(PermanentDeliveryError):
    """The platform says the bot cannot write there any more (removed, blocked). ``channel``
    names the conversation when the target was not a person; the deliverer disables it."""

    def __init__(self, reason: str, channel: str | None = None) -> None:
        super().__init__(reason)
        self.channel = channel


class PostGone(PermanentDeliveryError):
    """The message to update no longer exists (someone deleted the idea's post): nothing to
    retry, and not a sign that the bot was removed."""


class DeferredDelivery(Exception):
    """Not possible yet, through nobody's fault (e.g. no chat with that person exists until they
    first talk to the bot): wait ``seconds`` without counting an attempt."""

    def __init__(self, reason: str, seconds: float = 3600.0) -> None:
        super().__init__(reason)
        self.seconds = seconds


class RetryLater(Exception):
    """A transient failure that says when to come back (HTTP ``Retry-After``)."""

    def __init__(self, reason: str, seconds: float | None = None) -> None:
        super().__init__(reason)
        self.seconds = seconds
