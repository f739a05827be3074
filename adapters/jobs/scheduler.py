"""The digest scheduler inside ``kaizen serve``: each tick, every subscription whose local time
has come gets its digest queued exactly once.

Exactly once across workers: the run for (subscription, local date) is a unique row, inserted in
the same transaction that queues the digest in the outbox. A worker that loses
the insert skips; a crash before commit leaves nothing, so the next tick (of any worker) does it.
The outbox then delivers with retries, so a failed post is retried, not duplicated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from adapters.host.runtime import Runtime
from adapters.jobs.loops import BackgroundTask, repeatedly
from bot.channels import way_in
from bot.schedule import decide
from bot.subscriptions import Subscription

log = logging.getLogger(__name__)

TICK_SECONDS = 30.0
FIRST_PERIOD = timedelta(hours=24)
BATCH = 500
"""Subscriptions claimed and queued per transaction."""


@dataclass
class TickReport:
    queued: int = 0
    skipped: int = 0
    taken_elsewhere: int = 0


class DigestScheduler(BackgroundTask):
    task_name = "digest-scheduler"

    def __init__(self, runtime: Runtime, platforms: dict[str, Callable[[], None]],
                 clock: Callable[[], datetime] | None = None) -> None:
        """``platforms`` maps each mounted platform to its deliverer's ``kick``."""
        super().__init__()
        self._runtime = runtime
        self._platforms = platforms
        self._clock = clock or runtime.clock

    async def _loop(self) -> None:
        await repeatedly(self.tick, TICK_SECONDS, "digest scheduler tick")

    async def tick(self) -> TickReport:
        """Decide every subscription (pure, in memory), then claim and queue the due ones in
        batches: a few statements per batch, not per subscription, so 10,000 channels due in
        the same minute cost well under a millisecond each (bench/bench_digest.py)."""
        now = self._clock()
        report = TickReport()
        async with self._runtime.unit_of_work() as uow:
            subscriptions = await uow.digests.all(include_failing=False)
        runs: list[DueRun] = []
        skips: list[DueRun] = []
        for sub in subscriptions:
            if sub.platform not in self._platforms:
                continue
            decision = decide(sub.schedule, now, sub.last_local_date, sub.since)
            skips.extend((sub, *missed) for missed in decision.skips)
            if decision.run is not None:
                runs.append((sub, *decision.run))
        for batch in _batches(skips):
            await self._skip(batch, now)
            report.skipped += len(batch)
        for batch in _batches(runs):
            queued = await queue_digests(self._runtime, batch, now)
            report.queued += len(queued)
            report.taken_elsewhere += len(batch) - len(queued)
            for platform in {sub.platform for sub in queued}:
                self._platforms[platform]()
        return report

    async def _skip(self, skips: list[DueRun], now: datetime) -> None:
        async with self._runtime.unit_of_work() as uow:
            claimed = await uow.digests.claim_many(
                [(sub.id, local_date, at, at, "skipped") for sub, local_date, at in skips], now)
            await uow.digests.record_results([
                (sub.id, f"skipped {local_date}: back {now - at} after it was due", local_date)
                for sub, local_date, at in skips if sub.id in claimed])
            await uow.commit()
        for sub, local_date, at in skips:
            if sub.id in claimed:
                log.warning("digest for %s on %s skipped: it was due %s ago (catch-up window "
                            "is 12 h)", sub.channel_id, local_date, now - at)


DueRun = tuple[Subscription, date, datetime]
"""A subscription, the local date of its run and the instant it was due."""


def _batches(items: list[DueRun]) -> list[list[DueRun]]:
    return [items[i:i + BATCH] for i in range(0, len(items), BATCH)]


async def queue_digest(runtime: Runtime, sub: Subscription, local_date: date, at: datetime,
                       now: datetime, *, claim: bool = True) -> bool:
    """Queue one digest; False if another worker already did this local date."""
    return bool(await queue_digests(runtime, [(sub, local_date, at)], now, claim=claim))


async def queue_digests(runtime: Runtime, runs: list[DueRun], now: datetime, *,
                        claim: bool = True) -> list[Subscription]:
    """Claim each run and queue its digest in one transaction; returns those queued here.

    The outbox item carries the period, not the text: the deliverer composes the digest when
    it posts (paced by the platform's limits), so queueing stays cheap and the digest shows
    the state at posting time. The period itself is fixed here, so a retry posts the same one.
    """
    async with runtime.unit_of_work() as uow:
        latest = max(at for _, _, at in runs)
        ends = await uow.digests.previous_ends([sub.id for sub, _, _ in runs], latest)
        starts: dict[int, datetime] = {}
        for sub, _, at in runs:
            previous = ends.get(sub.id)
            if previous is not None and previous >= at:  # a later run exists: ask exactly
                previous = await uow.digests.previous_end(sub.id, at)
            starts[sub.id] = previous or at - FIRST_PERIOD
        if claim:
            run_ids: dict[int, int | None] = dict(await uow.digests.claim_many(
                [(sub.id, local_date, at, starts[sub.id], "queued")
                 for sub, local_date, at in runs], now))
        else:
            run_ids = {sub.id: None for sub, _, _ in runs}
        queued = [run for run in runs if run[0].id in run_ids]
        # Delivery runs on real time (``now`` may be a scheduler's notion of the time).
        await uow.outbox.add_many([
            (sub.platform, sub.workspace, "digest",
             _target(sub, local_date, run_ids[sub.id]),
             {"period": {"start": starts[sub.id].isoformat(), "end": at.isoformat(),
                         "zone": sub.schedule.zone, "areas": list(sub.areas)}})
            for sub, local_date, at in queued], runtime.clock())
        await uow.digests.record_results([
            (sub.id, f"queued for {local_date}", local_date if claim else None)
            for sub, local_date, _ in queued])
        await uow.commit()
    for sub, local_date, _ in queued:
        log.debug("digest for %s on %s queued", sub.channel_id, local_date)
    if queued:
        log.info("%d digest%s queued", len(queued), "s" * (len(queued) != 1))
    return [sub for sub, _, _ in queued]


def _target(sub: Subscription, local_date: date, run_id: int | None) -> dict[str, object]:
    target: dict[str, object] = {"channel": sub.channel_id, "subscription_id": sub.id,
                                 "run_id": run_id, "local_date": local_date.isoformat()}
    reference = way_in(sub.reference)
    if reference is not None:
        target["ref"] = reference
    return target
