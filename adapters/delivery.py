"""Draining the outbox: send what committed turns queued, retry what failed, never drop it.

One :class:`Deliverer` per platform runs inside ``kaizen serve``. Rows are claimed with a lease
(PostgreSQL skips rows another worker holds), sent one by one in order, then marked sent or
rescheduled with exponential backoff. A :class:`PermanentDeliveryError` (channel archived, bot
removed) marks the row failed at once and is logged; nothing here ever crashes the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from adapters.runtime import Runtime
from bot.replies import TurnResult, reply_to_dict
from bot.service import utcnow
from storage.outbox import OutboxItem

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
"""With the backoff below this keeps trying for about a day before giving up."""
POLL_SECONDS = 2.0


class PermanentDeliveryError(Exception):
    """Retrying cannot help (e.g. the channel is archived, the bot was removed)."""


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


class ConversationPacer:
    """At most ``rate`` sends per ``period`` into one conversation (platforms throttle beyond
    that: Teams 7/s per conversation, Slack about 1/s per channel)."""

    def __init__(self, rate: int, period: float = 1.0) -> None:
        self._rate, self._period = rate, period
        self._sent: dict[str, deque[float]] = defaultdict(deque)

    async def wait(self, conversation_id: str) -> None:
        window = self._sent[conversation_id]
        now = time.monotonic()
        while window and now - window[0] >= self._period:
            window.popleft()
        if len(window) >= self._rate:
            await asyncio.sleep(self._period - (now - window[0]))
            window.popleft()
        window.append(time.monotonic())


async def queue_result(uow: Any, platform: str, workspace: str, result: TurnResult,
                       target: dict[str, Any] | None, *,
                       skip_kinds: frozenset[str] = frozenset()) -> None:
    """Inside a turn's transaction: queue what the turn produced for ``platform``.

    Replies go to ``target`` (None: the adapter answers them another way), notifications to
    their person's direct conversation, and every changed idea gets its post refreshed.
    """
    now = utcnow()
    if target is not None:
        for reply in result.replies:
            if reply.kind not in skip_kinds:
                await uow.outbox.add(platform, workspace, "message", target,
                                     reply_to_dict(reply), now)
    for note in result.notifications:
        await uow.outbox.add(platform, note.to.workspace, "message", {"user": note.to.user_id},
                             reply_to_dict(note.reply), now, idea_id=note.idea_id)
    for idea_id in result.changed_ideas:
        await uow.outbox.add(platform, workspace, "idea_post", {}, {}, now, idea_id=idea_id)


def backoff(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s … capped at one hour."""
    return timedelta(seconds=min(2 ** attempts, 3600))


Bookkeeping = Callable[[Any], Awaitable[None]]
"""Storage work that follows a successful send (e.g. remembering where an idea was posted),
given the round's closing unit of work: it commits together with the items marked sent."""
Send = Callable[[OutboxItem], Awaitable[Bookkeeping | None]]


async def repeatedly(action: Callable[[], Awaitable[Any]], seconds: float, what: str) -> None:
    """Run ``action`` now and then every ``seconds``, until cancelled. A failure (the database
    may be down) is logged with its traceback and the action simply runs again next time."""
    while True:
        try:
            await action()
        except Exception as exc:  # CancelledError is not an Exception: cancelling still stops
            log.warning("%s failed, trying again in %.0f s: %s", what, seconds, exc,
                        exc_info=exc)
        await asyncio.sleep(seconds)


class BackgroundTask:
    """Owns one asyncio task that runs :meth:`_loop` from start until stop."""

    task_name = "background"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        raise NotImplementedError


async def idea_post_context(runtime: Runtime, platform: str,
                            item: OutboxItem) -> tuple[Any, tuple[str, str] | None, Any]:
    """For an ``idea_post`` item: the idea, where it is posted already (if anywhere) and the
    workspace's configured ideas channel."""
    assert item.idea_id is not None
    async with runtime.unit_of_work() as uow:
        idea, post = await uow.ideas.get_with_post(item.idea_id, platform)
        configured = await uow.channels.get(platform, item.workspace, "ideas")
    return idea, post, configured


class Deliverer(BackgroundTask):
    def __init__(self, runtime: Runtime, platform: str, send: Send) -> None:
        super().__init__()
        self._runtime = runtime
        self._platform = platform
        self._send = send
        self._wake = asyncio.Event()
        self.task_name = f"deliver-{platform}"

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
            items = await uow.outbox.claim(self._platform, utcnow())
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
            await uow.outbox.mark_sent(sent, utcnow())
            await uow.commit()
        sent.clear()
        after.clear()

    async def _deliver(self, item: OutboxItem) -> tuple[bool, Bookkeeping | None]:
        """Send one item: whether it went out (the caller marks it sent) and what to record."""
        try:
            bookkeeping = await self._send(item)
        except DeferredDelivery as exc:
            log.info("%s delivery %d (%s) waits: %s", self._platform, item.id, item.kind, exc)
            async with self._runtime.unit_of_work() as uow:
                await uow.outbox.defer(item.id, str(exc),
                                       utcnow() + timedelta(seconds=exc.seconds))
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
        now = utcnow()
        delay = backoff(item.attempts)
        if wait is not None:  # the platform said when: never sooner than that
            delay = max(delay, timedelta(seconds=wait))
        async with self._runtime.unit_of_work() as uow:
            await uow.outbox.reschedule(item.id, error, None if give_up else now + delay, now)
            await uow.commit()


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
