"""Platform event ids already handled, so a platform's retry of the same event is dropped.

An aggregate of its own: it belongs to no person or idea, only to the (platform, workspace)
the event came from, and housekeeping prunes it once no retry can arrive any more."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.dialect import affected, delete_some, insert_ignoring_conflicts
from storage.models import ProcessedEventRow


class SqlProcessedEvents:
    """Implements :class:`bot.ports.ProcessedEvents`: the first turn of an event id wins."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, platform: str, workspace: str, event_id: str, now: datetime) -> bool:
        statement = insert_ignoring_conflicts(
            self._session,
            ProcessedEventRow.__table__,
            {"platform": platform, "workspace": workspace, "event_id": event_id,
             "received_at": now},
        )
        result = await self._session.execute(statement)
        return bool(affected(result))

    async def prune(self, received_before: datetime, batch: int = 5000) -> int:
        """Forget up to ``batch`` event ids older than any platform retry; returns how many."""
        return await delete_some(self._session, ProcessedEventRow,
                                 ProcessedEventRow.received_at < received_before, limit=batch)
