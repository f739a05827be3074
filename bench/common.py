"""Shared helpers for the benchmarks: databases to measure on, and printing figures."""

from __future__ import annotations

import json
import os
import statistics
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("KAIZEN_BENCH_POSTGRES_URL",
                              os.environ.get("KAIZEN_TEST_POSTGRES_URL",
                                             "postgresql://postgres@127.0.0.1:5432/test"))


async def postgres_database() -> str | None:
    """A fresh PostgreSQL database for one benchmark run, or None if none is reachable."""
    url = make_url(POSTGRES_URL)
    name = f"kz_bench_{uuid.uuid4().hex[:10]}"
    try:
        connection = await asyncpg.connect(host=url.host, port=url.port or 5432,
                                           user=url.username, password=url.password,
                                           database=url.database, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(database_url: str) -> None:
    url = make_url(database_url)
    base = make_url(POSTGRES_URL)
    connection = await asyncpg.connect(host=base.host, port=base.port or 5432,
                                       user=base.username, password=base.password,
                                       database=base.database)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await connection.close()


def sqlite_url(directory: Path, name: str) -> str:
    path = directory / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def summarise(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 1), "p99": round(p99, 1),
            "max": round(ordered[-1], 1)}


def report(name: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """One JSON line (for machines) and a table (for people)."""
    print(json.dumps({"benchmark": name, "results": rows}))
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths,
                                                                     strict=True)))
