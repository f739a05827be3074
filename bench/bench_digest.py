"""Digests at scale: one digest over 1,000,000 ideas (target <= 50 ms, plans shown), and the
scheduler for 10,000 subscriptions due in the same minute (target < 1 ms CPU each).

Ideas are spread over a year in 50 areas and loaded straight into a migrated database; the
digest is composed exactly as the scheduler does (facts query + pure composition).

Known limitation (see bench/RESULTS.md): loading a million rows through SQLAlchemy with the
indexes in place takes longer than a benchmark should; the loader is the next thing to fix.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.runtime import Runtime
from adapters.scheduler import DigestScheduler
from adapters.settings import Settings
from bench.common import (
    drop_postgres_database,
    postgres_database,
    report,
    sqlite_url,
    summarise,
)
from bot.digest import compose
from storage import migrate
from storage.models import (
    DigestSubscriptionRow,
    IdeaEventRow,
    IdeaRow,
    PersonRow,
)

IDEAS = 1_000_000
SUBSCRIPTIONS = 10_000
AREAS = [f"area-{i:02d}" for i in range(50)]
DIGEST_TARGET_MS = 50.0
SCHEDULER_TARGET_MS = 1.0


async def load_ideas(runtime: Runtime, now: datetime) -> None:
    rng = random.Random(3)
    async with runtime.engine.begin() as connection:
        await connection.execute(insert(PersonRow), [
            {"platform": "slack", "workspace": "T0001", "user_id": f"U{i:05d}",
             "display_name": f"Person {i}", "role": "member", "created_at": now,
             "updated_at": now} for i in range(2000)])
    statuses = ["submitted", "approved", "implemented", "rejected", "in_progress"]
    ideas: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i in range(1, IDEAS + 1):
        created = now - timedelta(seconds=rng.randrange(365 * 86400))
        status = rng.choice(statuses)
        decided = created + timedelta(hours=rng.randrange(1, 200)) if status != "submitted" \
            else None
        ideas.append({"id": i, "workspace": "T0001", "platform": "slack",
                      "author_id": rng.randrange(1, 2001), "area": rng.choice(AREAS),
                      "standard": "s", "problem": "p", "proposal": f"proposal {i}",
                      "status": status, "created_at": created, "updated_at": created,
                      "decided_at": decided, "first_decided_at": decided,
                      "decided_by_id": 1 if decided else None})
        if decided and i % 10 == 0:
            events.append({"idea_id": i, "actor_id": 1, "action": "approve",
                           "from_status": "submitted", "to_status": "approved",
                           "result": "applied", "created_at": decided})
        if len(ideas) == 20_000:
            await _flush(runtime, ideas, events)
    await _flush(runtime, ideas, events)
    async with runtime.engine.begin() as connection:
        await connection.exec_driver_sql("ANALYZE")


async def _flush(runtime: Runtime, ideas: list, events: list) -> None:
    async with runtime.engine.begin() as connection:
        if ideas:
            await connection.execute(insert(IdeaRow), ideas)
        if events:
            await connection.execute(insert(IdeaEventRow), events)
    ideas.clear()
    events.clear()


async def digest_times(runtime: Runtime, now: datetime, areas: tuple[str, ...]) -> list[float]:
    samples = []
    for _ in range(10):
        started = time.perf_counter()
        async with runtime.unit_of_work() as uow:
            facts = await uow.digests.facts("slack", "T0001", areas, now - timedelta(hours=24),
                                            now, "Europe/Berlin")
        compose(facts)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def explain(runtime: Runtime, now: datetime) -> list[str]:
    """The plan of the biggest query (ideas captured in the period), as the database sees it."""
    start = (now - timedelta(hours=24)).replace(tzinfo=None).isoformat(sep=" ")
    where = (f"platform = 'slack' AND workspace = 'T0001' AND created_at >= '{start}'"
             )
    async with runtime.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = await connection.execute(text(
                f"EXPLAIN QUERY PLAN SELECT * FROM ideas WHERE {where}"))
            return [str(row[-1]) for row in rows]
        rows = await connection.execute(text(
            f"EXPLAIN ANALYZE SELECT * FROM ideas WHERE {where}::timestamptz"))
        return [str(row[0]) for row in rows]


async def scheduler_cost(runtime: Runtime, now: datetime) -> dict[str, float]:
    """10,000 subscriptions due now: CPU per subscription for deciding and claiming."""
    async with runtime.engine.begin() as connection:
        await connection.execute(text("DELETE FROM ideas WHERE id > 1000"))  # digests stay small
        await connection.execute(insert(DigestSubscriptionRow), [
            {"platform": "slack", "workspace": "T0001", "channel_id": f"C{i:06d}",
             "time_of_day": f"{(now - timedelta(minutes=1)):%H:%M}", "timezone": "UTC",
             "days": "daily", "areas": [], "failing": False,
             "created_at": now - timedelta(days=1), "updated_at": now - timedelta(days=1)}
            for i in range(SUBSCRIPTIONS)])
    scheduler = DigestScheduler(runtime, {"slack": lambda: None}, clock=lambda: now)
    cpu, wall = time.process_time(), time.perf_counter()
    first = await scheduler.tick()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    again = await scheduler.tick()
    return {"queued": first.queued, "queued_on_second_tick": again.queued,
            "cpu_ms_per_subscription": round(cpu * 1000 / SUBSCRIPTIONS, 2),
            "wall_s": round(wall, 1)}


async def measure(database_url: str, label: str) -> list[dict[str, Any]]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    runtime = Runtime.create(Settings(database_url=database_url))
    now = datetime.now(UTC)
    try:
        started = time.perf_counter()
        await load_ideas(runtime, now)
        print(f"{label}: loaded {IDEAS:,} ideas in {time.perf_counter() - started:.0f} s")
        for line in await explain(runtime, now):
            print(f"{label} plan: {line}")
        rows = []
        for areas in ((), ("area-07", "area-21")):
            stats = summarise(await digest_times(runtime, now, areas))
            rows.append({"database": label, "areas": ",".join(areas) or "all",
                         "digest_p50_ms": stats["p50"], "digest_max_ms": stats["max"],
                         "target_ms": DIGEST_TARGET_MS, "met": stats["p50"] <= DIGEST_TARGET_MS})
        cost = await scheduler_cost(runtime, now)
        rows.append({"database": label, "areas": f"{SUBSCRIPTIONS:,} subscriptions", **cost,
                     "target_ms": SCHEDULER_TARGET_MS,
                     "met": cost["cpu_ms_per_subscription"] < SCHEDULER_TARGET_MS})
        return rows
    finally:
        await runtime.close()


async def main() -> None:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as directory:
        rows += await measure(sqlite_url(Path(directory), "digest"), "sqlite")
    postgres = await postgres_database()
    if postgres is not None:
        try:
            rows += await measure(postgres, "postgresql")
        finally:
            await drop_postgres_database(postgres)
    report("digest", rows, ["database", "areas", "digest_p50_ms", "digest_max_ms", "queued",
                            "queued_on_second_tick", "cpu_ms_per_subscription", "wall_s",
                            "target_ms", "met"])


if __name__ == "__main__":
    asyncio.run(main())
