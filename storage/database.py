"""Engine and session factory: one engine per process, async sessions that never expire on commit.

SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` so concurrent turns queue for the write
lock instead of failing half-way with "database is locked"; PostgreSQL runs through asyncpg.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000


def async_database_url(url: str) -> str:
    """Turn what an operator would naturally write into the async driver URL we run on.

    ``postgresql://`` / ``postgres://`` → ``postgresql+asyncpg://`` (with libpq's ``sslmode``
    renamed to asyncpg's ``ssl``), ``sqlite://`` → ``sqlite+aiosqlite://``.
    """
    parsed: URL = make_url(url)
    backend = parsed.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        query = dict(parsed.query)
        if "sslmode" in query:
            query["ssl"] = query.pop("sslmode")
        parsed = parsed.set(drivername="postgresql+asyncpg", query=query)
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise ValueError(
            f"unsupported DATABASE_URL backend {backend!r}: use sqlite:/// or postgresql://"
        )
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, *, sqlite_foreign_keys: bool = True,
                  sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
                  **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` with the per-database settings this service relies on.

    Migrations pass ``sqlite_foreign_keys=False``: SQLite's batch mode rebuilds a table by
    dropping it, which with enforcement on would cascade-delete the rows that point at it.
    """
    async_url = async_database_url(url)
    if make_url(async_url).get_backend_name() == "sqlite":
        engine = create_async_engine(async_url, **kwargs)
        _configure_sqlite(engine, foreign_keys=sqlite_foreign_keys,
                          busy_timeout_ms=sqlite_busy_timeout_ms)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(async_url, **kwargs)


def _configure_sqlite(engine: AsyncEngine, foreign_keys: bool, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred and misses DDL).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: a turn always writes, and upgrading a read lock later
        # fails at once with SQLITE_BUSY instead of waiting for the busy timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
