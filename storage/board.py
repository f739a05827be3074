"""Queries behind the board pages: columns, filters, standards, insights, export.

Everything is scoped to one workspace (platform + workspace id) and windowed or limited, so
pages stay fast with a large history.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, cast, func, literal, or_, select

from bot.model import Idea
from storage.ideas import idea_from_row, idea_query
from storage.models import IdeaRow, ProcessRow

BOARD_COLUMNS = ("submitted", "approved", "in_progress", "implemented")
FOLDED = ("rejected", "duplicate", "withdrawn")
PER_COLUMN = 50


@dataclass(frozen=True, slots=True)
class Filters:
    area: str | None = None
    process: str | None = None
    status: str | None = None
    q: str | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.area:
            query = query.where(IdeaRow.area == self.area)
        if self.process:
            query = query.where(func.lower(ProcessRow.name) == self.process.lower())
        if self.status:
            query = query.where(IdeaRow.status == self.status)
        if self.q:
            # autoescape: % and _ (and the escape character) in the search are literal.
            words = self.q.lower()
            query = query.where(or_(
                *(func.lower(column).contains(words, autoescape=True)
                  for column in (IdeaRow.proposal, IdeaRow.problem, IdeaRow.standard))))
        return query


@dataclass
class Board:
    columns: dict[str, list[Idea]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    waiting: list[Idea] = field(default_factory=list)
    waiting_total: int = 0
    areas: list[str] = field(default_factory=list)
    processes: list[str] = field(default_factory=list)


@dataclass
class Insights:
    weeks: list[str] = field(default_factory=list)
    per_week_by_area: dict[str, list[int]] = field(default_factory=dict)
    lead_time_days: list[float | None] = field(default_factory=list)
    implemented_cumulative: list[int] = field(default_factory=list)
    contributors_per_week: list[int] = field(default_factory=list)
    contributors_by_area: dict[str, int] = field(default_factory=dict)
    silent_areas: list[str] = field(default_factory=list)


class SqlBoard:
    def __init__(self, session: Any, platform: str, workspace: str) -> None:
        self._session = session
        self._platform = platform
        self._workspace = workspace
        self._scope = (IdeaRow.platform == platform, IdeaRow.workspace == workspace)
        self._dialect = session.get_bind().dialect.name

    async def board(self, filters: Filters) -> Board:
        board = Board()
        counted = filters.apply(_count_base(filters, IdeaRow.status, func.count())
                                .where(*self._scope).group_by(IdeaRow.status))
        board.counts = {status: count for status, count in
                        (await self._session.execute(counted)).all()}
        for status in (*BOARD_COLUMNS, *FOLDED):
            if filters.status and filters.status != status:
                board.columns[status] = []
                continue
            rows = await self._session.execute(filters.apply(
                idea_query().where(*self._scope, IdeaRow.status == status)
                .order_by(IdeaRow.created_at.desc(), IdeaRow.id.desc()).limit(PER_COLUMN)))
            board.columns[status] = [idea_from_row(*row) for row in rows]
        waiting = filters.apply(idea_query().where(*self._scope,
                                                   IdeaRow.status == "submitted"))
        board.waiting = [idea_from_row(*row) for row in await self._session.execute(
            waiting.order_by(IdeaRow.created_at, IdeaRow.id).limit(5))]
        board.waiting_total = board.counts.get("submitted", 0)
        board.areas = sorted(a for a in await self._session.scalars(
            select(IdeaRow.area).distinct().where(*self._scope, IdeaRow.area.is_not(None))))
        board.processes = sorted(await self._session.scalars(
            select(ProcessRow.name).where(
                ProcessRow.platform == self._platform,
                ProcessRow.workspace == self._workspace)))
        return board

    async def page(self, filters: Filters, offset: int, limit: int) -> tuple[list[Idea], int]:
        """Ideas newest first for the API and export, with the total count."""
        base = filters.apply(idea_query().where(*self._scope))
        total = int(await self._session.scalar(
            filters.apply(_count_base(filters, func.count()).where(*self._scope))) or 0)
        rows = await self._session.execute(
            base.order_by(IdeaRow.created_at.desc(), IdeaRow.id.desc())
            .offset(offset).limit(limit))
        return [idea_from_row(*row) for row in rows], total

    async def insights(self, now: datetime, weeks: int = 12) -> Insights:
        """Aggregated in the database by week (nothing per idea crosses into Python but the
        decision lead times, as plain numbers, for the medians)."""
        start = _week_start(now) - timedelta(weeks=weeks - 1)
        insights = Insights(weeks=[(start + timedelta(weeks=i)).strftime("%d %b")
                                   for i in range(weeks)])
        created_week = self._week(IdeaRow.created_at, start)
        in_window = (*self._scope, IdeaRow.created_at >= start)

        def clamp(week: Any) -> int:
            return min(max(int(week), 0), weeks - 1)

        per_area: dict[str, list[int]] = defaultdict(lambda: [0] * weeks)
        for area, week, count in (await self._session.execute(
                select(IdeaRow.area, created_week, func.count()).where(*in_window)
                .group_by(IdeaRow.area, created_week))).all():
            per_area[area or "no area"][clamp(week)] += count
        insights.per_week_by_area = dict(sorted(per_area.items()))
        people = [0] * weeks
        for week, count in (await self._session.execute(
                select(created_week, func.count(IdeaRow.author_id.distinct()))
                .where(*in_window).group_by(created_week))).all():
            people[clamp(week)] = max(people[clamp(week)], count)
        insights.contributors_per_week = people
        insights.contributors_by_area = {
            area or "no area": count for area, count in sorted((await self._session.execute(
                select(IdeaRow.area, func.count(IdeaRow.author_id.distinct()))
                .where(*in_window).group_by(IdeaRow.area))).all(), key=lambda r: r[0] or "")}
        lead: dict[int, list[float]] = defaultdict(list)
        decided_week = self._week(IdeaRow.first_decided_at, start)
        for week, days in (await self._session.execute(
                select(decided_week, self._days(IdeaRow.first_decided_at, IdeaRow.created_at))
                .where(*self._scope, IdeaRow.first_decided_at >= start))).all():
            lead[clamp(week)].append(float(days))
        insights.lead_time_days = [round(statistics.median(lead[i]), 1) if lead[i] else None
                                   for i in range(weeks)]
        before = int(await self._session.scalar(
            select(func.count()).select_from(IdeaRow).where(
                *self._scope, IdeaRow.status == "implemented", IdeaRow.decided_at < start))
            or 0)
        done_week = self._week(IdeaRow.decided_at, start)
        done: Counter[int] = Counter()
        for week, count in (await self._session.execute(
                select(done_week, func.count()).where(
                    *self._scope, IdeaRow.status == "implemented", IdeaRow.decided_at >= start)
                .group_by(done_week))).all():
            done[clamp(week)] += count
        running, cumulative = before, []
        for i in range(weeks):
            running += done.get(i, 0)
            cumulative.append(running)
        insights.implemented_cumulative = cumulative
        recent = set(await self._session.scalars(
            select(IdeaRow.area).distinct().where(
                *self._scope, IdeaRow.created_at >= now - timedelta(days=7),
                IdeaRow.area.is_not(None))))
        insights.silent_areas = sorted({a for a in per_area if a != "no area"} - recent)
        return insights

    def _days(self, later: Any, earlier: Any) -> Any:
        """``later - earlier`` in days, as a number, in this database's dialect."""
        if self._dialect == "sqlite":
            return func.julianday(later) - func.julianday(earlier)
        return func.extract("epoch", later - earlier) / 86400.0

    def _week(self, column: Any, start: datetime) -> Any:
        """Which week since ``start`` a timestamp falls in (0, 1, …), computed by the database."""
        if self._dialect == "sqlite":
            origin = literal(start.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" "))
            return cast((func.julianday(column) - func.julianday(origin)) / 7, Integer)
        return func.floor(func.extract("epoch", column - literal(start)) / 604800)


def _count_base(filters: Filters, *columns: Any) -> Select[Any]:
    """A count over ideas, joining processes only when filtering by one (so the count can be
    answered from the covering index)."""
    query = select(*columns).select_from(IdeaRow)
    if filters.process:
        query = query.outerjoin(ProcessRow, ProcessRow.id == IdeaRow.process_id)
    return query


def _week_start(moment: datetime) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())
