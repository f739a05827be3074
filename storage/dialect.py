"""SQL that every repository shares, written once so it behaves the same on SQLite and on
PostgreSQL: the dialect's own ``INSERT … ON CONFLICT``, deletes in bounded batches, and the
UTC hour that keys the hourly capture tally (SQLite keeps no time zone, so keys are computed
here, in UTC, rather than by the database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_insert(session: AsyncSession) -> Any:
    """The ``insert`` of the dialect in use, which has ``ON CONFLICT`` (both support it)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert


def insert_ignoring_conflicts(session: AsyncSession, table: Any, values: dict[str, Any]) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the dialect in use (both support it natively).

    Unlike catching an IntegrityError this leaves a PostgreSQL transaction usable, and a
    concurrent insert of the same key waits for the other transaction instead of failing.
    """
    return dialect_insert(session)(table).values(**values).on_conflict_do_nothing()


async def delete_some(session: AsyncSession, model: Any, *where: Any, limit: int) -> int:
    """Delete at most ``limit`` rows matching ``where`` (housekeeping goes in batches so no
    statement holds the database for long); returns how many went."""
    some = select(model.id).where(*where).limit(limit).scalar_subquery()
    result = await session.execute(
        delete(model).where(model.id.in_(some)).execution_options(synchronize_session=False))
    return affected(result)


def affected(result: Result[Any]) -> int:
    """How many rows an ``UPDATE``/``DELETE``/``INSERT`` changed (what both drivers report
    for a statement without ``RETURNING``; the optimistic version checks rely on it)."""
    return int(cast("CursorResult[Any]", result).rowcount or 0)


def utc_hour(moment: datetime) -> datetime:
    """The start of the UTC hour ``moment`` falls in (the key of the hourly capture tally)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
