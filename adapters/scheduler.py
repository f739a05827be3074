"""The digest scheduler inside ``kaizen serve``: each tick, every subscription whose local time
has come gets its digest queued exactly once.

Exactly once across workers: the run for (subscription, local date) is a unique row, inserted in
the same transaction that composes the digest and queues it in the outbox. A worker that loses
the insert skips; a crash before commit leaves nothing, so the next tick (of any worker) does it.
The outbox then delivers with retries, so a failed post is retried, not duplicated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from adapters.delivery import BackgroundTask
from adapters.runtime import Runtime
from bot.digest import compose, view_to_dict
from bot.schedule import decide
from bot.service import utcnow
from storage.digests import Subscription

log = logging.getLogger(__name__)

TICK_SECONDS = 30.0
FIRST_PERIOD = timedelta(hours=24)


@dataclass
class TickReport:
    queued: int = 0
    skipped: int = 0
    taken_elsewhere: int = 0


class DigestScheduler(BackgroundTask):
    task_name = "digest-scheduler"

    def __init__(self, runtime: Runtime, platforms: dict[str, Callable[[], None]],
                 clock: Callable[[], datetime] = utcnow) -> None:
        """``platforms`` maps each mounted platform to its deliverer's ``kick``."""
        super().__init__()
        self._runtime = runtime
        self._platforms = platforms
        self._clock = clock

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be down: try again next tick
                log.exception("digest scheduler tick failed; retrying next tick")
            await asyncio.sleep(TICK_SECONDS)

    async def tick(self) -> TickReport:
        now = self._clock()
        report = TickReport()
        async with self._runtime.unit_of_work() as uow:
            subscriptions = await uow.digests.all(include_failing=False)
        for sub in subscriptions:
            if sub.platform not in self._platforms:
                continue
            decision = decide(sub.schedule, now, sub.last_local_date, sub.since)
            if decision.skip is not None:
                await self._skip(sub, *decision.skip, now)
                report.skipped += 1
            if decision.run is not None:
                if await queue_digest(self._runtime, sub, *decision.run, now):
                    report.queued += 1
                    self._platforms[sub.platform]()
                else:
                    report.taken_elsewhere += 1
        return report

    async def _skip(self, sub: Subscription, local_date: date, at: datetime,
                    now: datetime) -> None:
        async with self._runtime.unit_of_work() as uow:
            claimed = await uow.digests.claim(sub.id, local_date, at, at, "skipped", now)
            if claimed is not None:
                await uow.digests.record_result(
                    sub.id, f"skipped {local_date}: back {now - at} after it was due",
                    local_date=local_date)
            await uow.commit()
        if claimed is not None:
            log.warning("digest for %s on %s skipped: it was due %s ago (catch-up window "
                        "is 12 h)", sub.channel_id, local_date, now - at)


async def queue_digest(runtime: Runtime, sub: Subscription, local_date: date, at: datetime,
                       now: datetime, *, claim: bool = True) -> bool:
    """Compose and queue one digest; False if another worker already did this local date."""
    async with runtime.unit_of_work() as uow:
        start = await uow.digests.previous_end(sub.id, at) or at - FIRST_PERIOD
        run_id = None
        if claim:
            run_id = await uow.digests.claim(sub.id, local_date, at, start, "queued", now)
            if run_id is None:
                return False
        facts = await uow.digests.facts(sub.platform, sub.workspace, sub.areas, start, at,
                                        sub.schedule.zone)
        view = compose(facts)
        target = {"channel": sub.channel_id, "subscription_id": sub.id, "run_id": run_id,
                  "local_date": local_date.isoformat()}
        if sub.reference:
            target["ref"] = sub.reference.get("reference")
        # Delivery runs on real time (``now`` may be a scheduler's notion of the time).
        await uow.outbox.add(sub.platform, sub.workspace, "digest", target,
                             {"view": view_to_dict(view)}, utcnow())
        await uow.digests.record_result(sub.id, f"queued for {local_date}",
                                        local_date=local_date if claim else None)
        await uow.commit()
    log.info("digest for %s on %s queued (%s)", sub.channel_id, local_date,
             "quiet day" if view.empty else "with news")
    return True


async def digest_delivered(runtime: Runtime, target: dict[str, object], ok: bool,
                           detail: str) -> None:
    """Called by a platform sender after posting a digest (or failing for good)."""
    sub_id = target.get("subscription_id")
    if not isinstance(sub_id, int):
        return
    now = utcnow()
    async with runtime.unit_of_work() as uow:
        run_id = target.get("run_id")
        if isinstance(run_id, int):
            await uow.digests.finish_run(run_id, "posted" if ok else "failed", now)
        await uow.digests.record_result(
            sub_id, f"posted {target.get('local_date')}" if ok else f"failed: {detail}",
            failing=None if ok else True)
        await uow.commit()
    if not ok:
        log.error("digest subscription %s marked failing: %s", sub_id, detail)
