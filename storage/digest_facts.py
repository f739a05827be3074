"""The facts one digest reports: a read model over ideas, their events and the tallies.

Every fact query is windowed on ``created_at`` (or the event time), so the indexes carry it
even with a million ideas; nothing scans the whole table.
"""

from __future__ import annotations

import bisect
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal, literal_column, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.digest import SHOWN, TREND_DAYS, DigestFacts, DigestIdea
from bot.model import idea_key
from storage.dialect import utc_hour
from storage.models import (
    ALL_AREAS,
    OPEN_SUPPORTED,
    IdeaEventRow,
    IdeaHourRow,
    IdeaRow,
    ImplementedDayRow,
    PersonRow,
    ProcessRow,
    StandardVersionRow,
)
from storage.people import shown_name

WAITING_SHOWN = 10
"""Waiting (still submitted) ideas listed, oldest first; the rest are only counted."""
LEADERS = 3
"""Open ideas listed as the most supported."""
SILENT_LOOKBACK = timedelta(days=90)
"""An area counts as silent when it had ideas within this long but none in the last week."""
ID_CHUNK = 5000
"""Ids per ``IN (…)`` list: well inside SQLite's 32,766 bound parameters."""
_OTHER_IDEA = aliased(IdeaRow)
"""Made once: a new alias per digest is a new statement to compile (4 ms of every digest)."""


