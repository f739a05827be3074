"""Acknowledge first, then run the turn: the platform's deadline holds under any burst.

Slack re-sends an event it has not had a 200 for within 3 s, and a Monday-morning burst of
captures used to queue each ack behind everybody's turn (500 at once: p99 7.5 s). The ack now
does the least that keeps the event safe: one insert into ``inbox`` and one commit. The turn
runs right after, in this process, in the order each person sent their messages (a draft's
answers must land in order), a few people at a time so that new acks are never starved of the
event loop or of SQLite's one writer.

Nothing is lost: a row whose turn did not finish (the process crashed or stopped, the turn
kept failing) is replayed after :data:`LEFT_BEHIND` by whichever process sweeps first; the
turn's own event-id dedupe makes replaying a finished turn harmless. Rows older than
:data:`TOO_OLD` are dropped with a warning rather than replayed: a draft answer from a quarter
of an hour ago would land on whatever question is open now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from adapters.host.runtime import Runtime
from adapters.jobs.loops import repeatedly
from storage.inbox import InboxEvent

log = logging.getLogger(__name__)

LEFT_BEHIND = timedelta(seconds=60)
TOO_OLD = timedelta(minutes=15)
SWEEP_SECONDS = 30.0
IN_MEMORY = 200
"""Events held in memory at most (each is its platform's whole JSON body). Beyond that a flood
waits in the table, and the workers fetch it in order as they catch up: memory stays flat
however far the turns fall behind the acks."""
WORKERS = 4
"""Turns running at once. More only queue on the database (SQLite has one writer) while acks
wait for the event loop; four keep PostgreSQL's round trips overlapped."""
FLUSH_EVERY = 50
REFILL_CHECK_SECONDS = 0.5
REFILL_BACKOFF_SECONDS = 5.0

Process = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Runs one stored event's turn: ``(kind, body)``. Raising leaves the row to be replayed."""


class EventInbox:
    """Stores events at ack time and runs their turns in the background, in order per person."""

    def __init__(self, runtime: Runtime, platform: str, process: Process,
                 workers: int = WORKERS, left_behind: timedelta = LEFT_BEHIND,
                 too_old: timedelta = TOO_OLD, in_memory: int = IN_MEMORY) -> None:
        self._runtime = runtime
        self.left_behind, self.too_old = left_behind, too_old
        self.in_memory = in_memory
        self._spilled: deque[int] = deque()  # accepted here, waiting only in the table
        self._refilling = False
        self._refill_after = 0.0  # loop time before which a failed refill is not retried
        self._platform = platform
        self._process = process
        self._workers = workers
        self._queue: asyncio.Queue[InboxEvent] = asyncio.Queue()
        self._behind: dict[str, deque[InboxEvent]] = {}  # person → events after the running one
        self._in_hand: set[int] = set()  # queued or running here: the sweep leaves them alone
        self._finished: list[int] = []  # done, row not yet deleted
        self._deleting = 0  # done, row being deleted right now
        self._tasks: list[asyncio.Task[None]] = []

    # --- the ack path ---------------------------------------------------------------------------

    async def accept(self, event_id: str, kind: str, person_key: str,
                     body: dict[str, Any]) -> bool:
        """Store the event and queue its turn; False for a retry of one still waiting here.

        Raises :class:`bot.ports.StorageUnavailable` if the database cannot take it: the
        caller then runs the turn inline, which answers the person with "try again".
        """
        async with self._runtime.unit_of_work() as uow:
            row_id = await uow.inbox.add(self._platform, event_id, kind, person_key, body,
                                         self._runtime.clock())
            await uow.commit()
        if row_id is None:
            log.info("%s event %s is already waiting for its turn", self._platform, event_id)
            return False
        if not self._tasks:  # stopping: the row waits for a sweep (here or in another process)
            return True
        if self._spilled or len(self._in_hand) >= self.in_memory:
            # A flood: this one waits in the table behind those already there, in order.
            self._spilled.append(row_id)
            return True
        self._enqueue(InboxEvent(row_id, event_id, kind, person_key, body))
        return True

    def _enqueue(self, event: InboxEvent) -> None:
        if event.id in self._in_hand:  # a refill and its own ack can both meet a new row
            return
        self._in_hand.add(event.id)
        self._queue.put_nowait(event)

    async def _refill(self) -> None:
        """Fetch the events this process left in the table during a flood, in the order they
        came, as room frees up (by id: another process's events are its own business)."""
        self._refilling = True
        try:
            room = self.in_memory - len(self._in_hand)
            ids = [self._spilled.popleft() for _ in range(min(room, len(self._spilled)))]
            if not ids:
                return
            try:
                async with self._runtime.unit_of_work() as uow:
                    events = await uow.inbox.by_ids(ids)
            except BaseException:
                self._spilled.extendleft(reversed(ids))  # still waiting: try again later
                raise
            for event in events:
                self._enqueue(event)
        finally:
            self._refilling = False

    # --- running turns --------------------------------------------------------------------------

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [asyncio.create_task(self._work(), name=f"inbox-{self._platform}-{n}")
                       for n in range(self._workers)]
        self._tasks.append(asyncio.create_task(
            repeatedly(self.sweep, SWEEP_SECONDS, f"{self._platform} inbox sweep"),
            name=f"inbox-{self._platform}-sweep"))

    async def stop(self) -> None:
        """Cancel the workers; unfinished events stay in the table and are replayed later."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._queue = asyncio.Queue()  # their rows stay: a later sweep replays them
        self._behind.clear()
        self._in_hand.clear()
        self._spilled.clear()
        with contextlib.suppress(Exception):
            await self._flush()

    async def idle(self, timeout: float = 10.0) -> None:
        """Until every accepted event's turn has run and its row is gone (tests, shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (self._in_hand or self._finished or self._spilled or self._deleting
               or self._refilling):  # a refill holds ids it took off _spilled until queued
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{len(self._in_hand)} {self._platform} events still waiting")
            await asyncio.sleep(0.01)

    async def _work(self) -> None:
        while True:
            loop_time = asyncio.get_running_loop().time()
            if self._spilled and not self._refilling and loop_time >= self._refill_after \
                    and len(self._in_hand) < self.in_memory // 2:
                try:
                    await self._refill()
                except Exception as exc:  # the database may be down: wait, then try again
                    self._refill_after = loop_time + REFILL_BACKOFF_SECONDS
                    log.warning("%s inbox: could not fetch %d waiting events, trying again in "
                                "%.0f s: %s", self._platform, len(self._spilled),
                                REFILL_BACKOFF_SECONDS, exc)
            try:
                event = await asyncio.wait_for(self._queue.get(), REFILL_CHECK_SECONDS)
            except TimeoutError:
                continue
            behind = self._behind.get(event.person_key)
            if behind is not None:  # that person's earlier event is running: go after it
                behind.append(event)
                continue
            self._behind[event.person_key] = behind = deque()
            try:
                while True:
                    await self._run(event)
                    if not behind:
                        break
                    event = behind.popleft()
            finally:
                del self._behind[event.person_key]
            if self._finished and (self._queue.empty() or len(self._finished) >= FLUSH_EVERY):
                await self._flush_logged()

    async def _run(self, event: InboxEvent) -> None:
        try:
            await self._process(event.kind, event.body)
        except asyncio.CancelledError:
            self._in_hand.discard(event.id)
            raise
        except Exception as exc:  # the row stays: the sweep replays it after LEFT_BEHIND
            log.warning("%s event %s (%s) failed; it will be replayed: %s", self._platform,
                        event.event_id, event.kind, exc, exc_info=exc)
            self._in_hand.discard(event.id)
        else:
            self._finished.append(event.id)
            self._in_hand.discard(event.id)

    async def _flush(self) -> None:
        done, self._finished = self._finished, []
        if not done:
            return
        self._deleting += len(done)
        try:
            async with self._runtime.unit_of_work() as uow:
                await uow.inbox.delete(done)
                await uow.commit()
        except BaseException:
            self._finished.extend(done)  # try again with the next batch
            raise
        finally:
            self._deleting -= len(done)

    async def _flush_logged(self) -> None:
        try:
            await self._flush()
        except Exception as exc:
            log.warning("%s inbox: could not clear %d finished events yet: %s", self._platform,
                        len(self._finished), exc)

    # --- left behind ----------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Replay events nobody finished; drop those too old to act on. Returns how many were
        queued again."""
        await self._flush_logged()
        now = self._runtime.clock()
        async with self._runtime.unit_of_work() as uow:
            dropped = await uow.inbox.discard_older(self._platform, now - self.too_old)
            left = await uow.inbox.left_behind(self._platform, now - self.left_behind,
                                               now - self.too_old)
            await uow.commit()
        if dropped:
            log.warning("%s inbox: dropped %d events older than %s that never finished",
                        self._platform, dropped, self.too_old)
        waiting_for_room = set(self._spilled)  # a flood's events: fetched in order anyway
        replay = [event for event in left
                  if event.id not in self._in_hand and event.id not in waiting_for_room]
        for event in replay:
            log.info("%s inbox: replaying event %s (%s)", self._platform, event.event_id,
                     event.kind)
            self._enqueue(event)
        return len(replay)
