"""Housekeeping: forget what no longer matters, so tables that grow with every message don't.

Every platform event leaves its id in ``processed_events`` (to drop the platform's retries)
and every message sent leaves its outbox row. Retries come within minutes (Slack gives up
after three in about an hour), so ids are kept for :data:`EVENT_IDS_KEPT`; delivered rows are
kept a week for support questions, given-up ones a month. Pending rows are never touched.
Deletes go in batches so no statement holds the database for long; several processes doing
this at once only find less to delete.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from adapters.host.runtime import Runtime
from adapters.jobs.loops import BackgroundTask, repeatedly

log = logging.getLogger(__name__)

EVENT_IDS_KEPT = timedelta(days=7)
SENT_KEPT = timedelta(days=7)
FAILED_KEPT = timedelta(days=30)
FIRST_RUN_SECONDS = 60.0
EVERY_SECONDS = 3600.0
BATCH = 5000


class Housekeeper(BackgroundTask):
    task_name = "housekeeping"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self._runtime = runtime

    async def run_once(self) -> dict[str, int]:
        """Prune everything due now; returns how many rows of each kind went."""
        now = self._runtime.clock()
        pruned = {"event_ids": 0, "outbox": 0}
        while True:
            async with self._runtime.unit_of_work() as uow:
                events = await uow.processed.prune(now - EVENT_IDS_KEPT, BATCH)
                outbox = await uow.outbox.prune(now - SENT_KEPT, now - FAILED_KEPT, BATCH)
                await uow.commit()
            pruned["event_ids"] += events
            pruned["outbox"] += outbox
            if events < BATCH and outbox < BATCH:
                break
            await asyncio.sleep(0)  # let turns in between batches
        if any(pruned.values()):
            log.info("housekeeping: forgot %(event_ids)d event ids and %(outbox)d outbox rows",
                     pruned)
        return pruned

    async def _loop(self) -> None:
        await asyncio.sleep(FIRST_RUN_SECONDS)  # not in the way of start-up
        await repeatedly(self.run_once, EVERY_SECONDS, "housekeeping")
