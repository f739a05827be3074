"""Housekeeping forgets old event ids and delivered outbox rows, and never a pending one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

import adapters.jobs.housekeeping as housekeeping
from adapters.host.runtime import Runtime
from adapters.jobs.housekeeping import Housekeeper
from bot.service import utcnow
from storage.models import OutboxRow, ProcessedEventRow


async def _seed(runtime: Runtime) -> None:
    now = utcnow()
    async with runtime.engine.begin() as connection:
        await connection.execute(insert(ProcessedEventRow), [
            {"platform": "slack", "event_id": "Ev-old", "received_at": now - timedelta(days=8)},
            {"platform": "slack", "event_id": "Ev-new", "received_at": now - timedelta(days=1)},
        ])
        rows = [  # (payload tag, status, age in days, sent age in days)
            ("sent-old", "sent", 9, 8), ("sent-new", "sent", 2, 1),
            ("failed-old", "failed", 31, None), ("failed-new", "failed", 10, None),
            ("pending-old", "pending", 60, None),
        ]
        await connection.execute(insert(OutboxRow), [
            {"platform": "slack", "workspace": "T1", "kind": "message", "target": {},
             "payload": {"tag": tag}, "status": status, "attempts": 0,
             "next_attempt_at": now, "created_at": now - timedelta(days=age),
             "sent_at": now - timedelta(days=sent) if sent is not None else None}
            for tag, status, age, sent in rows])


async def _left(runtime: Runtime) -> tuple[list[str], list[str]]:
    async with runtime.sessions() as session:
        events = await session.scalars(select(ProcessedEventRow.event_id)
                                        .order_by(ProcessedEventRow.event_id))
        outbox = await session.scalars(select(OutboxRow.payload).order_by(OutboxRow.id))
        return list(events), [payload["tag"] for payload in outbox]


@pytest.mark.parametrize("batch", [5000, 1])  # one statement each, or a row at a time
async def test_old_event_ids_and_delivered_rows_go_pending_ones_stay(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    monkeypatch.setattr(housekeeping, "BATCH", batch)
    await _seed(runtime)
    assert await Housekeeper(runtime).run_once() == {"event_ids": 1, "outbox": 2}
    assert await _left(runtime) == (["Ev-new"], ["sent-new", "failed-new", "pending-old"])
    assert await Housekeeper(runtime).run_once() == {"event_ids": 0, "outbox": 0}
