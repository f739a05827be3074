"""Alembic environment: async, reading ``DATABASE_URL`` from the same settings as the service.

Tests (and anything else holding a connection) pass it in ``config.attributes["connection"]``.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy.pool import NullPool

from storage.database import async_database_url, create_engine
from storage.models import Base

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = Base.metadata


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from adapters.host.settings import Settings

    return Settings().database_url


def _configure(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=async_database_url(_database_url()),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _revision(connection: Any) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def _refresh_statistics(engine: Any) -> None:
    """After a schema change, give the planner fresh statistics (new tables and indexes have
    none) and, on PostgreSQL, a vacuum: a backfill that rewrote many rows (0010 touched a fifth
    of all ideas, just under autovacuum's threshold) clears the visibility map, and index-only
    counts then visit the heap: 112 ms instead of 2 for the digest's waiting count."""
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql("VACUUM (ANALYZE)")
        else:
            await connection.exec_driver_sql("ANALYZE")
            await connection.commit()


async def _run_async() -> None:
    engine = create_engine(_database_url(), poolclass=NullPool, sqlite_foreign_keys=False)
    try:
        async with engine.connect() as connection:
            before = await connection.run_sync(_revision)
            await connection.run_sync(_configure)
            await connection.commit()
            after = await connection.run_sync(_revision)
        if after != before:
            await _refresh_statistics(engine)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
