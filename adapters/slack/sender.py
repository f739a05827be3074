"""Slack's :class:`~adapters.jobs.sender.Sender`: typed targets and replies → Web API calls.

Only Web API calls and their error classification live here; the deliverer does the
bookkeeping. The client retries 429s (honouring ``Retry-After``) and 5xx itself a few times;
what still fails goes back to the deliverer, which retries with backoff, except the errors in
:data:`PERMANENT_ERRORS`, which no retry can fix.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.jobs.pacing import ConversationPacer
from adapters.jobs.sender import IdeasChannel, PermanentDeliveryError, PostGone
from adapters.slack.blocks import render_digest, render_idea, render_reply
from bot.digest import DigestView
from bot.events import PostRef
from bot.model import Idea
from bot.replies import Reply
from bot.targets import Ephemeral, Target, ToChannel, ToReference, ToUser

log = logging.getLogger(__name__)

PERMANENT_ERRORS = frozenset({
    "channel_not_found", "is_archived", "not_in_channel", "account_inactive", "invalid_auth",
    "token_revoked", "user_not_found", "cannot_dm_bot", "missing_scope", "restricted_action",
})
T = TypeVar("T")


class SlackSender:
    platform = "slack"
    reaches_people = True  # conversations.open gives the DM of anyone in the workspace

    def __init__(self, client: AsyncWebClient, ideas_channel_default: str | None,
                 approve_hint: str, reject_hint: str) -> None:
        self._client = client
        self._ideas_channel_default = ideas_channel_default
        self._approve_hint, self._reject_hint = approve_hint, reject_hint
        self._digest_pacer = ConversationPacer(1, 1.0)  # Slack: about one post a second

    async def reply(self, to: Target, reply: Reply) -> None:
        text, blocks = render_reply(reply)
        if isinstance(to, Ephemeral):
            await _classified(lambda: self._client.chat_postEphemeral(
                channel=to.channel_id, user=to.user_id, text=text, blocks=blocks))
            return
        channel = await self._channel_of(to)
        await self._post(channel, text, blocks)

    async def post_idea(self, channel: IdeasChannel, idea: Idea) -> PostRef | None:
        where = channel.channel_id or self._ideas_channel_default
        if not where:
            log.warning("%s not posted: no ideas channel (type `/kaizen ideas here` in one, or "
                        "set KAIZEN_IDEAS_CHANNEL)", idea.key)
            return None
        text, blocks = render_idea(idea, self._approve_hint, self._reject_hint)
        response = await self._post(where, text, blocks)
        return PostRef(str(response["channel"]), str(response["ts"]))

    async def update_idea(self, channel: IdeasChannel, post: PostRef, idea: Idea) -> None:
        text, blocks = render_idea(idea, self._approve_hint, self._reject_hint)
        try:
            await _classified(lambda: self._client.chat_update(
                channel=post.channel_id, ts=post.message_id, text=text, blocks=blocks))
        except SlackApiError as exc:
            if _error_of(exc) == "message_not_found":
                raise PostGone(f"{idea.key}'s post was deleted (Slack said message_not_found)"
                               ) from exc
            raise

    async def send_digest(self, to: Target, view: DigestView) -> None:
        """At most one post per second per channel (Slack's pace)."""
        channel = await self._channel_of(to)
        text, blocks = render_digest(view)
        await self._digest_pacer.wait(channel)
        await self._post(channel, text, blocks)

    async def _channel_of(self, to: Target) -> str:
        match to:
            case ToChannel(channel_id) | Ephemeral(channel_id, _):
                return channel_id
            case ToUser(user_id):
                response = await _classified(
                    lambda: self._client.conversations_open(users=user_id))
                return str(response["channel"]["id"])
            case ToReference():
                raise PermanentDeliveryError("Slack has no conversation references")
        raise PermanentDeliveryError(f"not a Slack target: {to!r}")

    async def _post(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> Any:
        return await _classified(lambda: self._client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False))


async def _classified(call: Callable[[], Awaitable[T]]) -> T:
    """Run a Web API call; an error no retry can fix becomes a permanent failure."""
    try:
        return await call()
    except SlackApiError as exc:
        error = _error_of(exc)
        if error in PERMANENT_ERRORS:
            raise PermanentDeliveryError(f"Slack said {error}") from exc
        raise


def _error_of(exc: SlackApiError) -> str:
    return str(exc.response.get("error", "")) if exc.response is not None else ""
