"""Migrations are the schema's source of truth: they match the models and round-trip."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage import migrate
from storage.database import create_engine
from storage.models import Base

TABLES = {"people", "conversations", "ideas", "idea_events", "processed_events"}


async def _inspect(url: str, fn):  # type: ignore[no-untyped-def]
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(fn)
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(database_url: str) -> None:
    def _diff(sync_connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    assert await _inspect(database_url, _diff) == []


async def test_downgrade_then_upgrade_round_trips(database_url: str) -> None:
    def _tables(sync_connection):  # type: ignore[no-untyped-def]
        return set(inspect(sync_connection).get_table_names()) - {"alembic_version"}

    assert await _inspect(database_url, _tables) == TABLES
    await asyncio.to_thread(migrate.downgrade, database_url, "base")
    assert await _inspect(database_url, _tables) == set()
    await asyncio.to_thread(migrate.upgrade, database_url)
    assert await _inspect(database_url, _tables) == TABLES


def test_the_history_is_linear() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1
    assert migrate.head_revision() == script.get_current_head()
