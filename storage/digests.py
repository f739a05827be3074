"""Digest subscriptions, the runs that make them exactly-once, and the facts a digest reports.

Every fact query is windowed on ``created_at`` (or the event time), so the indexes carry it
even with a million ideas; nothing scans the whole table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, distinct, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.digest import TREND_DAYS, DigestFacts, DigestIdea
from bot.model import idea_key
from bot.schedule import Schedule, days_from_text, describe_days
from storage.models import (
    DigestRunRow,
    DigestSubscriptionRow,
    IdeaEventRow,
    IdeaReactionRow,
    IdeaRow,
    PersonRow,
    ProcessRow,
    StandardVersionRow,
)
from storage.repositories import _insert_ignoring_conflicts

WAITING_SHOWN = 10
LEADERS = 3
SILENT_LOOKBACK = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    platform: str
    workspace: str
    channel_id: str
    reference: dict[str, Any] | None
    schedule: Schedule
    areas: tuple[str, ...]
    last_local_date: date | None
    last_result: str | None
    failing: bool
    since: datetime | None = None  # created or last changed: runs due before are not missed

    def describe(self) -> str:
        areas = f", areas {', '.join('#' + a for a in self.areas)}" if self.areas else ""
        return f"{self.schedule.describe()}{areas}"


@dataclass(frozen=True, slots=True)
class DigestRun:
    local_date: date
    status: str
    period_start: datetime
    period_end: datetime


def _subscription(row: DigestSubscriptionRow) -> Subscription:
    hours, minutes = (int(p) for p in row.time_of_day.split(":"))
    return Subscription(
        id=row.id, platform=row.platform, workspace=row.workspace, channel_id=row.channel_id,
        reference=dict(row.reference) if row.reference else None,
        schedule=Schedule(time(hours, minutes), row.timezone, days_from_text(row.days)),
        areas=tuple(row.areas or ()), last_local_date=row.last_local_date,
        last_result=row.last_result, failing=row.failing, since=row.updated_at,
    )


class SqlDigests:
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
        return bool(result.rowcount)

    async def get(self, platform: str, workspace: str, channel_id: str) -> Subscription | None:
        row = await self._session.scalar(select(DigestSubscriptionRow).where(
            DigestSubscriptionRow.platform == platform,
            DigestSubscriptionRow.workspace == workspace,
            DigestSubscriptionRow.channel_id == channel_id))
        return _subscription(row) if row else None

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

    async def claim(self, subscription_id: int, local_date: date, scheduled_for: datetime,
                    period_start: datetime, status: str, now: datetime) -> int | None:
        """Insert the run for this local date; None if another worker already has it."""
        result = await self._session.execute(_insert_ignoring_conflicts(
            self._session, DigestRunRow.__table__,
            {"subscription_id": subscription_id, "local_date": local_date,
             "scheduled_for": scheduled_for, "period_start": period_start,
             "period_end": scheduled_for, "status": status, "created_at": now},
        ))
        if not result.rowcount:
            return None
        return await self._session.scalar(select(DigestRunRow.id).where(
            DigestRunRow.subscription_id == subscription_id,
            DigestRunRow.local_date == local_date))

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

    # --- facts ----------------------------------------------------------------------------------

    async def facts(self, platform: str, workspace: str, areas: tuple[str, ...],
                    start: datetime, end: datetime, zone: str) -> DigestFacts:
        in_scope = [IdeaRow.platform == platform, IdeaRow.workspace == workspace]
        if areas:
            in_scope.append(IdeaRow.area.in_(areas))
        author = aliased(PersonRow)

        def idea(row: IdeaRow, person: PersonRow, **extra: Any) -> DigestIdea:
            return DigestIdea(key=idea_key(row.id), author=person.display_name or person.user_id,
                              area=row.area, proposal=row.proposal,
                              created_at=row.created_at, **extra)

        captured_rows = (await self._session.execute(
            select(IdeaRow, author).join(author, author.id == IdeaRow.author_id)
            .where(*in_scope, IdeaRow.created_at >= start, IdeaRow.created_at < end)
            .order_by(IdeaRow.created_at, IdeaRow.id))).all()
        captured = [idea(row, person) for row, person in captured_rows]

        decided_rows = (await self._session.execute(
            select(IdeaEventRow.to_status, IdeaEventRow.reason, IdeaRow, author)
            .join(IdeaRow, IdeaRow.id == IdeaEventRow.idea_id)
            .join(author, author.id == IdeaRow.author_id)
            .where(*in_scope, IdeaEventRow.result == "applied",
                   IdeaEventRow.to_status.in_(("approved", "implemented", "rejected")),
                   IdeaEventRow.created_at >= start, IdeaEventRow.created_at < end)
            .order_by(IdeaEventRow.id))).all()
        version_rows = await self._session.execute(
            select(StandardVersionRow.idea_id, ProcessRow.name, StandardVersionRow.version)
            .join(ProcessRow, ProcessRow.id == StandardVersionRow.process_id)
            .where(ProcessRow.workspace == workspace, StandardVersionRow.version > 1,
                   StandardVersionRow.created_at >= start, StandardVersionRow.created_at < end))
        versions = {idea_id: (name, version) for idea_id, name, version in version_rows}
        approved, implemented, rejected = [], [], []
        for status, reason, row, person in decided_rows:
            if status == "approved":
                approved.append(idea(row, person))
            elif status == "implemented":
                process, version = versions.get(row.id, (None, None))
                implemented.append(idea(row, person, process=process, version=version))
            else:
                rejected.append(idea(row, person, reason=reason))

        waiting_filter = [*in_scope, IdeaRow.status == "submitted"]
        waiting_total = int(await self._session.scalar(
            select(func.count()).select_from(IdeaRow).where(*waiting_filter)) or 0)
        waiting = [idea(row, person) for row, person in (await self._session.execute(
            select(IdeaRow, author).join(author, author.id == IdeaRow.author_id)
            .where(*waiting_filter).order_by(IdeaRow.created_at, IdeaRow.id)
            .limit(WAITING_SHOWN))).all()]

        support = func.count(distinct(IdeaReactionRow.person_id)).label("support")
        leaders = [idea(row, person, support=count) for row, person, count in (
            await self._session.execute(
                select(IdeaRow, author, support)
                .join(IdeaReactionRow, and_(IdeaReactionRow.idea_id == IdeaRow.id,
                                            IdeaReactionRow.kind == "support"))
                .join(author, author.id == IdeaRow.author_id)
                .where(*in_scope, IdeaRow.status.in_(("submitted", "approved", "in_progress")),
                       IdeaReactionRow.created_at >= end - timedelta(days=30))
                .group_by(IdeaRow.id, author.id)
                .order_by(support.desc(), IdeaRow.id).limit(LEADERS))).all()]

        tz = ZoneInfo(zone)
        end_local = end.astimezone(tz)
        first_day = end_local.date() - timedelta(days=TREND_DAYS - 1)
        trend_start = datetime.combine(first_day, time(0), tz)
        recent = (await self._session.execute(
            select(IdeaRow.created_at, IdeaRow.area)
            .where(*in_scope, IdeaRow.created_at >= min(trend_start, end - timedelta(days=7)),
                   IdeaRow.created_at < end))).all()
        per_day = Counter(created.astimezone(tz).date() for created, _ in recent
                          if created >= trend_start)
        trend = [per_day.get(first_day + timedelta(days=i), 0) for i in range(TREND_DAYS)]
        active_areas = {area for created, area in recent
                        if area and created >= end - timedelta(days=7)}
        if areas:
            known = set(areas)
        else:
            known = set(await self._session.scalars(
                select(IdeaRow.area).distinct().where(
                    *in_scope, IdeaRow.area.is_not(None),
                    IdeaRow.created_at >= end - SILENT_LOOKBACK, IdeaRow.created_at < end)))
        year_start = datetime.combine(date(end_local.year, 1, 1), time(0), tz)
        implemented_this_year = int(await self._session.scalar(
            select(func.count()).select_from(IdeaRow).where(
                *in_scope, IdeaRow.status == "implemented",
                IdeaRow.decided_at >= year_start, IdeaRow.decided_at < end)) or 0)
        return DigestFacts(
            period_start=start, period_end=end, zone=zone, captured=captured,
            approved=approved, implemented=implemented, rejected=rejected, waiting=waiting,
            waiting_total=waiting_total, support_leaders=leaders,
            contributors=len({row.author_id for row, _ in captured_rows}),
            by_area=dict(Counter(row.area or "no area" for row, _ in captured_rows)),
            silent_areas=sorted(known - active_areas), trend=trend,
            implemented_this_year=implemented_this_year,
        )
