"""The outbox: every message bound for a chat platform, written in the turn's own transaction
and sent afterwards by a deliverer with retries, so an outage delays a message but never loses
it. Storage for the adapters' delivery, not one of the core's ports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.replies import reply_to_dict
from bot.targets import Message, Outbound
from storage.dialect import affected, delete_some
from storage.models import OutboxRow
from storage.target_json import target_to_json

LEASE = timedelta(seconds=60)
"""How long a claimed row is reserved for one deliverer; a crashed one's rows come back."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed row, as the deliverer needs it (detached from the session that claimed it)."""

    id: int
    platform: str
    workspace: str
    kind: str
    target: dict[str, Any]
    payload: dict[str, Any]
    idea_id: int | None
    attempts: int


class SqlOutbox:
    """Queue, claim under a lease, and settle (sent, retried later, or given up) messages."""

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

    async def queue(self, platform: str, items: Sequence[Outbound], now: datetime) -> None:
        """A turn's messages and idea refreshes, in order (see :mod:`bot.targets`)."""
        for item in items:
            if isinstance(item, Message):
                await self.add(platform, item.workspace, "message", target_to_json(item.to),
                               reply_to_dict(item.reply), now, idea_id=item.idea_id)
            else:
                await self.add(platform, item.workspace, "idea_post", {}, {}, now,
                               idea_id=item.idea_id)

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
        return affected(result)

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
