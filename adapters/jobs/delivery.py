"""Draining the outbox: send what committed turns queued, retry what failed, never drop it.

One :class:`Deliverer` per platform runs inside ``kaizen serve``. It owns every piece of
delivery bookkeeping: claiming rows (with a lease; PostgreSQL skips rows another worker holds),
finding what a send needs (the idea and where it is posted, the ideas channel, a person's
conversation, the digest's facts), recording the outcome (where an idea was posted, a digest
run's result, a conversation that is gone) and rescheduling failures with exponential backoff.
The platform's :class:`~adapters.jobs.sender.Sender` only talks to its Web API. A
:class:`~adapters.jobs.sender.PermanentDeliveryError` (channel archived, bot removed) marks the row
failed at once and is logged; nothing here ever crashes the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from adapters.host.runtime import Runtime
from adapters.jobs.loops import BackgroundTask
from adapters.jobs.sender import (
    DeferredDelivery,
    IdeasChannel,
    PermanentDeliveryError,
    PostGone,
    Sender,
    TargetGone,
)
from bot import texts
from bot.channels import way_in
from bot.digest import DigestView, compose, view_from_dict
from bot.events import PostRef
from bot.replies import reply_from_dict, reply_to_dict
from bot.targets import Target, ToChannel, ToReference, ToUser
from storage.channels import GONE
from storage.outbox import OutboxItem
from storage.target_json import target_from_json
from storage.unit_of_work import SqlUnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
"""With the backoff below this keeps trying for about a day before giving up."""
POLL_SECONDS = 2.0


def backoff(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s … capped at one hour."""
    return timedelta(seconds=min(2 ** attempts, 3600))


Bookkeeping = Callable[[SqlUnitOfWork], Awaitable[None]]
"""Storage work that follows a successful send (e.g. remembering where an idea was posted),
given the round's closing unit of work: it commits together with the items marked sent."""


