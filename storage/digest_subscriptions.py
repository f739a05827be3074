"""Digest subscriptions (one per channel) and the runs that make each digest exactly-once.

What is written and read when a channel subscribes and when the scheduler claims and settles
a run; what a digest *says* is the read model in :mod:`storage.digest_facts`.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.schedule import Schedule, days_from_text, describe_days
from bot.subscriptions import DigestRun, Subscription
from storage.dialect import affected, dialect_insert
from storage.models import DigestRunRow, DigestSubscriptionRow


def _subscription(row: DigestSubscriptionRow) -> Subscription:
    hours, minutes = (int(p) for p in row.time_of_day.split(":"))
    return Subscription(
        id=row.id, platform=row.platform, workspace=row.workspace, channel_id=row.channel_id,
        reference=dict(row.reference) if row.reference else None,
        schedule=Schedule(time(hours, minutes), row.timezone, days_from_text(row.days)),
        areas=tuple(row.areas or ()), last_local_date=row.last_local_date,
        last_result=row.last_result, failing=row.failing, since=row.updated_at,
    )


class SqlDigestSubscriptions:
    """Implements :class:`bot.ports.Digests`, plus the runs and results the scheduler keeps: a
    run is a unique (subscription, local date) row, so no two workers queue the same digest."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- subscriptions --------------------------------------------------------------------------

    async def subscribe(self, platform: str, workspace: str, channel_id: str,
                        reference: dict[str, Any] | None, schedule: Schedule,
                        areas: tuple[str, ...], person_id: int | None,
                        now: datetime) -> Subscription:
        """Create or replace this channel's subscription (a channel has at most one)."""
        row = await self._session.scalar(select(DigestSubscriptionRow).where(
            DigestSubscriptionRow.platform == platform,
            DigestSubscriptionRow.workspace == workspace,
            DigestSubscriptionRow.channel_id == channel_id))
        values = {"reference": reference, "time_of_day": f"{schedule.at:%H:%M}",
                  "timezone": schedule.zone, "days": describe_days(schedule.days),
                  "areas": list(areas), "failing": False, "updated_at": now}
        if row is None:
            row = DigestSubscriptionRow(platform=platform, workspace=workspace,
                                        channel_id=channel_id, created_by_id=person_id,
                                        created_at=now, **values)
            self._session.add(row)
        else:
            for key, value in values.items():
                setattr(row, key, value)
        await self._session.flush()
        return _subscription(row)

    async def unsubscribe(self, platform: str, workspace: str, channel_id: str) -> bool:
        result = await self._session.execute(delete(DigestSubscriptionRow).where(
            DigestSubscriptionRow.platform == platform,
            DigestSubscriptionRow.workspace == workspace,
            DigestSubscriptionRow.channel_id == channel_id))
        return bool(affected(result))

    async def get(self, platform: str, workspace: str, channel_id: str) -> Subscription | None:
        row = await self._session.scalar(select(DigestSubscriptionRow).where(
            DigestSubscriptionRow.platform == platform,
            DigestSubscriptionRow.workspace == workspace,
            DigestSubscriptionRow.channel_id == channel_id))
        return _subscription(row) if row else None

    async def count(self, platform: str, workspace: str) -> int:
        """Subscriptions in the workspace (the unique (platform, workspace, channel) index
        answers it), for KAIZEN_DIGEST_SUBSCRIPTIONS_MAX."""
        return int(await self._session.scalar(
            select(func.count()).select_from(DigestSubscriptionRow).where(
                DigestSubscriptionRow.platform == platform,
                DigestSubscriptionRow.workspace == workspace)) or 0)

    async def by_id(self, subscription_id: int) -> Subscription | None:
        row = await self._session.get(DigestSubscriptionRow, subscription_id)
        return _subscription(row) if row else None

    async def all(self, include_failing: bool = True) -> list[Subscription]:
        query = select(DigestSubscriptionRow).order_by(DigestSubscriptionRow.id)
        if not include_failing:
            query = query.where(DigestSubscriptionRow.failing.is_(False))
        return [_subscription(row) for row in await self._session.scalars(query)]

    async def record_result(self, subscription_id: int, result: str, *,
                            failing: bool | None = None,
                            local_date: date | None = None) -> None:
        values: dict[str, Any] = {"last_result": result[:300]}
        if failing is not None:
            values["failing"] = failing
        if local_date is not None:
            values["last_local_date"] = local_date
        await self._session.execute(update(DigestSubscriptionRow).where(
            DigestSubscriptionRow.id == subscription_id).values(**values))

    # --- runs -----------------------------------------------------------------------------------

    async def claim_many(self, runs: list[tuple[int, date, datetime, datetime, str]],
                         now: datetime) -> dict[int, int]:
        """Insert many runs (subscription, local date, scheduled for, period start, status) in
        one statement; returns ``{subscription id: run id}`` for the ones this call inserted
        (a run another worker already has is left out)."""
        if not runs:
            return {}
        rows = await self._session.execute(
            dialect_insert(self._session)(DigestRunRow).values([
                {"subscription_id": sub_id, "local_date": local_date,
                 "scheduled_for": at, "period_start": start, "period_end": at,
                 "status": status, "created_at": now}
                for sub_id, local_date, at, start, status in runs])
            .on_conflict_do_nothing()
            .returning(DigestRunRow.subscription_id, DigestRunRow.id))
        return {sub_id: run_id for sub_id, run_id in rows}

    async def previous_ends(self, subscription_ids: list[int],
                            before: datetime) -> dict[int, datetime]:
        """:meth:`previous_end` for many subscriptions in one query."""
        if not subscription_ids:
            return {}
        rows = await self._session.execute(
            select(DigestRunRow.subscription_id, func.max(DigestRunRow.period_end))
            .where(DigestRunRow.subscription_id.in_(subscription_ids),
                   DigestRunRow.status.in_(("queued", "posted")),
                   DigestRunRow.period_end < before)
            .group_by(DigestRunRow.subscription_id))
        return {sub_id: end for sub_id, end in rows if end is not None}

    async def record_results(self, results: list[tuple[int, str, date | None]]) -> None:
        """:meth:`record_result` for many subscriptions, one executemany round trip."""
        if not results:
            return
        table = cast(Table, DigestSubscriptionRow.__table__)
        with_date = [{"sid": s, "result": r[:300], "local_date": d} for s, r, d in results
                     if d is not None]
        without = [{"sid": s, "result": r[:300]} for s, r, d in results if d is None]
        if with_date:
            await self._session.execute(
                update(table).where(table.c.id == bindparam("sid"))
                .values(last_result=bindparam("result"),
                        last_local_date=bindparam("local_date")), with_date)
        if without:
            await self._session.execute(
                update(table).where(table.c.id == bindparam("sid"))
                .values(last_result=bindparam("result")), without)

    async def previous_end(self, subscription_id: int, before: datetime) -> datetime | None:
        """Where the last digest's period ended: the next one starts there."""
        return await self._session.scalar(
            select(func.max(DigestRunRow.period_end)).where(
                DigestRunRow.subscription_id == subscription_id,
                DigestRunRow.status.in_(("queued", "posted")),
                DigestRunRow.period_end < before))

    async def finish_run(self, run_id: int, status: str, now: datetime) -> None:
        await self._session.execute(update(DigestRunRow).where(DigestRunRow.id == run_id)
                                    .values(status=status, finished_at=now))

    async def runs(self, subscription_id: int) -> list[DigestRun]:
        rows = await self._session.scalars(
            select(DigestRunRow).where(DigestRunRow.subscription_id == subscription_id)
            .order_by(DigestRunRow.local_date))
        return [DigestRun(r.local_date, r.status, r.period_start, r.period_end) for r in rows]
