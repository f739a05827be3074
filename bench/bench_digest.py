"""Digests at scale: one digest over 1,000,000 ideas (target <= 50 ms, plans shown), and the
scheduler for 10,000 subscriptions due in the same minute (target < 1 ms CPU each).

Ideas are spread over a year in 50 areas and loaded straight into a migrated database; the
digest is composed exactly as the scheduler does (facts query + pure composition).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Index, event, insert, inspect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.host.runtime import Runtime
from adapters.host.settings import Settings
from adapters.jobs.scheduler import DigestScheduler
from bench.common import (
    drop_postgres_database,
    postgres_database,
    report,
    sqlite_url,
    summarise,
)
from bot.digest import compose
from storage import migrate
from storage.models import DigestSubscriptionRow, IdeaRow, PersonRow

IDEAS = int(os.environ.get("KAIZEN_BENCH_IDEAS", "1000000"))  # smaller for a quick try
SUBSCRIPTIONS = 10_000
AREAS = [f"area-{i:02d}" for i in range(50)]
DIGEST_TARGET_MS = 50.0
SCHEDULER_TARGET_MS = 1.0
BEFORE_TALLY = "0009"


IDEA_COLUMNS = ("id", "workspace", "platform", "author_id", "area", "standard", "problem",
                "proposal", "status", "created_at", "updated_at", "decided_at",
                "first_decided_at", "decided_by_id")
EVENT_COLUMNS = ("idea_id", "actor_id", "action", "from_status", "to_status", "result",
                 "created_at")
REACTION_COLUMNS = ("idea_id", "person_id", "reaction", "kind", "created_at")
DECIDED = ("approved", "implemented", "rejected", "in_progress")


def generate(now: datetime) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """A year of ideas in 50 areas from 2,000 people, deterministic so every run measures the
    same data. Like a working kaizen system, recent ideas are often still waiting and old ones
    mostly decided (half of this week's, a tenth of this month's, 1 % of older ones wait); a
    decided idea is approved, implemented, rejected or in progress alike. Every tenth decided
    idea has its decision event, every fifth idea a supporter."""
    rng = random.Random(3)
    ideas: list[tuple] = []
    events: list[tuple] = []
    reactions: list[tuple] = []
    for i in range(1, IDEAS + 1):
        age = timedelta(seconds=rng.randrange(365 * 86400))
        created = now - age
        waiting = 0.5 if age < timedelta(days=7) else 0.1 if age < timedelta(days=30) else 0.01
        status = "submitted" if rng.random() < waiting else rng.choice(DECIDED)
        decided = min(created + timedelta(hours=rng.randrange(1, 200)), now) \
            if status != "submitted" else None
        ideas.append((i, "T0001", "slack", rng.randrange(1, 2001), rng.choice(AREAS), "s", "p",
                      f"proposal {i}", status, created, created, decided, decided,
                      1 if decided else None))
        if decided and i % 10 == 0:
            events.append((i, 1, "approve", "submitted", status, "applied", decided))
        if i % 5 == 0:
            reactions.append((i, rng.randrange(1, 2001), "+1", "support",
                              min(created + timedelta(hours=rng.randrange(1, 100)), now)))
    return ideas, events, reactions


def _sqlite_time(value: Any) -> Any:
    """SQLAlchemy's SQLite storage format for our UTC datetimes (naive UTC, microseconds)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


async def load_ideas(runtime: Runtime, now: datetime) -> None:
    """Bulk-load through the driver (executemany on SQLite, COPY on PostgreSQL) with the
    ideas' indexes dropped, then build them once: the ORM with indexes in place took more
    than 15 minutes for a million rows."""
    ideas, events, reactions = generate(now)
    async with runtime.engine.begin() as connection:
        await connection.execute(insert(PersonRow), [
            {"platform": "slack", "workspace": "T0001", "user_id": f"U{i:05d}",
             "display_name": f"Person {i}", "role": "member", "created_at": now,
             "updated_at": now} for i in range(2000)])
    loads = (("ideas", IDEA_COLUMNS, ideas), ("idea_events", EVENT_COLUMNS, events),
             ("idea_reactions", REACTION_COLUMNS, reactions))
    async with runtime.engine.begin() as connection:
        # The indexes of the schema as migrated so far (later migrations add their own).
        indexes = await connection.run_sync(lambda sync: [
            Index(found["name"], *[IdeaRow.__table__.c[name] for name in found["column_names"]])
            for found in inspect(sync).get_indexes("ideas")])
        await connection.run_sync(lambda sync: [index.drop(sync) for index in indexes])
        if connection.dialect.name == "sqlite":
            for table, columns, rows in loads:
                await connection.exec_driver_sql(
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    [tuple(_sqlite_time(v) for v in row) for row in rows])
        else:
            raw = (await connection.get_raw_connection()).driver_connection
            for table, columns, rows in loads:
                await raw.copy_records_to_table(table, records=rows, columns=columns)
            await connection.exec_driver_sql(
                "SELECT setval('ideas_id_seq', (SELECT max(id) FROM ideas))")
        await connection.run_sync(lambda sync: [index.create(sync) for index in indexes])
    async with runtime.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            await connection.exec_driver_sql("ANALYZE")
        else:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql("VACUUM ANALYZE")


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


async def explain(runtime: Runtime, now: datetime, areas: tuple[str, ...]) -> list[str]:
    """Every statement of one digest with the plan the database really uses for it
    (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN ANALYZE`` on PostgreSQL), same parameters."""
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with runtime.unit_of_work() as uow:
            await uow.digests.facts("slack", "T0001", areas, now - timedelta(hours=24), now,
                                    "Europe/Berlin")
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", record)
    lines = []
    async with runtime.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        for statement, parameters in statements:
            lines.append("  " + " ".join(statement.split())[:150])
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, COSTS OFF) "
            result = await connection.exec_driver_sql(prefix + statement, parameters)
            lines += [f"      {row[-1] if sqlite else row[0]}" for row in result]
    return lines


async def scheduler_cost(runtime: Runtime, now: datetime) -> dict[str, float]:
    """10,000 subscriptions due now: CPU per subscription for deciding, claiming and queueing
    (each digest is composed later, when the deliverer posts it at the platform's pace)."""
    async with runtime.engine.begin() as connection:
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


async def prepare(database_url: str, now: datetime, label: str) -> None:
    """Load the ideas the way an upgrade meets them: into the schema before the implemented
    tally (0010), then migrate to head, so its backfill is measured too."""
    await asyncio.to_thread(migrate.upgrade, database_url, BEFORE_TALLY)
    runtime = Runtime.create(Settings(database_url=database_url))
    try:
        started = time.perf_counter()
        await load_ideas(runtime, now)
        print(f"{label}: loaded {IDEAS:,} ideas in {time.perf_counter() - started:.0f} s")
    finally:
        await runtime.close()
    started = time.perf_counter()
    await asyncio.to_thread(migrate.upgrade, database_url)
    print(f"{label}: migrated to head (implemented tally backfilled) in "
          f"{time.perf_counter() - started:.1f} s")


async def measure(database_url: str, label: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    await prepare(database_url, now, label)
    runtime = Runtime.create(Settings(database_url=database_url))
    try:
        for areas in ((), ("area-07", "area-21")):
            print(f"{label}: the digest's statements and plans, areas {areas or 'all'}")
            for line in await explain(runtime, now, areas):
                print(line)
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
