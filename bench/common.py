"""Shared helpers for the benchmarks: databases to measure on, and printing figures."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from tests.databases import create_database, drop_database

POSTGRES_URL = os.environ.get("KAIZEN_BENCH_POSTGRES_URL",
                              os.environ.get("KAIZEN_TEST_POSTGRES_URL",
                                             "postgresql://postgres@127.0.0.1:5432/test"))


async def postgres_database() -> str | None:
    """A fresh PostgreSQL database for one benchmark run, or None if none is reachable."""
    try:
        return await create_database(POSTGRES_URL, "kz_bench", timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None


async def drop_postgres_database(database_url: str) -> None:
    await drop_database(POSTGRES_URL, database_url)


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
