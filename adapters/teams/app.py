"""The Teams adapter: ``POST /api/messages`` through botbuilder's ``CloudAdapter``, the mapping
of Teams activities onto core events, and proactive delivery of everything queued.

Replies, notifications and idea cards are queued in the outbox in the turn's transaction and
sent with ``continue_conversation`` by the deliverer, which paces each conversation (Teams
allows 7 messages a second), retries 429/412/5xx honouring ``Retry-After``, and disables a
target that answers 403 (bot removed) instead of crashing.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
)
from botbuilder.schema import (
    Activity,
    CardAction,
    ConversationReference,
    MessageReaction,
    SuggestedActions,
)

from adapters.delivery import (
    ConversationPacer,
    DeferredDelivery,
    Deliverer,
    PermanentDeliveryError,
    RetryLater,
    idea_post_context,
    queue_result,
)
from adapters.runtime import Runtime
from adapters.scheduler import digest_delivered, digest_view
from adapters.teams.bot import KaizenTeamsBot
from adapters.teams.cards import digest_card, form_card, idea_card
from adapters.teams.config import BotConfig
from adapters.teams.local import is_loopback_url, local_refusal
from adapters.teams.performance import (
    CachedConnectorAuthentication,
    apply_msrest_retry_policy_fix,
)
from adapters.teams.text import (
    bare_conversation_id,
    clean_text,
    normalise_reaction,
    teams_text,
    tenant_of,
)
from adapters.teams.trust import tenant_allowed, token_without_expiry
from bot import commands, flow
from bot.events import FormEvent, MessageEvent, ReactionEvent, UserRef
from bot.replies import Reply, TurnResult, reply_from_dict, reply_to_dict
from bot.service import SUBCOMMANDS, TurnConflict, utcnow
from bot.text_input import split_labels
from storage.outbox import OutboxItem
from storage.unit_of_work import SqlUnitOfWork

log = logging.getLogger(__name__)

PLATFORM = "teams"
PER_CONVERSATION_PER_SECOND = 7
TRANSIENT_STATUSES = frozenset({412, 429, 500, 502, 503, 504})
BUSY_TEXT = "Sorry, that clashed with another change. Please send it again."
FORM_SENT = "form"


class TeamsAdapter:
    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        if not settings.teams_enabled:
            # botbuilder without an app id authenticates nothing: never by accident.
            raise RuntimeError("Teams needs MICROSOFT_APP_ID, or KAIZEN_TEAMS_LOCAL=true for "
                               "local mode")
        apply_msrest_retry_policy_fix()
        self._runtime = runtime
        self._service = runtime.service
        self.config = BotConfig(settings)
        self.cloud = CloudAdapter(CachedConnectorAuthentication(self.config))
        self.cloud.on_turn_error = self._on_turn_error
        self.bot = KaizenTeamsBot(self)
        self._tenants = settings.allowed_teams_tenants
        self.deliverer = Deliverer(runtime, PLATFORM, self.send)
        self._pacer = ConversationPacer(PER_CONVERSATION_PER_SECOND)
        self._current: contextvars.ContextVar[TurnContext | None] = contextvars.ContextVar(
            "teams_turn", default=None)

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
            token = self._current.set(turn_context)
            try:
                await self.bot.on_turn(turn_context)
            finally:
                self._current.reset(token)

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

    # --- inbound --------------------------------------------------------------------------------

    def _user(self, activity: Activity) -> UserRef:
        sender = activity.from_property
        return UserRef(PLATFORM, tenant_of(activity), sender.id, sender.name or None,
                       sender.aad_object_id or None)

    def _reference(self, activity: Activity, *, bare: bool = False) -> dict[str, Any]:
        reference = TurnContext.get_conversation_reference(activity)
        reference.conversation.tenant_id = tenant_of(activity)
        if bare:
            reference.conversation.id = bare_conversation_id(reference.conversation.id)
        reference.activity_id = None
        return reference.serialize()

    async def on_message(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        user = self._user(activity)
        personal = (activity.conversation.conversation_type or "personal") == "personal"
        here = self._reference(activity)
        if personal:
            await self._remember_personal(user, here)
        event_id = activity.id or f"teams-{uuid.uuid4()}"
        value = activity.value if isinstance(activity.value, dict) else None
        if value and value.get("kaizen"):
            await self._on_card_submit(activity, user, event_id, value, here, personal)
            return
        text = clean_text(activity)
        if personal:
            event = MessageEvent(event_id, user, text, activity.conversation.id,
                                 source={"channel_type": "im"})
            await self._run_message(event, {"ref": here})
            return
        await self._on_channel_text(activity, user, event_id, text, here)

    async def _on_channel_text(self, activity: Activity, user: UserRef, event_id: str,
                               text: str, here: dict[str, Any]) -> None:
        """``@Kaizen …`` in a channel or group chat: commands, one-shot capture, or a form."""
        parsed = commands.parse(text)
        body = parsed.body if parsed.prefixed else text
        is_command = parsed.word in SUBCOMMANDS or flow.intent_of(body) is not None
        if not is_command:
            labelled = split_labels(body)
            values = dict(labelled.values)
            if labelled.prefix and "problem" not in values:
                values["problem"] = labelled.prefix
            if not all(values.get(step.name) for step in flow.STEPS):
                await self._send_form_once(event_id, user, values, here)
                return
        event = MessageEvent(
            event_id, user, f"/kaizen {body}".strip(),
            bare_conversation_id(activity.conversation.id),
            source={"channel_type": activity.conversation.conversation_type or "channel",
                    "reference": self._reference(activity, bare=True)},
        )
        await self._run_message(event, {"ref": here})

    async def _send_form_once(self, event_id: str, user: UserRef, values: dict[str, str],
                              here: dict[str, Any]) -> None:
        async with self._runtime.unit_of_work() as uow:
            if not await uow.processed.record(PLATFORM, user.workspace, event_id, utcnow()):
                return  # a retried activity: the form was sent already
            await uow.outbox.add(PLATFORM, user.workspace, "card", {"ref": here},
                                 {"card": form_card(values)}, utcnow())
            await uow.commit()
        self.deliverer.kick()

    async def _on_card_submit(self, activity: Activity, user: UserRef, event_id: str,
                              value: dict[str, Any], here: dict[str, Any],
                              personal: bool) -> None:
        action = str(value.get("kaizen"))
        if action == "capture":
            values = {k: str(v) for k, v in value.items()
                      if k in {"standard", "problem", "proposal", "area", "process"}}
            event = FormEvent(event_id, user, values, bare_conversation_id(
                activity.conversation.id))

            async def queue(uow: SqlUnitOfWork, result: TurnResult) -> None:
                await self._queue(uow, user.workspace, result, {"ref": here})
                if any(r.kind == "form_error" for r in result.replies):
                    problems = [r.text for r in result.replies]
                    await uow.outbox.add(PLATFORM, user.workspace, "card", {"ref": here},
                                         {"card": form_card(values, problems)}, utcnow())

            await self._guard(self._service.handle_form(event, after_turn=queue),
                              {"ref": here}, user.workspace)
            return
        if action in {"approve", "reject"}:
            idea_id = value.get("idea_id")
            reason = str(value.get("reason") or "").strip()
            text = f"/kaizen {action} KZ-{idea_id} {reason}".strip()
            # Answers go to the clicker privately when we can reach them, else in the thread.
            target = await self._private_target(user) or {"ref": here}
            event = MessageEvent(event_id, user, text, bare_conversation_id(
                activity.conversation.id), source={"channel_type": "card"})
            await self._run_message(event, target)
            return
        log.info("ignoring unknown card action %r", action)

    async def on_reactions(self, turn_context: TurnContext, reactions: list[MessageReaction],
                           added: bool) -> None:
        activity = turn_context.activity
        channel = bare_conversation_id(activity.conversation.id)
        async with self._runtime.unit_of_work() as uow:
            idea_id = await uow.idea_posts.find_idea(PLATFORM, channel,
                                                     activity.reply_to_id or "")
        if idea_id is None:
            return
        user = self._user(activity)
        target = await self._private_target(user)
        for reaction in reactions:
            event = ReactionEvent(
                event_id=f"{activity.id or uuid.uuid4()}:{reaction.type}:{int(added)}",
                user=user, idea_id=idea_id, reaction=normalise_reaction(reaction.type or ""),
                added=added)

            async def queue(uow: SqlUnitOfWork, result: TurnResult) -> None:
                problems = TurnResult([r for r in result.replies if r.kind in {"refused",
                                                                                 "error"}],
                                      notifications=result.notifications,
                                      changed_ideas=result.changed_ideas)
                await self._queue(uow, user.workspace, problems, target)

            await self._guard(self._service.handle_reaction(event, after_turn=queue), target,
                              user.workspace)

    async def remember(self, turn_context: TurnContext) -> None:
        """The bot was added to a team, chat or personal scope: keep the way in."""
        activity = turn_context.activity
        tenant = tenant_of(activity)
        kind = activity.conversation.conversation_type or "personal"
        async with self._runtime.unit_of_work() as uow:
            if kind == "personal":
                woke = await self._save_personal(uow, UserRef(PLATFORM, tenant,
                                                              activity.from_property.id),
                                                 self._reference(activity))
            else:
                channel = bare_conversation_id(activity.conversation.id)
                await uow.conversation_refs.save(PLATFORM, tenant, "channel", channel,
                                                 self._reference(activity, bare=True), utcnow())
                woke = 0
            await uow.commit()
        log.info("Teams: bot installed in %s conversation", kind)
        if woke:
            self.deliverer.kick()

    async def forget(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        tenant = tenant_of(activity)
        kind = activity.conversation.conversation_type or "personal"
        scope, key = (("personal", activity.from_property.id) if kind == "personal"
                      else ("channel", bare_conversation_id(activity.conversation.id)))
        async with self._runtime.unit_of_work() as uow:
            await uow.conversation_refs.forget(PLATFORM, tenant, scope, key)
            await uow.commit()
        log.info("Teams: bot removed from %s conversation; reference forgotten", kind)

    async def _remember_personal(self, user: UserRef, reference: dict[str, Any]) -> None:
        async with self._runtime.unit_of_work() as uow:
            woke = await self._save_personal(uow, user, reference)
            await uow.commit()
        if woke:
            log.info("Teams: delivering %d message(s) that waited for %s", woke, user.user_id)
            self.deliverer.kick()

    async def _save_personal(self, uow: SqlUnitOfWork, user: UserRef,
                             reference: dict[str, Any]) -> int:
        now = utcnow()
        await uow.conversation_refs.save(PLATFORM, user.workspace, "personal", user.user_id,
                                         reference, now)
        return await uow.outbox.wake(PLATFORM, user.workspace, user.user_id, now)

    async def _private_target(self, user: UserRef) -> dict[str, Any] | None:
        async with self._runtime.unit_of_work() as uow:
            found = await uow.conversation_refs.get(PLATFORM, user.workspace, "personal",
                                                    user.user_id)
        return {"user": user.user_id} if found and not found[1] else None

    async def _run_message(self, event: MessageEvent, target: dict[str, Any] | None) -> None:
        async def queue(uow: SqlUnitOfWork, result: TurnResult) -> None:
            await self._queue(uow, event.user.workspace, result, target)

        await self._guard(self._service.handle_message(event, after_turn=queue), target,
                          event.user.workspace)

    async def _guard(self, turn: Awaitable[TurnResult], target: dict[str, Any] | None,
                     workspace: str) -> None:
        try:
            result = await turn
            if result.storage_error:
                # The outbox is in the unreachable database: answer within this turn.
                context = self._current.get()
                if context is not None:
                    for reply in result.replies:
                        await context.send_activity(reply_activity(reply))
        except TurnConflict:
            if target is not None:
                async with self._runtime.unit_of_work() as uow:
                    await uow.outbox.add(PLATFORM, workspace, "message", target,
                                         reply_to_dict(Reply(BUSY_TEXT, kind="error")),
                                         utcnow())
                    await uow.commit()
        self.deliverer.kick()

    async def _queue(self, uow: SqlUnitOfWork, workspace: str, result: TurnResult,
                     target: dict[str, Any] | None) -> None:
        # A form's problems are shown on the form itself, not as a separate message.
        await queue_result(uow, PLATFORM, workspace, result, target,
                           skip_kinds=frozenset({"form_error"}))

    # --- outbound (the deliverer calls send) ----------------------------------------------------

    async def send(self, item: OutboxItem) -> None:
        if item.kind == "message":
            reference = await self._resolve(item)
            activity = reply_activity(reply_from_dict(item.payload))
            await self._send_activity(reference, activity, item)
        elif item.kind == "card":
            reference = await self._resolve(item)
            activity = MessageFactory.attachment(CardFactory.adaptive_card(item.payload["card"]))
            await self._send_activity(reference, activity, item)
        elif item.kind == "idea_post":
            await self._send_idea(item)
        elif item.kind == "digest":
            await self._send_digest(item)
        else:
            raise PermanentDeliveryError(f"unknown outbox kind {item.kind!r}")

    async def _send_digest(self, item: OutboxItem) -> None:
        reference = item.target.get("ref")
        if not reference:
            await digest_delivered(self._runtime, item.target, False, "no channel reference")
            raise PermanentDeliveryError("digest subscription has no channel reference")
        card = digest_card(await digest_view(self._runtime, item))
        activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
        try:
            await self._send_activity(dict(reference), activity, item)
        except PermanentDeliveryError as exc:
            await digest_delivered(self._runtime, item.target, False, str(exc))
            raise
        await digest_delivered(self._runtime, item.target, True, "")

    async def _resolve(self, item: OutboxItem) -> dict[str, Any]:
        if "ref" in item.target:
            return dict(item.target["ref"])
        user_id = str(item.target.get("user"))
        async with self._runtime.unit_of_work() as uow:
            found = await uow.conversation_refs.get(PLATFORM, item.workspace, "personal",
                                                    user_id)
        if found is None or found[1]:
            # Kept, and delivered as soon as they talk to the bot (see _remember_personal).
            raise DeferredDelivery(f"no personal chat with {user_id} yet")
        return found[0]

    async def _send_activity(self, reference: dict[str, Any], activity: Activity,
                             item: OutboxItem) -> str | None:
        async def action(turn_context: TurnContext) -> str | None:
            response = await turn_context.send_activity(activity)
            return response.id if response else None

        return await self._continue(reference, action, item)

    async def _continue(self, reference_data: dict[str, Any],
                        action: Callable[[TurnContext], Awaitable[Any]],
                        item: OutboxItem) -> Any:
        reference = ConversationReference().deserialize(reference_data)
        if self.config.local_mode and not is_loopback_url(reference.service_url):
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

        await self.cloud.continue_conversation(reference, callback, bot_app_id=self.app_id)
        if "error" in outcome:
            await self._raise_classified(outcome["error"], reference_data, item)
        return outcome.get("value")

    async def _raise_classified(self, error: Exception, reference: dict[str, Any],
                                item: OutboxItem) -> None:
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        if status in {403, 404}:
            scope, key = (("personal", str(item.target.get("user")))
                          if "user" in item.target else
                          ("channel", bare_conversation_id(
                              (reference.get("conversation") or {}).get("id", ""))))
            async with self._runtime.unit_of_work() as uow:
                await uow.conversation_refs.disable(PLATFORM, item.workspace, scope, key,
                                                    f"HTTP {status}", utcnow())
                await uow.commit()
            raise PermanentDeliveryError(
                f"Teams answered {status} (bot removed or blocked); {scope} target disabled"
            ) from error
        if status in TRANSIENT_STATUSES:
            headers = getattr(response, "headers", None) or {}
            retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
            raise RetryLater(f"Teams answered {status}",
                             float(retry_after) if retry_after else None) from error
        raise error

    async def _send_idea(self, item: OutboxItem) -> None:
        idea, post, configured = await idea_post_context(self._runtime, PLATFORM, item)
        if idea is None:
            return
        card = idea_card(idea)
        if post is not None:
            if configured is None or not configured.reference:
                raise PermanentDeliveryError("the ideas channel is no longer configured")
            reference = dict(configured.reference["reference"])  # type: ignore[index]

            async def update(turn_context: TurnContext) -> None:
                activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
                activity.id = post[1]
                await turn_context.update_activity(activity)

            await self._continue(reference, update, item)
            async with self._runtime.unit_of_work() as uow:
                await uow.idea_posts.touch(idea.id, PLATFORM, utcnow())
                await uow.commit()
            return
        if configured is None or not configured.reference:
            log.warning("%s not posted to Teams: no ideas channel (say `@Kaizen ideas here` in "
                        "one)", idea.key)
            return
        reference = dict(configured.reference["reference"])  # type: ignore[index]
        activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
        activity_id = await self._send_activity(reference, activity, item)
        if activity_id:
            async with self._runtime.unit_of_work() as uow:
                await uow.idea_posts.save(idea.id, PLATFORM, configured.channel_id, activity_id,
                                          utcnow())
                await uow.commit()
        log.info("%s posted to Teams channel %s", idea.key, configured.channel_id)


def reply_activity(reply: Reply) -> Activity:
    """A core reply as a Teams HTML message in which every character shows literally (see
    :func:`teams_text`); quick answers become suggested actions."""
    lines = [reply.text]
    for label, value in reply.fields:
        lines.append(f"{label}: {value}" if label else value)
    activity = MessageFactory.text(teams_text("\n\n".join(lines)))
    activity.text_format = "xml"
    if reply.buttons:
        activity.suggested_actions = SuggestedActions(actions=[
            CardAction(type="imBack", title=b.label, value=b.value) for b in reply.buttons
        ])
    return activity