class Deliverer(BackgroundTask):
    """Delivers one platform's outbox through its sender (see the module docstring)."""

    def __init__(self, runtime: Runtime, sender: Sender) -> None:
        super().__init__()
        self._runtime = runtime
        self._sender = sender
        self._platform = sender.platform
        self._clock = runtime.clock
        self._wake = asyncio.Event()
        self.task_name = f"deliver-{self._platform}"
        self._kinds: dict[str, Callable[[OutboxItem], Awaitable[Bookkeeping | None]]] = {
            "message": self._message,
            "idea_post": self._idea_post,
            "digest": self._digest,
            "card": self._legacy_form_card,
        }

    def kick(self) -> None:
        """Something was queued: deliver now rather than at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                delivered = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be down: log, wait, try again
                log.exception("%s delivery round failed; retrying", self._platform)
                delivered = 0
            if delivered:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def run_once(self) -> int:
        """Deliver every due item once; returns how many were attempted.

        Items sent are marked in one transaction at the end of the round rather than one
        each (a transaction per item was a third of a capture turn's CPU). A crash in
        between re-sends at most this round's items once their lease runs out.
        """
        async with self._runtime.unit_of_work() as uow:
            items = await uow.outbox.claim(self._platform, self._clock())
            await uow.commit()
        sent: list[int] = []
        after: list[Bookkeeping] = []
        posted: set[int | None] = set()
        try:
            for item in items:
                if item.kind == "idea_post":
                    if item.idea_id in posted:  # its post must be on record before an update
                        await self._close_round(sent, after)
                        posted.clear()
                    posted.add(item.idea_id)
                went_out, bookkeeping = await self._deliver(item)
                if went_out:
                    sent.append(item.id)
                    if bookkeeping is not None:
                        after.append(bookkeeping)
        finally:
            await self._close_round(sent, after)
        return len(items)

    async def _close_round(self, sent: list[int], after: list[Bookkeeping]) -> None:
        """Mark what went out as sent, with its bookkeeping, in one transaction (a post's
        own transaction to save its ts was 6 % of a capture's CPU)."""
        if not sent:
            return
        async with self._runtime.unit_of_work() as uow:
            for bookkeeping in after:
                await bookkeeping(uow)
            await uow.outbox.mark_sent(sent, self._clock())
            await uow.commit()
        sent.clear()
        after.clear()

    async def _deliver(self, item: OutboxItem) -> tuple[bool, Bookkeeping | None]:
        """Send one item: whether it went out (the caller marks it sent) and what to record."""
        try:
            kind = self._kinds.get(item.kind)
            if kind is None:
                raise PermanentDeliveryError(f"unknown outbox kind {item.kind!r}")
            bookkeeping = await kind(item)
        except DeferredDelivery as exc:
            log.info("%s delivery %d (%s) waits: %s", self._platform, item.id, item.kind, exc)
            async with self._runtime.unit_of_work() as uow:
                await uow.outbox.defer(item.id, str(exc),
                                       self._clock() + timedelta(seconds=exc.seconds))
                await uow.commit()
        except PermanentDeliveryError as exc:
            log.error("%s delivery %d (%s) failed permanently: %s", self._platform, item.id,
                      item.kind, exc)
            await self._record(item, str(exc), give_up=True)
        except Exception as exc:  # network, 5xx, rate limits past the client's own retries
            give_up = item.attempts + 1 >= MAX_ATTEMPTS
            log.warning("%s delivery %d (%s) failed (attempt %d%s): %s", self._platform,
                        item.id, item.kind, item.attempts + 1,
                        ", giving up" if give_up else ", will retry", _describe(exc))
            wait = getattr(exc, "seconds", None)
            await self._record(item, _describe(exc), give_up=give_up, wait=wait)
        else:
            return True, bookkeeping
        return False, None

    async def _record(self, item: OutboxItem, error: str, give_up: bool,
                      wait: float | None = None) -> None:
        now = self._clock()
        delay = backoff(item.attempts)
        if wait is not None:  # the platform said when: never sooner than that
            delay = max(delay, timedelta(seconds=wait))
        async with self._runtime.unit_of_work() as uow:
            await uow.outbox.reschedule(item.id, error, None if give_up else now + delay, now)
            await uow.commit()

    # --- the kinds of item ----------------------------------------------------------------------

    async def _message(self, item: OutboxItem) -> None:
        """A reply or a notice: to a person's own conversation, a channel or a reference."""
        try:
            target = target_from_json(item.target)
        except ValueError as exc:
            raise PermanentDeliveryError(str(exc)) from exc
        reached, person = await self._reachable(item.workspace, target)
        if reached is None:
            return None  # nobody to tell any more and not worth waiting for: dropped
        try:
            await self._sender.reply(reached, reply_from_dict(item.payload))
        except TargetGone as exc:
            await self._disable(item.workspace, person, exc)
            raise
        return None

    async def _reachable(self, workspace: str, target: Target) -> tuple[Target | None, str | None]:
        """``target`` as the sender can use it, and whose own chat that is (None: a channel).

        A person on a platform that reaches people only through their own chat with the bot:
        that chat's reference, else the target's fallback, else wait until they talk to the
        bot (or drop, if it is not worth waiting)."""
        if not isinstance(target, ToUser):
            return target, None
        if self._sender.reaches_people:
            return target, target.user_id
        async with self._runtime.unit_of_work() as uow:
            found = await uow.conversation_refs.get(self._platform, workspace, "personal",
                                                    target.user_id)
        if found is not None and not found[1]:
            return ToReference(found[0]), target.user_id
        if target.fallback is not None:
            return target.fallback, None
        if target.wait:
            # Kept, and delivered as soon as they talk to the bot (their chat wakes it).
            raise DeferredDelivery(f"no personal chat with {target.user_id} yet")
        return None, None

    async def _disable(self, workspace: str, person: str | None, gone: TargetGone) -> None:
        """Stop writing where the platform said the bot is gone: ``person``'s own chat, else
        the channel the sender named (its reference is disabled until the bot is back)."""
        if person is not None:
            scope, key = "personal", person
        elif gone.channel:
            scope, key = "channel", gone.channel
        else:
            return
        async with self._runtime.unit_of_work() as uow:
            await uow.conversation_refs.disable(self._platform, workspace, scope, key,
                                                str(gone), self._clock())
            await uow.commit()

    async def _idea_post(self, item: OutboxItem) -> Bookkeeping | None:
        """Post the idea to the ideas channel, or update its post in place; where it was
        posted is recorded with the round (see :meth:`run_once`)."""
        if item.idea_id is None:
            raise PermanentDeliveryError("idea post without an idea")
        async with self._runtime.unit_of_work() as uow:
            idea, post = await uow.ideas.get_with_post(item.idea_id, self._platform)
            configured = await uow.channels.get(self._platform, item.workspace, "ideas")
        if idea is None:
            return None
        channel = IdeasChannel(configured.channel_id if configured else None,
                               way_in(configured.reference if configured else None))
        if post is not None and post[1].startswith(GONE):
            return None  # its post was deleted: not updated, not posted again
        try:
            if post is not None:
                await self._sender.update_idea(channel, PostRef(*post), idea)
                return lambda uow: uow.idea_posts.touch(idea.id, self._platform, self._clock())
            where = await self._sender.post_idea(channel, idea)
        except PostGone as exc:
            log.warning("%s; its post is not updated any more", exc)
            return lambda uow: uow.idea_posts.mark_gone(idea.id, self._platform, self._clock())
        except TargetGone as exc:
            await self._disable(item.workspace, None, exc)
            raise
        if where is None:
            return None
        log.info("%s posted to %s %s", idea.key, self._platform, where.channel_id)
        return lambda uow: uow.idea_posts.save(idea.id, self._platform, where.channel_id,
                                                where.message_id, self._clock())

    async def _digest(self, item: OutboxItem) -> None:
        """A stand-up digest, composed now from the period its item carries; the run's
        result is recorded either way."""
        reference = item.target.get("ref")
        to: Target = (ToReference(dict(reference)) if isinstance(reference, dict)
                      else ToChannel(str(item.target.get("channel", ""))))
        view = await self._digest_view(item)
        try:
            await self._sender.send_digest(to, view)
        except PermanentDeliveryError as exc:
            if isinstance(exc, TargetGone):
                await self._disable(item.workspace, None, exc)
            await self._digest_delivered(item.target, False, str(exc))
            raise
        await self._digest_delivered(item.target, True, "")

    async def _legacy_form_card(self, item: OutboxItem) -> None:
        """A Teams form card queued by a version from before the form was a reply kind (its
        whole card in the row): sent as that form, filled in the same."""
        card = item.payload.get("card")
        body = card.get("body") if isinstance(card, dict) else None
        elements = [e for e in body if isinstance(e, dict)] if isinstance(body, list) else []
        values = {str(e["id"]): str(e.get("value", "")) for e in elements
                  if e.get("type") == "Input.Text" and e.get("id")}
        problems = [str(run.get("text", "")) for e in elements if e.get("type") == "RichTextBlock"
                    for run in e.get("inlines") or []
                    if isinstance(run, dict) and run.get("color") == "Attention"]
        form = texts.form(values, problems)
        await self._message(replace(item, kind="message", payload=reply_to_dict(form)))

    async def _digest_view(self, item: OutboxItem) -> DigestView:
        if "view" in item.payload:  # queued by an earlier version, already composed
            return view_from_dict(item.payload["view"])
        period = item.payload["period"]
        async with self._runtime.unit_of_work() as uow:
            facts = await uow.digests.facts(
                item.platform, item.workspace, tuple(period["areas"]),
                datetime.fromisoformat(period["start"]), datetime.fromisoformat(period["end"]),
                period["zone"])
        view = compose(facts)
        log.info("digest for %s composed (%s)", item.target.get("channel"),
                 "quiet day" if view.empty else "with news")
        return view

    async def _digest_delivered(self, target: dict[str, Any], ok: bool, detail: str) -> None:
        sub_id = target.get("subscription_id")
        if not isinstance(sub_id, int):
            return
        async with self._runtime.unit_of_work() as uow:
            run_id = target.get("run_id")
            if isinstance(run_id, int):
                await uow.digests.finish_run(run_id, "posted" if ok else "failed",
                                             self._clock())
            await uow.digests.record_result(
                sub_id, f"posted {target.get('local_date')}" if ok else f"failed: {detail}",
                failing=None if ok else True)
            await uow.commit()
        if not ok:
            log.error("digest subscription %s marked failing: %s", sub_id, detail)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
