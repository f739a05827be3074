"""The inbox: platform events stored by the ack, before their turn runs, so the platform hears
back within its deadline and a crash before the turn loses nothing (the event is replayed).
Storage for the adapters (``adapters/inbox.py``), not one of the core's ports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.dialect import affected, insert_ignoring_conflicts
from storage.models import InboxRow


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """An acknowledged platform event whose turn has not finished yet."""

    id: int
    event_id: str
    kind: str
    person_key: str
    body: dict[str, Any]


class SqlInbox:
    """Events stored by the ack and deleted once their turn is done (see :class:`InboxRow`)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, platform: str, event_id: str, kind: str, person_key: str,
                  body: dict[str, Any], now: datetime) -> int | None:
        """Store the event; None if it is already waiting here (a platform retry)."""
        statement = insert_ignoring_conflicts(self._session, InboxRow.__table__, {
            "platform": platform, "event_id": event_id, "kind": kind,
            "person_key": person_key, "body": body, "received_at": now,
        }).returning(InboxRow.id)
        return (await self._session.execute(statement)).scalar()

    async def delete(self, ids: list[int]) -> None:
        await self._session.execute(
            delete(InboxRow).where(InboxRow.id.in_(ids)).execution_options(
                synchronize_session=False))

    async def left_behind(self, platform: str, received_before: datetime,
                          received_after: datetime, limit: int = 100) -> list[InboxEvent]:
        """Events nobody finished (their worker crashed or was stopped), oldest first; those
        received before ``received_after`` are too old to replay."""
        rows = await self._session.scalars(
            select(InboxRow)
            .where(InboxRow.platform == platform, InboxRow.received_at < received_before,
                   InboxRow.received_at >= received_after)
            .order_by(InboxRow.received_at, InboxRow.id).limit(limit))
        return [_inbox_event(row) for row in rows]

    async def by_ids(self, ids: list[int]) -> list[InboxEvent]:
        """These events (those still here), in the order they came."""
        rows = await self._session.scalars(
            select(InboxRow).where(InboxRow.id.in_(ids)).order_by(InboxRow.id))
        return [_inbox_event(row) for row in rows]

    async def discard_older(self, platform: str, received_before: datetime) -> int:
        """Drop events too old to act on now (an answer from yesterday would land on today's
        question); returns how many."""
        result = await self._session.execute(
            delete(InboxRow).where(InboxRow.platform == platform,
                                   InboxRow.received_at < received_before))
        return affected(result)


def _inbox_event(row: InboxRow) -> InboxEvent:
    return InboxEvent(row.id, row.event_id, row.kind, row.person_key, row.body)
