"""The Teams front end: ``POST /api/messages`` through botbuilder's ``CloudAdapter``.

Authentication (token, tenant, local mode) and acknowledgement live here; activities become bot
events in :mod:`adapters.teams.normalize` (a table) and run as turns. What a turn sends is
queued in its transaction and delivered by the :class:`~adapters.jobs.delivery.Deliverer` through
:class:`~adapters.teams.sender.TeamsSender`.
"""

from __future__ import annotations

import logging

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity

from adapters.host.runtime import Runtime
from adapters.jobs.delivery import Deliverer
from adapters.teams.config import BotConfig
from adapters.teams.local import local_refusal
from adapters.teams.normalize import Inbound, normalize
from adapters.teams.performance import (
    CachedConnectorAuthentication,
    apply_msrest_retry_policy_fix,
)
from adapters.teams.sender import TeamsSender, reply_activity
from adapters.teams.text import tenant_of
from adapters.teams.trust import tenant_allowed, token_without_expiry
from bot import texts
from bot.events import ConversationEvent, DecisionEvent, FormEvent, MessageEvent, PostRef
from bot.model import idea_key
from bot.replies import Reply, ReplyKind, TurnResult
from bot.service import TurnConflict

log = logging.getLogger(__name__)

PLATFORM = "teams"
BUSY_TEXT = "Sorry, that clashed with another change. Please send it again."


class TeamsAdapter:
    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        if not settings.teams_enabled:
            # botbuilder without an app id authenticates nothing: never by accident.
            raise RuntimeError("Teams needs MICROSOFT_APP_ID, or KAIZEN_TEAMS_LOCAL=true for "
                               "local mode")
        apply_msrest_retry_policy_fix()
        self._service = runtime.service
        self.config = BotConfig(settings)
        self.cloud = CloudAdapter(CachedConnectorAuthentication(self.config))
        self.cloud.on_turn_error = self._on_turn_error
        self._tenants = settings.allowed_teams_tenants
        self.sender = TeamsSender(self.cloud, self.app_id, self.config.local_mode)
        self.deliverer = Deliverer(runtime, self.sender)

    @property
    def app_id(self) -> str | None:
        return self.config.APP_ID or None

    # --- HTTP -----------------------------------------------------------------------------------

    async def handle_http(self, request: web.Request) -> web.Response:
        """``POST /api/messages``: JSON only; 401 for anything that fails authentication."""
        if request.content_type != "application/json":
            return web.json_response({"error": "expected application/json"}, status=415)
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError, RecursionError):  # Recursion: nested too deep
            return web.json_response({"error": "malformed JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "expected an activity object"}, status=400)
        try:
            activity = Activity().deserialize(body)
        except Exception:
            return web.json_response({"error": "malformed activity"}, status=400)
        if not activity.type:
            return web.json_response({"error": "activity has no type"}, status=400)
        if activity.conversation is None or activity.from_property is None or not (
                activity.from_property.id and activity.conversation.id):
            return web.json_response({"error": "activity has no from or conversation"},
                                     status=400)
        if self.config.local_mode:
            # Nothing is authenticated in local mode: only this machine may talk to us, and
            # replies go only to a serviceUrl on this machine (no impersonation, no SSRF).
            refused = local_refusal(request.remote, request.headers, activity.service_url)
            if refused:
                log.warning("Teams local mode refused a request: %s (local mode serves only "
                            "the Agents Playground on this machine)", refused)
                return web.json_response({"error": "forbidden (Teams local mode)"}, status=403)
        elif token_without_expiry(request.headers.get("Authorization", "")):
            log.warning("Teams request rejected: its token has no expiry (exp)")
            return web.json_response({"error": "unauthorized"}, status=401)
        started = False
        foreign_tenant: str | None = None

        async def logic(turn_context: TurnContext) -> None:
            nonlocal started, foreign_tenant
            tenant = tenant_of(turn_context.activity)
            if not tenant_allowed(tenant, self._tenants):
                foreign_tenant = tenant  # authenticated, but not a tenant we serve
                return
            started = True
            await self._turn(turn_context)

        try:
            invoke = await self.cloud.process_activity(
                request.headers.get("Authorization", ""), activity, logic
            )
        except Exception as exc:
            if started:
                raise
            # Missing, malformed, forged or unverifiable token: fail closed, process nothing.
            log.warning("Teams request rejected before processing: %s: %s", type(exc).__name__,
                        str(exc)[:200])
            return web.json_response({"error": "unauthorized"}, status=401)
        if foreign_tenant is not None:
            log.warning("Teams activity from tenant %s refused: not in MICROSOFT_APP_TENANT_ID / "
                        "KAIZEN_TEAMS_TENANTS", foreign_tenant)
            return web.json_response({"error": "tenant not allowed"}, status=403)
        if invoke is not None:
            return web.json_response(invoke.body, status=invoke.status)
        return web.Response(status=201)

    async def _on_turn_error(self, turn_context: TurnContext, error: Exception) -> None:
        log.error("Teams turn failed for activity %s: %s", turn_context.activity.id, error,
                  exc_info=error)
        raise error  # the activity is not acknowledged: Teams may retry; retries are deduped

    # --- turns --------------------------------------------------------------------------------

    async def _turn(self, turn_context: TurnContext) -> None:
        """Run the events of one authenticated activity, in order."""
        for inbound in normalize(turn_context.activity):
            await self._run(turn_context, inbound)
        self.deliverer.kick()

    async def _run(self, turn_context: TurnContext, inbound: Inbound) -> None:
        event, route = inbound.event, inbound.route
        if isinstance(event, ConversationEvent):
            woke = await self._service.handle_conversation(event)
            if turn_context.activity.type != "message" or woke:
                log.info("Teams: bot %s %s conversation%s",
                         "installed in" if event.joined else "removed from",
                         "personal" if event.personal else "a channel or group",
                         f"; delivering {woke} message(s) that waited" if woke else "")
            return
        try:
            if isinstance(event, MessageEvent):
                result = await self._service.handle_message(event, route)
            elif isinstance(event, FormEvent):
                result = await self._service.handle_form(event, route)
                form = inbound.replace_when_saved
                if form is not None and result.changed_ideas and await self._not_an_idea_post(
                        event.place.channel_id, form.message_id):
                    await self._service.queue_reply(
                        event.user, form, texts.form_sent(idea_key(result.changed_ideas[0])))
            elif isinstance(event, DecisionEvent):
                result = await self._service.handle_decision(event, route)
            else:
                result = await self._service.handle_reaction(event, route)
        except TurnConflict:
            if route is not None and route.to is not None:
                await self._service.queue_reply(event.user, route.to,
                                                Reply(BUSY_TEXT, kind=ReplyKind.ERROR))
            return
        await self._answer_if_storage_failed(turn_context, result)

    async def _not_an_idea_post(self, channel: str | None, message_id: str) -> bool:
        """A submit names the message it came from; only a form is replaced, never an idea's
        card (a crafted submit could name one)."""
        return channel is None or await self._service.idea_of_post(
            PLATFORM, PostRef(channel, message_id)) is None

    @staticmethod
    async def _answer_if_storage_failed(turn_context: TurnContext, result: TurnResult) -> None:
        """The outbox is in the unreachable database: answer within this turn."""
        if result.storage_error:
            for reply in result.replies:
                await turn_context.send_activity(reply_activity(reply))

