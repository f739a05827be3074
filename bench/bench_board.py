"""The board and insights pages over 100,000 ideas: server time per page (target < 300 ms).

Loads a year of ideas (50 areas, 2,000 people, decisions and support) straight into a migrated
database, then requests each page through the real aiohttp app and reads the ``Server-Timing``
header the app sets, on SQLite and (when reachable) PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.host.runtime import Runtime
from adapters.host.server import build_app
from adapters.host.settings import Settings
from adapters.host.signing import Scope
from bench.common import (
    drop_postgres_database,
    postgres_database,
    report,
    sqlite_url,
    summarise,
)
from storage import migrate
from storage.models import IdeaEventRow, IdeaReactionRow, IdeaRow, PersonRow

IDEAS = 100_000
PEOPLE = 2_000
AREAS = [f"area-{i:02d}" for i in range(50)]
TARGET_MS = 300.0
REPEAT = 15
PAGES = ("/", "/?area=area-07", "/?q=wrench", "/insights", "/api/ideas?limit=50")


async def load(runtime: Runtime) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    async with runtime.engine.begin() as connection:
        await connection.execute(insert(PersonRow), [
            {"platform": "slack", "workspace": "T0001", "user_id": f"U{i:05d}",
             "display_name": f"Person {i}", "role": "member", "created_at": now,
             "updated_at": now} for i in range(PEOPLE)])
    statuses = ["submitted"] * 3 + ["approved"] * 2 + ["in_progress", "implemented",
                                                        "implemented", "rejected", "duplicate"]
    batch: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    reactions: list[dict[str, object]] = []
    for i in range(1, IDEAS + 1):
        created = now - timedelta(seconds=rng.randrange(365 * 86400))
        status = rng.choice(statuses)
        decided = (created + timedelta(hours=rng.randrange(1, 240))
                   if status != "submitted" else None)
        batch.append({"id": i, "workspace": "T0001", "platform": "slack",
                      "author_id": rng.randrange(1, PEOPLE + 1), "area": rng.choice(AREAS),
                      "standard": "The current way of doing it " * 3,
                      "problem": "It takes too long " * 3,
                      "proposal": rng.choice(["Colour-code the wrench", "Pre-fill the form",
                                              "Label the shelves", "Shorter stand-up"]),
                      "status": status, "created_at": created, "updated_at": created,
                      "decided_at": decided, "first_decided_at": decided,
                      "decided_by_id": 1 if decided else None})
        events.append({"idea_id": i, "actor_id": 1, "action": "submit", "to_status": "submitted",
                       "result": "applied", "created_at": created})
        if decided:
            events.append({"idea_id": i, "actor_id": 1, "action": "approve",
                           "from_status": "submitted", "to_status": "approved",
                           "result": "applied", "created_at": decided})
        if i % 7 == 0:
            reactions.append({"idea_id": i, "person_id": rng.randrange(1, PEOPLE + 1),
                              "reaction": "+1", "kind": "support", "created_at": created})
        if len(batch) == 10_000:
            await _flush(runtime, batch, events, reactions)
    await _flush(runtime, batch, events, reactions)
    if runtime.engine.dialect.name == "postgresql":
        async with runtime.engine.begin() as connection:
            await connection.exec_driver_sql(
                "SELECT setval('ideas_id_seq', (SELECT max(id) FROM ideas))")
            await connection.exec_driver_sql("ANALYZE")


async def _flush(runtime: Runtime, batch: list, events: list, reactions: list) -> None:
    async with runtime.engine.begin() as connection:
        if batch:
            await connection.execute(insert(IdeaRow), batch)
        if events:
            await connection.execute(insert(IdeaEventRow), events)
        if reactions:
            await connection.execute(insert(IdeaReactionRow), reactions)
    batch.clear()
    events.clear()
    reactions.clear()


async def measure(database_url: str, label: str) -> list[dict[str, object]]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    runtime = Runtime.create(Settings(database_url=database_url, secret_key="bench"))
    await load(runtime)
    rows = []
    async with TestClient(TestServer(build_app(runtime))) as client:
        token = runtime.signer.sign(Scope("slack", "T0001", "bench"))
        await client.get(f"/login?token={token}")
        for page in PAGES:
            samples = []
            for _ in range(REPEAT):
                response = await client.get(page)
                assert response.status == 200, (page, response.status)
                await response.read()
                samples.append(float(response.headers["Server-Timing"].split("dur=")[1]))
            stats = summarise(samples)
            rows.append({"database": label, "page": page, **stats,
                         "target_ms": TARGET_MS, "met": stats["p50"] < TARGET_MS})
    return rows


async def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        rows += await measure(sqlite_url(Path(directory), "board"), "sqlite")
    postgres = await postgres_database()
    if postgres is None:
        print("PostgreSQL not reachable: measured SQLite only")
    else:
        try:
            rows += await measure(postgres, "postgresql")
        finally:
            await drop_postgres_database(postgres)
    report("board_100k_ideas", rows, ["database", "page", "p50", "p99", "max", "target_ms",
                                      "met"])


if __name__ == "__main__":
    asyncio.run(main())