class SqlDigestFacts:
    """Reads, never writes: everything a digest says about one workspace and period."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def facts(self, platform: str, workspace: str, areas: tuple[str, ...],
                    start: datetime, end: datetime, zone: str) -> DigestFacts:
        """Everything one digest says, with a bounded cost however busy the workspace: totals
        are counted inside the indexes or read from tallies, and the ideas shown are found by
        id first and loaded together in one query at the end (measured over a million ideas
        in bench/bench_digest.py)."""
        in_scope = [IdeaRow.platform == platform, IdeaRow.workspace == workspace]
        if areas:
            in_scope.append(IdeaRow.area.in_(areas))

        async def first_ids(*where: Any, limit: int = SHOWN) -> list[int]:
            """The first ideas' ids (oldest first), found inside an index."""
            return list(await self._session.scalars(select(IdeaRow.id).where(*where).order_by(
                IdeaRow.created_at, IdeaRow.id).limit(limit)))

        # The period's (area, author) pairs, counted here: a GROUP BY tempts SQLite's planner
        # into walking the area index over the whole workspace instead of the period's range.
        # An idea shared and withdrawn again is no new idea (nor a contributor's).
        period = [*in_scope, IdeaRow.created_at >= start, IdeaRow.created_at < end,
                  IdeaRow.status != "withdrawn"]
        # Through the connection: plain rows, not the ORM's per-row loading (4 ms at 2,700).
        connection = await self._session.connection()
        pairs = (await connection.execute(
            select(IdeaRow.area, IdeaRow.author_id).where(*period))).all()
        by_area = dict(Counter(area or "no area" for area, _ in pairs))
        captured_ids = await first_ids(*period)
        decided = await self._decisions(platform, workspace, areas, start, end)
        version_rows = await self._session.execute(
            select(StandardVersionRow.idea_id, ProcessRow.name, StandardVersionRow.version)
            .join(ProcessRow, ProcessRow.id == StandardVersionRow.process_id)
            .where(ProcessRow.platform == platform, ProcessRow.workspace == workspace,
                   StandardVersionRow.version > 1,
                   StandardVersionRow.created_at >= start, StandardVersionRow.created_at < end))
        versions = {idea_id: (name, version) for idea_id, name, version in version_rows}
        waiting_filter = [*in_scope, IdeaRow.status == "submitted"]
        waiting_total = int(await self._session.scalar(
            select(func.count()).select_from(IdeaRow).where(*waiting_filter)) or 0)
        waiting_ids = await first_ids(*waiting_filter, limit=WAITING_SHOWN)
        leaders = await self._support_leaders(platform, workspace, areas)
        loaded = await self._with_authors({
            *captured_ids, *waiting_ids, *(idea_id for idea_id, _ in leaders),
            *(idea_id for events in decided.values() for idea_id, _ in events[:SHOWN])})

        def idea(idea_id: int, **extra: Any) -> DigestIdea:
            row, person = loaded[idea_id]
            return DigestIdea(key=idea_key(row.id), author=shown_name(person) or "?",
                              area=row.area, proposal=row.proposal,
                              created_at=row.created_at, **extra)

        def shown(status: str) -> list[DigestIdea]:
            out = []
            for idea_id, reason in decided[status][:SHOWN]:
                extra: dict[str, Any] = {}
                if status == "implemented":
                    extra["process"], extra["version"] = versions.get(idea_id, (None, None))
                elif status == "rejected":
                    extra["reason"] = reason
                out.append(idea(idea_id, **extra))
            return out

        trend, active_areas = await self._trend(platform, workspace, areas, in_scope, end,
                                                 zone)
        known = set(areas) if areas else await self._areas_heard_from(
            platform, workspace, in_scope, active_areas, end)
        end_local = end.astimezone(ZoneInfo(zone))
        year_start = datetime.combine(date(end_local.year, 1, 1), time(0), end_local.tzinfo)
        implemented_this_year = await self._implemented(platform, workspace, areas, in_scope,
                                                        year_start, end)
        return DigestFacts(
            period_start=start, period_end=end, zone=zone,
            captured=[idea(idea_id) for idea_id in captured_ids],
            approved=shown("approved"), implemented=shown("implemented"),
            rejected=shown("rejected"),
            totals={"captured": sum(by_area.values()),
                    **{status: len(events) for status, events in decided.items()}},
            waiting=[idea(idea_id) for idea_id in waiting_ids], waiting_total=waiting_total,
            support_leaders=[idea(idea_id, support=count) for idea_id, count in leaders],
            contributors=len({author_id for _, author_id in pairs}), by_area=by_area,
            silent_areas=sorted(known - active_areas), trend=trend,
            implemented_this_year=implemented_this_year,
        )

    async def _implemented(self, platform: str, workspace: str, areas: tuple[str, ...],
                           in_scope: list[Any], start: datetime, end: datetime) -> int:
        """Ideas implemented in [start, end): whole UTC days from the tally the implement
        transition keeps, the partial days at both ends counted from the ideas (one statement,
        a few hundred rows read instead of every implemented idea of the year)."""
        def counted(since: datetime, until: datetime) -> Any:
            return select(func.count()).select_from(IdeaRow).where(
                *in_scope, IdeaRow.status == "implemented",
                IdeaRow.decided_at >= since, IdeaRow.decided_at < until).scalar_subquery()

        first_day = _utc_midnight(start, up=True)
        last_day = _utc_midnight(end, up=False)
        if first_day >= last_day:
            return int(await self._session.scalar(select(counted(start, end))) or 0)
        tally = [ImplementedDayRow.platform == platform, ImplementedDayRow.workspace == workspace,
                 ImplementedDayRow.day >= first_day.date(), ImplementedDayRow.day < last_day.date(),
                 ImplementedDayRow.area.in_(areas or (ALL_AREAS,))]
        whole_days = select(func.coalesce(func.sum(ImplementedDayRow.count), 0)).where(
            *tally).scalar_subquery()
        total = await self._session.scalar(select(
            whole_days + counted(start, first_day) + counted(last_day, end)))
        return int(total or 0)

    async def _with_authors(self, ids: Any) -> dict[int, tuple[IdeaRow, PersonRow]]:
        """These ideas with their authors, by primary key, in one query (none for no ids)."""
        if not ids:
            return {}
        return {row.id: (row, person) for row, person in await self._session.execute(
            select(IdeaRow, PersonRow).join(PersonRow, PersonRow.id == IdeaRow.author_id)
            .where(IdeaRow.id.in_(list(ids))))}

    async def _in_scope(self, ids: list[int], platform: str, workspace: str,
                        areas: tuple[str, ...]) -> set[int]:
        """Which of these ideas are in the digest's scope, looked up by primary key (the scope
        is checked here: in SQL, SQLite's planner may prefer a scope index over the ids)."""
        kept: set[int] = set()
        for first in range(0, len(ids), ID_CHUNK):
            rows = await self._session.execute(
                select(IdeaRow.id, IdeaRow.platform, IdeaRow.workspace, IdeaRow.area)
                .where(IdeaRow.id.in_(ids[first:first + ID_CHUNK])))
            kept.update(idea_id for idea_id, row_platform, row_workspace, area in rows
                        if row_platform == platform and row_workspace == workspace
                        and (not areas or area in areas))
        return kept

    async def _decisions(self, platform: str, workspace: str, areas: tuple[str, ...],
                         start: datetime,
                         end: datetime) -> dict[str, list[tuple[int, str | None]]]:
        """The period's decisions by status, in order: ``[(idea id, reason)]``, each idea once,
        by where it stands at the end of the period (approved then un-approved is no
        approval; approved twice is one).

        Starts from the period's events (their own time index), then keeps the ideas in scope
        by id: a join lets the planner start from a million ideas instead (4 s on SQLite)."""
        changes = (await self._session.execute(
            select(IdeaEventRow.idea_id, IdeaEventRow.to_status, IdeaEventRow.reason)
            .where(IdeaEventRow.result == "applied", IdeaEventRow.to_status.is_not(None),
                   IdeaEventRow.created_at >= start, IdeaEventRow.created_at < end)
            .order_by(IdeaEventRow.id))).all()
        last: dict[int, tuple[str, str | None]] = {}
        for idea_id, status, reason in changes:
            if idea_id is not None and status is not None:
                last.pop(idea_id, None)  # re-inserted: ordered by each idea's last change
                last[idea_id] = (status, reason)
        events = [(idea_id, status, reason) for idea_id, (status, reason) in last.items()]
        kept = await self._in_scope(
            sorted({idea_id for idea_id, _, _ in events if idea_id is not None}),
            platform, workspace, areas)
        decided: dict[str, list[tuple[int, str | None]]] = {
            "approved": [], "implemented": [], "rejected": []}
        for idea_id, status, reason in events:
            if idea_id in kept and status in decided:
                decided[status].append((idea_id, reason))
        return decided

    async def _support_leaders(self, platform: str, workspace: str,
                               areas: tuple[str, ...]) -> list[tuple[int, int]]:
        """The open ideas with the most supporters (the newest first among equals) as
        ``(id, supporters)``: the top of the partial index over open, supported ideas, which
        carries the count and the area."""
        # The index's own condition, as literal SQL: a planner can only use a partial index
        # when it can prove the query implies it, which bound parameters would hide.
        where: list[Any] = [IdeaRow.platform == platform, IdeaRow.workspace == workspace,
                            text(OPEN_SUPPORTED)]
        if areas:
            where.append(IdeaRow.area.in_(areas))
        rows = await self._session.execute(
            select(IdeaRow.id, IdeaRow.supporters).where(*where)
            .order_by(IdeaRow.supporters.desc(), IdeaRow.id.desc()).limit(LEADERS))
        return [(idea_id, int(count)) for idea_id, count in rows]

    async def _trend(self, platform: str, workspace: str, areas: tuple[str, ...],
                     in_scope: list[Any], end: datetime, zone: str) -> tuple[list[int], set[str]]:
        """Ideas per local day for the 14-day trend, and the areas heard from in the last 7
        local days, from the hourly capture tally (at most 336 rows for all areas) plus the
        ideas of the current, unfinished hour. In a zone whose midnight is not on a UTC hour
        (India, Nepal, …) the days are counted in the ideas' index instead."""
        tz = ZoneInfo(zone)
        first_day = end.astimezone(tz).date() - timedelta(days=TREND_DAYS - 1)
        bounds = [datetime.combine(first_day + timedelta(days=i), time(0), tz).astimezone(UTC)
                  for i in range(TREND_DAYS)]
        if any(bound.minute or bound.second for bound in bounds):
            return await self._trend_counted(in_scope, bounds, end)
        this_hour = utc_hour(end)
        tallied = [IdeaHourRow.platform == platform, IdeaHourRow.workspace == workspace,
                   IdeaHourRow.hour < this_hour]
        hours = await self._session.execute(
            select(IdeaHourRow.hour, func.sum(IdeaHourRow.count)).where(
                *tallied, IdeaHourRow.hour >= bounds[0],
                IdeaHourRow.area.in_(areas or (ALL_AREAS,)))
            .group_by(IdeaHourRow.hour))
        trend = [0] * TREND_DAYS
        for hour, count in hours:
            trend[bisect.bisect_right(bounds, hour) - 1] += int(count)
        week = [*tallied, IdeaHourRow.hour >= bounds[TREND_DAYS - 7],
                IdeaHourRow.area.in_(areas) if areas else IdeaHourRow.area != ALL_AREAS]
        active = set(await self._session.scalars(
            select(IdeaHourRow.area).distinct().where(*week)))
        # The unfinished hour's ideas, one row each (a GROUP BY area tempts SQLite's planner
        # into walking the area index over the whole workspace: 130 ms).
        unfinished_hour = list(await self._session.scalars(
            select(IdeaRow.area).where(
                *in_scope, IdeaRow.created_at >= this_hour, IdeaRow.created_at < end)))
        trend[-1] += len(unfinished_hour)  # inside the last day: it has begun by now
        active.update(area or "" for area in unfinished_hour)
        return trend, active - {""}

    async def _trend_counted(self, in_scope: list[Any], bounds: list[datetime],
                             end: datetime) -> tuple[list[int], set[str]]:
        """The trend and the week's areas counted in the ideas' index: one count per day
        between the zone's midnights, each a range of the (scope, created_at) index, in one
        round trip, then the week's distinct areas."""
        edges = [*bounds, end]
        per_day = union_all(*[
            select(literal(i).label("day"), func.count().label("ideas")).where(
                *in_scope, IdeaRow.created_at >= edges[i], IdeaRow.created_at < edges[i + 1])
            for i in range(TREND_DAYS)])
        trend = [0] * TREND_DAYS
        for index, count in await self._session.execute(select(per_day.subquery())):
            trend[int(index)] = int(count)
        # coalesce(): a plain DISTINCT area lets SQLite walk the area index over everything.
        area = func.coalesce(IdeaRow.area, literal_column("''"))
        active = set(await self._session.scalars(select(area).distinct().where(
            *in_scope, IdeaRow.created_at >= edges[TREND_DAYS - 7],
            IdeaRow.created_at < end))) - {""}
        return trend, active

    async def _areas_heard_from(self, platform: str, workspace: str, in_scope: list[Any],
                                active: set[str], end: datetime) -> set[str]:
        """Areas with ideas in the last 90 days: the ones active this week, plus any other
        area (listed by a skip scan of the area index, 50 areas = 50 index seeks) that has an
        idea in the 90 days."""
        other = _OTHER_IDEA
        listed = select(func.min(IdeaRow.area).label("area")).where(
            *in_scope, IdeaRow.area.is_not(None)).cte("listed", recursive=True)
        listed = listed.union_all(select(
            select(func.min(other.area)).where(
                other.platform == platform, other.workspace == workspace,
                other.area > listed.c.area).scalar_subquery()
        ).where(listed.c.area.is_not(None)))
        every = set(await self._session.scalars(
            select(listed.c.area).where(listed.c.area.is_not(None))))
        heard = set(active)
        for area in sorted(every - active):
            if await self._session.scalar(select(IdeaRow.id).where(
                    *in_scope, IdeaRow.area == area, IdeaRow.created_at >= end - SILENT_LOOKBACK,
                    IdeaRow.created_at < end).limit(1)) is not None:
                heard.add(area)
        return heard

def _utc_midnight(moment: datetime, *, up: bool) -> datetime:
    """The UTC midnight at or after (``up``) or at or before ``moment``."""
    midnight = datetime.combine(moment.astimezone(UTC).date(), time(0), UTC)
    return midnight + timedelta(days=1) if up and midnight < moment else midnight
