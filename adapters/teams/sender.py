"""Teams' :class:`~adapters.jobs.sender.Sender`: proactive messages through the Bot Connector.

Everything goes out with ``continue_conversation`` on a stored conversation reference, paced
per conversation (Teams allows 7 messages a second). A 403/404 (bot removed or blocked) is
:class:`~adapters.jobs.sender.TargetGone`, so the deliverer disables that conversation; 412, 429
and 5xx are retried later, honouring ``Retry-After``. In local mode replies go only to a
``serviceUrl`` on this machine (checked before each send).
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, CardAction, ConversationReference, SuggestedActions

from adapters.jobs.pacing import ConversationPacer
from adapters.jobs.sender import (
    IdeasChannel,
    PermanentDeliveryError,
    PostGone,
    RetryLater,
    TargetGone,
)
from adapters.teams.cards import Card, digest_card, form_card, idea_card
from adapters.teams.local import is_loopback_url
from adapters.teams.schema import with_schema_casing
from adapters.teams.text import bare_conversation_id, teams_text
from bot.digest import DigestView
from bot.events import PostRef
from bot.model import Idea
from bot.replies import Reply, ReplyKind
from bot.targets import InPlace, Target, ToReference

log = logging.getLogger(__name__)

PER_CONVERSATION_PER_SECOND = 7
TRANSIENT_STATUSES = frozenset({412, 429, 500, 502, 503, 504})


class TeamsSender:
    platform = "teams"
    reaches_people = False  # only through the chat a person has with the bot

    def __init__(self, cloud: CloudAdapter, app_id: str | None, local_mode: bool) -> None:
        self._cloud = cloud
        self._app_id = app_id
        self._local_mode = local_mode
        self._pacer = ConversationPacer(PER_CONVERSATION_PER_SECOND)

    async def reply(self, to: Target, reply: Reply) -> None:
        activity = (card_activity(form_card(dict(reply.fields),
                                            reply.text.split("\n") if reply.text else None))
                    if reply.kind == ReplyKind.FORM else reply_activity(reply))
        if isinstance(to, InPlace):
            await self._update(to.reference, to.message_id, activity)
            return
        await self._send(_reference(to), activity)

    async def post_idea(self, channel: IdeasChannel, idea: Idea) -> PostRef | None:
        if channel.reference is None or not channel.channel_id:
            log.warning("%s not posted to Teams: no ideas channel (say `@Kaizen ideas here` in "
                        "one)", idea.key)
            return None
        activity_id = await self._send(channel.reference, card_activity(idea_card(idea)))
        return PostRef(channel.channel_id, activity_id) if activity_id else None

    async def update_idea(self, channel: IdeasChannel, post: PostRef, idea: Idea) -> None:
        if channel.reference is None:
            raise PermanentDeliveryError("the ideas channel is no longer configured")
        try:
            await self._update(channel.reference, post.message_id, card_activity(idea_card(idea)))
        except NotFound as exc:
            raise PostGone(f"{idea.key}'s card was deleted (Teams answered 404)") from exc

    async def send_digest(self, to: Target, view: DigestView) -> None:
        if not isinstance(to, ToReference):
            raise PermanentDeliveryError("digest subscription has no channel reference")
        await self._send(to.reference, card_activity(digest_card(view)))

    async def _send(self, reference: Mapping[str, object], activity: Activity) -> str | None:
        async def send(turn_context: TurnContext) -> str | None:
            response = await turn_context.send_activity(activity)
            return response.id if response else None

        return await self._continue(reference, send)

    async def _update(self, reference: Mapping[str, object], message_id: str,
                      activity: Activity) -> None:
        """Show ``activity`` instead of our earlier message ``message_id``."""
        activity.id = message_id

        async def update(turn_context: TurnContext) -> None:
            await turn_context.update_activity(activity)

        await self._continue(reference, update)

    async def _continue(self, reference_data: Mapping[str, object],
                        action: Callable[[TurnContext], Awaitable[Any]]) -> Any:
        reference = ConversationReference().deserialize(with_schema_casing(reference_data))
        if self._local_mode and not is_loopback_url(reference.service_url):
            raise PermanentDeliveryError(
                f"Teams local mode sends only to a serviceUrl on this machine, not "
                f"{reference.service_url!r}")
        await self._pacer.wait(reference.conversation.id)
        outcome: dict[str, Any] = {}

        async def callback(turn_context: TurnContext) -> None:
            try:
                outcome["value"] = await action(turn_context)
            except Exception as exc:  # surfaced below, not swallowed by on_turn_error
                outcome["error"] = exc

        await self._cloud.continue_conversation(reference, callback, bot_app_id=self._app_id)
        if "error" in outcome:
            raise _classified(outcome["error"], reference)
        return outcome.get("value")


class NotFound(PermanentDeliveryError):
    """Teams has no such message or conversation (404): nothing to retry, nothing disabled."""


def _reference(to: Target) -> Mapping[str, object]:
    if isinstance(to, ToReference):
        return to.reference
    raise PermanentDeliveryError(f"Teams writes only through a conversation reference, not "
                                 f"{type(to).__name__}")


def _classified(error: Exception, reference: ConversationReference) -> Exception:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    if status == 403:
        channel = bare_conversation_id(reference.conversation.id or "")
        gone = TargetGone("Teams answered 403 (bot removed or blocked); target disabled",
                          channel=channel)
        gone.__cause__ = error
        return gone
    if status == 404:  # a missing message or conversation: not a removed bot
        missing = NotFound("Teams answered 404 (no such message or conversation)")
        missing.__cause__ = error
        return missing
    if status in TRANSIENT_STATUSES:
        headers = getattr(response, "headers", None) or {}
        retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
        later = RetryLater(f"Teams answered {status}",
                           float(retry_after) if retry_after else None)
        later.__cause__ = error
        return later
    return error


_CODE = re.compile(r"`([^`\n]+)`")


def _with_code(text: str) -> str:
    """``text`` for Teams with each `…` span as inline code (what Slack shows for it), the
    rest literal."""
    parts = _CODE.split(text)
    return "".join(f"<code>{teams_text(part)}</code>" if index % 2 else teams_text(part)
                   for index, part in enumerate(parts))


def card_activity(card: Card) -> Activity:
    return MessageFactory.attachment(CardFactory.adaptive_card(card))


def reply_activity(reply: Reply) -> Activity:
    """A core reply as a Teams HTML message in which every character of people's words shows
    literally (see :func:`teams_text`): our `command` hints in the text are code, as in Slack;
    each field is a line with its label in bold; quick answers become suggested actions."""
    text = _with_code(reply.text)
    facts = [f"<b>{teams_text(label)}</b>: {teams_text(value)}" if label else teams_text(value)
             for label, value in reply.fields]
    if facts:
        text += "<br><br>" + "<br>".join(facts)
    if reply.link:  # our own address: the one live link a message may carry
        label, url = reply.link
        text += f'<br><br><a href="{html.escape(url, quote=True)}">{teams_text(label)}</a>'
    activity = MessageFactory.text(text)
    activity.text_format = "xml"
    if reply.buttons:
        activity.suggested_actions = SuggestedActions(actions=[
            CardAction(type="imBack", title=b.label, value=b.value) for b in reply.buttons
        ])
    return activity
