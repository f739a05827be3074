"""The Slack adapter: slack-bolt listeners that translate Slack payloads into core events, and
a sender that turns queued replies into Web API calls.

Events (DMs, mentions, reactions, buttons) are acknowledged as soon as they are stored in the
inbox (:mod:`adapters.inbox`): one insert and one commit, so Slack hears back inside its 3 s
however many people capture at once; their turns run right after, in order per person. The
slash command still runs its turn before answering, because its answer is the response.
Everything for the Web API is queued in the outbox in the turn's transaction and sent by the
:class:`~adapters.delivery.Deliverer`, which retries 429s (honouring ``Retry-After``), 5xx and
timeouts without ever losing a message.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.delivery import (
    Bookkeeping,
    ConversationPacer,
    Deliverer,
    PermanentDeliveryError,
    idea_post_context,
    queue_result,
)
from adapters.inbox import EventInbox
from adapters.runtime import Runtime
from adapters.scheduler import digest_delivered, digest_view
from adapters.slack.blocks import BUTTON_ACTION_PREFIX, render_digest, render_idea, render_reply
from adapters.slack.reactions import normalise as normalise_reaction
from adapters.slack.text import slack_to_plain
from adapters.slack.workspace import OwnWorkspaceOnly
from bot.events import MessageEvent, ReactionEvent, UserRef
from bot.ports import StorageUnavailable
from bot.replies import Reply, TurnResult, reply_from_dict, reply_to_dict
from bot.service import AfterTurn, TurnConflict, utcnow
from storage.outbox import OutboxItem
from storage.unit_of_work import SqlUnitOfWork

log = logging.getLogger(__name__)

PLATFORM = "slack"
NAME_TTL_SECONDS = 3600.0
NAME_CACHE_MAX = 20_000
LOOKUP_TIMEOUT_SECONDS = 2
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "is_archived", "not_in_channel", "account_inactive", "invalid_auth",
    "token_revoked", "user_not_found", "cannot_dm_bot", "missing_scope", "restricted_action",
})
BUSY_TEXT = "Sorry, that clashed with another change. Please send it again."
CONTEXT_KEY = "kaizen_context"
"""Where a stored event keeps what bolt told the ack about it (our bot user id)."""
DM_HINT = "I've sent you a direct message to capture your idea there."


class SlackAdapter:
    """Owns the bolt app, the Web API client and the Slack deliverer."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        if not (settings.slack_bot_token and settings.slack_signing_secret):
            raise ValueError("SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are required for Slack")
        token = settings.slack_bot_token.get_secret_value()
        base_url = settings.slack_api_url.rstrip("/") + "/"
        self._runtime = runtime
        self._service = runtime.service
        # Token and secret are passed explicitly: bolt never reads them from the environment.
        self.app = AsyncApp(
            token=token,
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            process_before_response=True,  # our listeners are fast; sending happens later
            logger=logging.getLogger("kaizen.slack.bolt"),
        )
        self.client: AsyncWebClient = self.app.client
        self.client.base_url = base_url
        # A hanging Web API must not hold the deliverer (slack_sdk's default is 30 s): the call
        # fails, the outbox keeps the item and retries it with backoff.
        self.client.timeout = settings.platform_timeout_seconds  # type: ignore[assignment]
        self.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
        self.client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=2))
        # Name lookups happen while Slack waits for our answer: short timeout, no sleeping.
        self._lookup = AsyncWebClient(token=token, base_url=base_url,
                                      timeout=LOOKUP_TIMEOUT_SECONDS, retry_handlers=[])
        self._names: dict[str, tuple[float, str | None]] = {}
        self._approve_hint = (settings.approve_reactions or ["white_check_mark"])[0]
        self._reject_hint = (settings.reject_reactions or ["x"])[0]
        self._ideas_channel_default = settings.ideas_channel
        self.deliverer = Deliverer(runtime, PLATFORM, self.send)
        self.inbox = EventInbox(runtime, PLATFORM, self._process)
        self._digest_pacer = ConversationPacer(1, 1.0)
        self._socket_handler: Any = None
        self._register()

    # --- wiring ---------------------------------------------------------------------------------

    def _register(self) -> None:
        self.app.use(OwnWorkspaceOnly())
        self.app.command("/kaizen")(self._on_command)
        self.app.event("message")(self._ack_message)
        self.app.event("app_mention")(self._ack_mention)
        self.app.event("reaction_added")(self._ack_reaction)
        self.app.event("reaction_removed")(self._ack_reaction)
        self.app.action(re.compile(f"^{BUTTON_ACTION_PREFIX}"))(self._ack_button)
        self.app.error(self._on_error)

    async def handle_http(self, request: web.Request) -> web.Response:
        """``POST /slack/events``: bolt verifies the signature and dispatches.

        A body bolt cannot parse (broken JSON, a JSON array, a broken ``payload=``) is a 400,
        not a crash; bolt catches our listeners' own errors itself, so anything escaping its
        dispatch is a payload shape it cannot route: also a 400, logged.
        """
        if not _signature_headers_well_formed(request.headers):
            # slack_sdk's verifier raises (500) on a non-ASCII signature or a non-numeric
            # timestamp: such a request is simply not signed by Slack.
            return web.json_response({"error": "invalid request signature"}, status=401)
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, AttributeError, TypeError, UnicodeDecodeError, RecursionError):
            return web.json_response({"error": "malformed request body"}, status=400)
        try:
            bolt_response = await self.app.async_dispatch(bolt_request)
        except Exception as exc:
            log.warning("Slack request could not be dispatched: %s", type(exc).__name__)
            return web.json_response({"error": "unprocessable request"}, status=400)
        return await to_aiohttp_response(bolt_response)

    async def start(self, app_token: str | None = None) -> None:
        self.deliverer.start()
        self.inbox.start()
        if app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket_handler = AsyncSocketModeHandler(self.app, app_token)
            await self._socket_handler.connect_async()

    async def stop(self) -> None:
        if self._socket_handler is not None:
            await self._socket_handler.close_async()
        await self.inbox.stop()
        await self.deliverer.stop()

    # --- acks: what Slack waits for -------------------------------------------------------------

    async def _ack_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return  # other bots, our own posts, edits and deletions are not answers
        if event.get("user"):
            await self._accept("message", body, event["user"],
                               f"im-{event.get('channel')}-{event.get('ts')}")

    async def _ack_mention(self, body: dict[str, Any], event: dict[str, Any],
                           context: dict[str, Any]) -> None:
        if event.get("bot_id") or not event.get("user"):
            return
        # The turn needs our own user id (to strip the mention); bolt knows it only now.
        stored = {**body, CONTEXT_KEY: {"bot_user_id": context.get("bot_user_id")}}
        await self._accept("app_mention", stored, event["user"], f"mention-{event.get('ts')}")

    async def _ack_reaction(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if (event.get("item") or {}).get("type") != "message" or not event.get("user"):
            return
        await self._accept(str(event.get("type")), body, event["user"],
                           f"reaction-{event.get('event_ts')}")

    async def _ack_button(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user_id = (body.get("user") or {}).get("id", "")
        await self._accept("button", body, user_id, _button_event_id(body, action))

    async def _accept(self, kind: str, body: dict[str, Any], user_id: str,
                      fallback_id: str) -> None:
        """Store the event for its turn (the ack's one commit); with the database out, run the
        turn now instead, which answers "try again" straight through the Web API."""
        team = body.get("team_id") or (body.get("team") or {}).get("id", "")
        # Slack's legacy verification token rides in every payload: it is not stored.
        stored = {key: value for key, value in body.items() if key != "token"}
        try:
            await self.inbox.accept(body.get("event_id") or fallback_id, kind,
                                    f"{team}:{user_id}", stored)
        except StorageUnavailable as exc:
            log.warning("Slack %s not stored for later (%s): running its turn now", kind, exc)
            await self._process(kind, body)

    async def _process(self, kind: str, body: dict[str, Any]) -> None:
        """Run the turn of an acknowledged event (see :mod:`adapters.inbox`)."""
        event = body.get("event") or {}
        if kind == "message":
            await self._on_message(body, event)
        elif kind == "app_mention":
            await self._on_mention(body, event, body.get(CONTEXT_KEY) or {})
        elif kind in {"reaction_added", "reaction_removed"}:
            await self._on_reaction(body, event, added=kind == "reaction_added")
        elif kind == "button":
            await self._on_button(body, (body.get("actions") or [{}])[0])
        else:
            log.error("stored Slack event of unknown kind %r dropped", kind)

    # --- turns ----------------------------------------------------------------------------------

    async def _on_command(self, ack: Any, command: dict[str, Any]) -> None:
        """``/kaizen …``: answered at once; a capture continues in the person's DM."""
        team, user_id = command.get("team_id", ""), command.get("user_id", "")
        channel = command.get("channel_id", "")
        in_dm = channel.startswith("D") or command.get("channel_name") == "directmessage"
        user = await self._user(team, user_id, command.get("user_name"))
        event = MessageEvent(
            event_id=f"slash-{command.get('trigger_id') or time.time_ns()}",
            user=user,
            text=f"/kaizen {slack_to_plain(command.get('text', ''))}".strip(),
            channel=channel,
            source={"channel_type": "im" if in_dm else "channel"},
        )

        async def queue(uow: Any, result: TurnResult) -> None:
            # Capture goes to the DM; other answers ride on the slash command's response.
            target = {"user": user_id} if (result.in_flow or in_dm) else None
            await self._queue(uow, team, result, target)

        try:
            result = await self._service.handle_message(event, after_turn=queue)
        except TurnConflict:
            await ack(text=BUSY_TEXT)
            return
        self.deliverer.kick()
        if result.storage_error:
            await ack(text=_render_all(result.replies)[0])
        elif result.duplicate or in_dm:
            await ack()
        elif result.in_flow:
            await ack(text=DM_HINT)
        else:
            text, blocks = _render_all(result.replies)
            await ack(text=text, blocks=blocks)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """A direct message to the bot: the next answer of a capture, or a command."""
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return  # other bots, our own posts, edits and deletions are not answers
        if not event.get("user"):
            return
        team = body.get("team_id", "")
        user = await self._user(team, event["user"])
        channel = event["channel"]
        message = MessageEvent(
            event_id=body.get("event_id") or f"im-{channel}-{event.get('ts')}",
            user=user,
            text=slack_to_plain(event.get("text", "")),
            channel=channel,
            source={"channel_type": "im"},
        )
        await self._run_message(message, team, {"channel": channel})

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any],
                          context: dict[str, Any]) -> None:
        """``@kaizen kaizen …`` in a channel: like the slash command, answered privately."""
        if event.get("bot_id") or not event.get("user"):
            return
        team, channel = body.get("team_id", ""), event.get("channel", "")
        text = event.get("text", "")
        bot_user = context.get("bot_user_id")
        if bot_user:
            text = re.sub(rf"<@{re.escape(bot_user)}(\|[^>]*)?>", " ", text)
        text = slack_to_plain(text).strip()
        if not re.match(r"^/?kaizen\b", text, re.IGNORECASE):
            text = f"/kaizen {text}"
        user = await self._user(team, event["user"])
        message = MessageEvent(event_id=body.get("event_id") or f"mention-{event.get('ts')}",
                               user=user, text=text, channel=channel,
                               source={"channel_type": "channel"})

        async def queue(uow: Any, result: TurnResult) -> None:
            target = ({"user": event["user"]} if result.in_flow else
                      {"channel": channel, "user": event["user"], "ephemeral": True})
            await self._queue(uow, team, result, target)

        await self._run_message(message, team, None, queue)

    async def _on_reaction(self, body: dict[str, Any], event: dict[str, Any],
                           added: bool) -> None:
        """A reaction on an idea post: managers decide, everyone else supports."""
        item = event.get("item") or {}
        if item.get("type") != "message" or not event.get("user"):
            return
        async with self._runtime.unit_of_work() as uow:
            idea_id = await uow.idea_posts.find_idea(PLATFORM, item.get("channel", ""),
                                                     item.get("ts", ""))
        if idea_id is None:
            return  # a reaction on some other message
        team = body.get("team_id", "")
        user = await self._user(team, event["user"])
        reaction = ReactionEvent(
            event_id=body.get("event_id") or f"reaction-{event.get('event_ts')}",
            user=user, idea_id=idea_id, reaction=normalise_reaction(event.get("reaction", "")),
            added=added,
        )

        async def queue(uow: Any, result: TurnResult) -> None:
            # Only refusals are worth telling the reactor (privately, where they reacted).
            target = {"channel": item.get("channel"), "user": event["user"], "ephemeral": True}
            problems = TurnResult([r for r in result.replies if r.kind in {"refused", "error"}],
                                  notifications=result.notifications,
                                  changed_ideas=result.changed_ideas)
            await self._queue(uow, team, problems, target)

        try:
            await self._service.handle_reaction(reaction, after_turn=queue)
        except TurnConflict:
            log.warning("reaction %s kept conflicting; the inbox will replay it",
                        reaction.event_id)
            raise
        self.deliverer.kick()

    async def _on_button(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A quick-answer button (e.g. Continue / Start over) is the same as typing its value."""
        user_id = (body.get("user") or {}).get("id", "")
        team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id", "")
        channel = (body.get("channel") or {}).get("id")
        user = await self._user(team, user_id)
        message = MessageEvent(
            event_id=_button_event_id(body, action),
            user=user, text=str(action.get("value", "")), channel=channel,
            source={"channel_type": "im"},
        )
        await self._run_message(message, team, {"channel": channel} if channel else
                                {"user": user_id})

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        log.error("Slack listener failed for %s %s: %s", body.get("type"),
                  event.get("type") or body.get("command"), error, exc_info=error)

    async def _run_message(self, message: MessageEvent, team: str,
                           target: dict[str, Any] | None,
                           queue: AfterTurn | None = None) -> None:
        async def default_queue(uow: Any, result: TurnResult) -> None:
            await self._queue(uow, team, result, target)

        try:
            result = await self._service.handle_message(message,
                                                        after_turn=queue or default_queue)
        except TurnConflict:
            await self._queue_now(team, target, Reply(BUSY_TEXT, kind="error"))
        else:
            if result.storage_error and target is not None:
                # The outbox is in the unreachable database: answer straight away.
                for reply in result.replies:
                    await self._post_reply(target, reply)
        self.deliverer.kick()

    # --- queueing -------------------------------------------------------------------------------

    async def _queue(self, uow: SqlUnitOfWork, team: str, result: TurnResult,
                     target: dict[str, Any] | None) -> None:
        await queue_result(uow, PLATFORM, team, result, target)

    async def _queue_now(self, team: str, target: dict[str, Any] | None, reply: Reply) -> None:
        if target is None:
            return
        async with self._runtime.unit_of_work() as uow:
            await uow.outbox.add(PLATFORM, team, "message", target, reply_to_dict(reply),
                                 utcnow())
            await uow.commit()

    # --- sending (called by the deliverer) ------------------------------------------------------

    async def send(self, item: OutboxItem) -> Bookkeeping | None:
        try:
            if item.kind == "message":
                await self._send_message(item)
            elif item.kind == "idea_post":
                return await self._send_idea(item)
            elif item.kind == "digest":
                await self._send_digest(item)
            else:
                raise PermanentDeliveryError(f"unknown outbox kind {item.kind!r}")
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            if error in PERMANENT_ERRORS:
                raise PermanentDeliveryError(f"Slack said {error}") from exc
            raise

    async def _send_message(self, item: OutboxItem) -> None:
        await self._post_reply(item.target, reply_from_dict(item.payload))

    async def _post_reply(self, target: dict[str, Any], reply: Reply) -> None:
        text, blocks = render_reply(reply)
        if target.get("ephemeral"):
            await self.client.chat_postEphemeral(channel=target["channel"], user=target["user"],
                                                 text=text, blocks=blocks)
            return
        channel = target.get("channel") or await self._dm_channel(target["user"])
        await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks,
                                           unfurl_links=False, unfurl_media=False)

    async def _send_digest(self, item: OutboxItem) -> None:
        """A stand-up digest: at most one post per second per channel (Slack's pace)."""
        text, blocks = render_digest(await digest_view(self._runtime, item))
        channel = str(item.target["channel"])
        await self._digest_pacer.wait(channel)
        try:
            await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks,
                                               unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            if error in PERMANENT_ERRORS:
                await digest_delivered(self._runtime, item.target, False, f"Slack said {error}")
            raise
        await digest_delivered(self._runtime, item.target, True, "")

    async def _dm_channel(self, user_id: str) -> str:
        response = await self.client.conversations_open(users=user_id)
        return str(response["channel"]["id"])

    async def _send_idea(self, item: OutboxItem) -> Bookkeeping | None:
        """Post the idea to the ideas channel, or update its post in place; where it was
        posted is recorded with the deliverer's round (see :class:`Deliverer`)."""
        idea, post, configured = await idea_post_context(self._runtime, PLATFORM, item)
        if idea is None:
            return None
        text, blocks = render_idea(idea, self._approve_hint, self._reject_hint)
        if post is not None:
            await self.client.chat_update(channel=post[0], ts=post[1], text=text, blocks=blocks)
            return lambda uow: uow.idea_posts.touch(idea.id, PLATFORM, utcnow())
        channel = configured.channel_id if configured else self._ideas_channel_default
        if not channel:
            log.warning("%s not posted: no ideas channel (type `/kaizen ideas here` in one, or "
                        "set KAIZEN_IDEAS_CHANNEL)", idea.key)
            return None
        response = await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks,
                                                      unfurl_links=False, unfurl_media=False)
        posted_in, ts = str(response["channel"]), str(response["ts"])
        log.info("%s posted to %s", idea.key, posted_in)
        return lambda uow: uow.idea_posts.save(idea.id, PLATFORM, posted_in, ts, utcnow())

    # --- people ---------------------------------------------------------------------------------

    async def _user(self, team: str, user_id: str, fallback: str | None = None) -> UserRef:
        return UserRef(PLATFORM, team, user_id, await self._display_name(user_id) or fallback)

    async def _display_name(self, user_id: str) -> str | None:
        """The person's Slack display name (cached for an hour; None if Slack can't say)."""
        cached = self._names.get(user_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        name: str | None = None
        try:
            response = await self._lookup.users_info(user=user_id)
            info = response.get("user") or {}
            profile = info.get("profile") or {}
            name = (profile.get("display_name") or profile.get("real_name")
                    or info.get("real_name") or info.get("name")) or None
        except Exception as exc:  # names are a nicety: never fail a turn for one
            log.debug("users.info for %s failed: %s", user_id, exc)
        if len(self._names) >= NAME_CACHE_MAX:  # bounded: drop the oldest half
            for stale in list(self._names)[: NAME_CACHE_MAX // 2]:
                del self._names[stale]
        self._names[user_id] = (time.monotonic() + (NAME_TTL_SECONDS if name else 300), name)
        return name


def _signature_headers_well_formed(headers: Any) -> bool:
    """``X-Slack-Request-Timestamp`` is digits and ``X-Slack-Signature`` is ``v0=`` and hex
    (bolt refuses a missing pair itself, with 401)."""
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if timestamp is None and signature is None:
        return True
    return bool(timestamp and timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 20
                and signature and re.fullmatch(r"v0=[0-9a-f]{1,128}", signature))


def _button_event_id(body: dict[str, Any], action: dict[str, Any]) -> str:
    return f"action-{action.get('action_ts')}-{(body.get('user') or {}).get('id', '')}"


def _render_all(replies: list[Reply]) -> tuple[str, list[dict[str, Any]]]:
    """Several replies as one ephemeral response (slash commands answer once)."""
    texts: list[str] = []
    blocks: list[dict[str, Any]] = []
    for index, reply in enumerate(replies):
        text, reply_blocks = render_reply(reply)
        texts.append(text)
        if index:
            blocks.append({"type": "divider"})
        blocks.extend(reply_blocks)
    return "\n".join(texts)[:3000], blocks[:50]
