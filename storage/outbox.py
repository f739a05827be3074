"""The outbox and where ideas are posted: storage for adapters' delivery, not for the core."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.dialect import delete_some, insert_ignoring_conflicts
from storage.models import ConversationRefRow, IdeaPostRow, InboxRow, OutboxRow

LEASE = timedelta(seconds=60)
"""How long a claimed row is reserved for one deliverer; a crashed one's rows come back."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    platform: str
    workspace: str
    kind: str
    target: dict[str, Any]
    payload: dict[str, Any]
    idea_id: int | None
    attempts: int


class SqlOutbox:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, platform: str, workspace: str, kind: str, target: dict[str, Any],
                  payload: dict[str, Any], now: datetime, idea_id: int | None = None) -> None:
        self._session.add(OutboxRow(
            platform=platform, workspace=workspace, kind=kind, target=target, payload=payload,
            idea_id=idea_id, target_key=target.get("user"), status="pending", attempts=0,
            next_attempt_at=now, created_at=now,
        ))
        # No flush: the commit inserts a turn's items together (one statement for several).

    async def add_many(self, items: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]],
                       now: datetime) -> None:
        """Queue many items (platform, workspace, kind, target, payload) in one flush."""
        self._session.add_all([OutboxRow(
            platform=platform, workspace=workspace, kind=kind, target=target, payload=payload,
            target_key=target.get("user"), status="pending", attempts=0, next_attempt_at=now,
            created_at=now) for platform, workspace, kind, target, payload in items])
        await self._session.flush()

    async def wake(self, platform: str, workspace: str, target_key: str, now: datetime) -> int:
        """Make pending messages for ``target_key`` in ``workspace`` due now (they were waiting
        for a way in)."""
        result = await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.platform == platform, OutboxRow.workspace == workspace,
                   OutboxRow.target_key == target_key,
                   OutboxRow.status == "pending", OutboxRow.next_attempt_at > now)
            .values(next_attempt_at=now)
        )
        return int(result.rowcount or 0)

    async def prune(self, sent_before: datetime, failed_before: datetime,
                    batch: int = 5000) -> int:
        """Delete up to ``batch`` delivered rows older than ``sent_before`` and given-up rows
        older than ``failed_before`` (pending rows are never touched); returns how many."""
        return await delete_some(self._session, OutboxRow, or_(
            (OutboxRow.status == "sent") & (OutboxRow.sent_at < sent_before),
            (OutboxRow.status == "failed") & (OutboxRow.created_at < failed_before),
        ), limit=batch)

    async def defer(self, item_id: int, reason: str, until: datetime) -> None:
        """Wait without counting an attempt (e.g. no conversation with that person yet)."""
        await self._session.execute(
            update(OutboxRow).where(OutboxRow.id == item_id)
            .values(next_attempt_at=until, locked_until=None, last_error=reason[:500])
        )

    async def claim(self, platform: str, now: datetime, limit: int = 20) -> list[OutboxItem]:
        """Reserve due rows, oldest first; PostgreSQL skips rows another worker holds."""
        rows = (await self._session.scalars(
            select(OutboxRow)
            .where(
                OutboxRow.platform == platform,
                OutboxRow.status == "pending",
                OutboxRow.next_attempt_at <= now,
                or_(OutboxRow.locked_until.is_(None), OutboxRow.locked_until < now),
            )
            .order_by(OutboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )).all()
        for row in rows:
            row.locked_until = now + LEASE
        await self._session.flush()
        return [OutboxItem(r.id, r.platform, r.workspace, r.kind, dict(r.target),
                           dict(r.payload), r.idea_id, r.attempts) for r in rows]

    async def mark_sent(self, item_ids: list[int], now: datetime) -> None:
        await self._session.execute(
            update(OutboxRow).where(OutboxRow.id.in_(item_ids))
            .values(status="sent", sent_at=now, locked_until=None)
            .execution_options(synchronize_session=False)  # no ORM bookkeeping: rows not loaded
        )

    async def reschedule(self, item_id: int, error: str, next_attempt_at: datetime | None,
                         now: datetime) -> None:
        """Try again at ``next_attempt_at``; None gives up (status ``failed``, kept for ops)."""
        values: dict[str, Any] = {
            "attempts": OutboxRow.attempts + 1,
            "last_error": error[:500],
            "locked_until": None,
        }
        if next_attempt_at is None:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = next_attempt_at
        await self._session.execute(
            update(OutboxRow).where(OutboxRow.id == item_id).values(**values)
        )

    async def counts(self, platform: str) -> dict[str, int]:
        rows = await self._session.execute(
            select(OutboxRow.status, func.count()).where(OutboxRow.platform == platform)
            .group_by(OutboxRow.status))
        return {status: count for status, count in rows}


class SqlIdeaPosts:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find_idea(self, platform: str, channel: str, message_id: str) -> int | None:
        return await self._session.scalar(
            select(IdeaPostRow.idea_id).where(
                IdeaPostRow.platform == platform,
                IdeaPostRow.channel == channel,
                IdeaPostRow.message_id == message_id,
            )
        )

    async def save(self, idea_id: int, platform: str, channel: str, message_id: str,
                   now: datetime) -> None:
        await self._session.execute(insert_ignoring_conflicts(
            self._session, IdeaPostRow.__table__,
            {"idea_id": idea_id, "platform": platform, "channel": channel,
             "message_id": message_id, "posted_at": now, "updated_at": now},
        ))

    async def touch(self, idea_id: int, platform: str, now: datetime) -> None:
        await self._session.execute(
            update(IdeaPostRow)
            .where(IdeaPostRow.idea_id == idea_id, IdeaPostRow.platform == platform)
            .values(updated_at=now)
        )


class SqlConversationRefs:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def _where(self, platform: str, workspace: str, scope: str, key: str) -> tuple[Any, ...]:
        return (
            ConversationRefRow.platform == platform,
            ConversationRefRow.workspace == workspace,
            ConversationRefRow.scope == scope,
            ConversationRefRow.ref_key == key,
        )

    async def save(self, platform: str, workspace: str, scope: str, key: str,
                   reference: dict[str, Any], now: datetime) -> bool:
        """Store (or refresh, re-enabling) a reference; True if it was new or disabled."""
        row = await self._session.scalar(
            select(ConversationRefRow).where(*self._where(platform, workspace, scope, key)))
        if row is None:
            self._session.add(ConversationRefRow(
                platform=platform, workspace=workspace, scope=scope, ref_key=key,
                reference=reference, disabled=False, updated_at=now))
            await self._session.flush()
            return True
        was_disabled = row.disabled
        if row.reference != reference or was_disabled:
            row.reference = reference
            row.disabled = False
            row.disabled_reason = None
            row.updated_at = now
        return was_disabled

    async def get(self, platform: str, workspace: str, scope: str,
                  key: str) -> tuple[dict[str, Any], bool] | None:
        """The reference and whether it is disabled, or None."""
        row = await self._session.scalar(
            select(ConversationRefRow).where(*self._where(platform, workspace, scope, key)))
        return (dict(row.reference), row.disabled) if row else None

    async def disable(self, platform: str, workspace: str, scope: str, key: str,
                      reason: str, now: datetime) -> None:
        await self._session.execute(
            update(ConversationRefRow)
            .where(*self._where(platform, workspace, scope, key))
            .values(disabled=True, disabled_reason=reason[:300], updated_at=now))

    async def forget(self, platform: str, workspace: str, scope: str, key: str) -> None:
        await self._session.execute(
            delete(ConversationRefRow).where(*self._where(platform, workspace, scope, key)))


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
        return int(result.rowcount or 0)


def _inbox_event(row: InboxRow) -> InboxEvent:
    return InboxEvent(row.id, row.event_id, row.kind, row.person_key, row.body)
