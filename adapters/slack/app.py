"""The Slack front end: slack-bolt wiring and acknowledgements.

Events (DMs, mentions, reactions, buttons) are acknowledged as soon as they are stored in the
inbox (:mod:`adapters.jobs.inbox`): one insert and one commit, so Slack hears back inside its 3 s
however many people capture at once; their turns run right after, in order per person. The
slash command still runs its turn before answering, because its answer is the response.
Payloads become bot events in :mod:`adapters.slack.normalize` (a table); what a turn sends is
queued in its transaction and delivered by the :class:`~adapters.jobs.delivery.Deliverer` through
:class:`~adapters.slack.sender.SlackSender`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.host.runtime import Runtime
from adapters.jobs.delivery import Deliverer
from adapters.jobs.inbox import EventInbox
from adapters.slack.blocks import BUTTON_ACTION_PREFIX, render_reply
from adapters.slack.normalize import (
    CONTEXT_KEY,
    ENVELOPES,
    EVENTS,
    INTERACTIONS,
    Inbound,
    Notice,
    normalize,
    slash_command,
)
from adapters.slack.sender import SlackSender
from adapters.slack.workspace import OwnWorkspaceOnly
from bot.events import MessageEvent, ReactionEvent, UserRef
from bot.ports import StorageUnavailable
from bot.replies import Reply, ReplyKind
from bot.service import TurnConflict

log = logging.getLogger(__name__)

PLATFORM = "slack"
NAME_TTL_SECONDS = 3600.0
NAME_CACHE_MAX = 20_000
LOOKUP_TIMEOUT_SECONDS = 2
BUSY_TEXT = "Sorry, that clashed with another change. Please send it again."
DM_HINT = "I've sent you a direct message to capture your idea there."


class SlackAdapter:
    """Owns the bolt app, the Web API client, the Slack inbox and deliverer."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        if not (settings.slack_bot_token and settings.slack_signing_secret):
            raise ValueError("SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are required for Slack")
        token = settings.slack_bot_token.get_secret_value()
        base_url = settings.slack_api_url.rstrip("/") + "/"
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
        self.sender = SlackSender(self.client, settings.ideas_channel,
                                  (settings.approve_reactions or ["white_check_mark"])[0],
                                  (settings.reject_reactions or ["x"])[0])
        self.deliverer = Deliverer(runtime, self.sender)
        self.inbox = EventInbox(runtime, PLATFORM, self._process)
        self._socket_handler: Any = None
        self._register()

    # --- wiring ---------------------------------------------------------------------------------

    def _register(self) -> None:
        self.app.use(OwnWorkspaceOnly())
        self.app.use(self._envelopes)
        self.app.command("/kaizen")(self._on_command)
        for event_type in EVENTS:
            self.app.event(event_type)(self._ack_event)
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

    async def _envelopes(self, body: dict[str, Any],
                         next: Callable[[], Awaitable[Any]]) -> Any:
        """Top-level payload types no listener routes (see ``normalize.ENVELOPES``): signed
        and ours (the middleware before this one checked), answered 200 here."""
        kind = body.get("type")
        if kind not in ENVELOPES:
            return await next()
        outcome = normalize(str(kind), body)
        if isinstance(outcome, Notice):
            log.log(outcome.level, "%s", outcome.text)
        return BoltResponse(status=200, body="")

    async def _ack_event(self, body: dict[str, Any], event: dict[str, Any],
                         context: dict[str, Any]) -> None:
        kind = str(event.get("type"))
        if kind == "app_mention":
            # The turn needs our own user id (to strip the mention); bolt knows it only now.
            body = {**body, CONTEXT_KEY: {"bot_user_id": context.get("bot_user_id")}}
        await self._accept(kind, body)

    async def _ack_button(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await self._accept("button", body)

    async def _accept(self, kind: str, body: dict[str, Any]) -> None:
        """Store the event for its turn (the ack's one commit); with the database out, run the
        turn now instead, which answers "try again" straight through the Web API."""
        inbound = normalize(kind, body)
        if isinstance(inbound, Notice):
            log.log(inbound.level, "%s", inbound.text)
        if not isinstance(inbound, Inbound):
            return
        # Slack's legacy verification token rides in every payload: it is not stored.
        stored = {key: value for key, value in body.items() if key != "token"}
        try:
            await self.inbox.accept(inbound.event.event_id, kind, inbound.person_key, stored)
        except StorageUnavailable as exc:
            log.warning("Slack %s not stored for later (%s): running its turn now", kind, exc)
            await self._process(kind, body)

    async def _process(self, kind: str, body: dict[str, Any]) -> None:
        """Run the turn of an acknowledged event (see :mod:`adapters.jobs.inbox`)."""
        inbound = normalize(kind, body)
        if inbound is None and kind not in EVENTS and kind not in INTERACTIONS:
            log.error("stored Slack event of unknown kind %r dropped", kind)
        if not isinstance(inbound, Inbound):
            return
        event = inbound.event
        if isinstance(event, ReactionEvent) and event.post is not None:
            # Reactions on any message reach us: only one on an idea's post is a turn (and
            # worth a users.info call for the reactor's name).
            idea_id = await self._service.idea_of_post(PLATFORM, event.post)
            if idea_id is None:
                return
            event = replace(event, idea_id=idea_id)
        event = replace(event, user=await self._named(event.user))
        if isinstance(event, ReactionEvent):
            try:
                await self._service.handle_reaction(event, inbound.route)
            except TurnConflict:
                log.warning("reaction %s kept conflicting; the inbox will replay it",
                            event.event_id)
                raise
        else:
            await self._run_message(event, inbound)
        self.deliverer.kick()

    # --- turns ----------------------------------------------------------------------------------

    async def _on_command(self, ack: Any, command: dict[str, Any]) -> None:
        """``/kaizen …``: answered at once; a capture continues in the person's DM."""
        event, route = slash_command(command)
        event = replace(event, user=await self._named(event.user))
        try:
            result = await self._service.handle_message(event, route)
        except TurnConflict:
            await ack(text=BUSY_TEXT)
            return
        self.deliverer.kick()
        if result.storage_error:
            await ack(text=_render_all(result.replies)[0])
        elif result.duplicate or event.place.direct:
            await ack()
        elif result.in_flow:
            await ack(text=DM_HINT)
        else:
            text, blocks = _render_all(result.replies)
            await ack(text=text, blocks=blocks)

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        log.error("Slack listener failed for %s %s: %s", body.get("type"),
                  event.get("type") or body.get("command"), error, exc_info=error)

    async def _run_message(self, message: MessageEvent, inbound: Inbound) -> None:
        target = inbound.route.to
        try:
            result = await self._service.handle_message(message, inbound.route)
        except TurnConflict:
            if target is not None:
                await self._service.queue_reply(message.user, target,
                                                Reply(BUSY_TEXT, kind=ReplyKind.ERROR))
            return
        if result.storage_error and target is not None:
            # The outbox is in the unreachable database: answer straight away.
            for reply in result.replies:
                await self.sender.reply(target, reply)

    # --- people ---------------------------------------------------------------------------------

    async def _named(self, user: UserRef) -> UserRef:
        """The person with their Slack display name (kept if Slack cannot say)."""
        name = await self._display_name(user.user_id)
        return replace(user, display_name=name or user.display_name)

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
