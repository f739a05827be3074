"""Queries behind the board pages: columns, filters, standards, insights, export.

Everything is scoped to one workspace (platform + workspace id) and windowed or limited, so
pages stay fast with a large history.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select

from bot.model import Idea
from storage.models import IdeaEventRow, IdeaRow
from storage.repositories import _idea, _idea_query

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
            query = query.where(func.lower(_process_name()) == self.process.lower())
        if self.status:
            query = query.where(IdeaRow.status == self.status)
        if self.q:
            like = f"%{self.q.lower()}%"
            query = query.where(or_(func.lower(IdeaRow.proposal).like(like),
                                    func.lower(IdeaRow.problem).like(like),
                                    func.lower(IdeaRow.standard).like(like)))
        return query


def _process_name() -> Any:
    from storage.models import ProcessRow

    return ProcessRow.name


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
        self._scope = (IdeaRow.platform == platform, IdeaRow.workspace == workspace)

    async def board(self, filters: Filters) -> Board:
        board = Board()
        counted = filters.apply(
            select(IdeaRow.status, func.count()).select_from(IdeaRow)
            .outerjoin(_process_table(), _process_table().c.id == IdeaRow.process_id)
            .where(*self._scope).group_by(IdeaRow.status))
        board.counts = {status: count for status, count in
                        (await self._session.execute(counted)).all()}
        for status in (*BOARD_COLUMNS, *FOLDED):
            if filters.status and filters.status != status:
                board.columns[status] = []
                continue
            rows = await self._session.execute(filters.apply(
                _idea_query().where(*self._scope, IdeaRow.status == status)
                .order_by(IdeaRow.created_at.desc(), IdeaRow.id.desc()).limit(PER_COLUMN)))
            board.columns[status] = [_idea(*row) for row in rows]
        waiting = filters.apply(_idea_query().where(*self._scope,
                                                    IdeaRow.status == "submitted"))
        board.waiting = [_idea(*row) for row in await self._session.execute(
            waiting.order_by(IdeaRow.created_at, IdeaRow.id).limit(5))]
        board.waiting_total = board.counts.get("submitted", 0)
        board.areas = sorted(a for a in await self._session.scalars(
            select(IdeaRow.area).distinct().where(*self._scope, IdeaRow.area.is_not(None))))
        board.processes = sorted(p for p in await self._session.scalars(
            select(_process_table().c.name).distinct()
            .join(IdeaRow, IdeaRow.process_id == _process_table().c.id).where(*self._scope)))
        return board

    async def page(self, filters: Filters, offset: int, limit: int) -> tuple[list[Idea], int]:
        """Ideas newest first for the API and export, with the total count."""
        base = filters.apply(_idea_query().where(*self._scope))
        total = int(await self._session.scalar(
            filters.apply(select(func.count()).select_from(IdeaRow)
                          .outerjoin(_process_table(),
                                     _process_table().c.id == IdeaRow.process_id)
                          .where(*self._scope))) or 0)
        rows = await self._session.execute(
            base.order_by(IdeaRow.created_at.desc(), IdeaRow.id.desc())
            .offset(offset).limit(limit))
        return [_idea(*row) for row in rows], total

    async def insights(self, now: datetime, weeks: int = 12) -> Insights:
        start = _week_start(now) - timedelta(weeks=weeks - 1)
        insights = Insights(weeks=[(start + timedelta(weeks=i)).strftime("%d %b")
                                   for i in range(weeks)])
        ideas = (await self._session.execute(
            select(IdeaRow.id, IdeaRow.created_at, IdeaRow.area, IdeaRow.author_id)
            .where(*self._scope, IdeaRow.created_at >= start))).all()
        per_area: dict[str, list[int]] = defaultdict(lambda: [0] * weeks)
        contributors: dict[int, set[int]] = defaultdict(set)
        area_people: dict[str, set[int]] = defaultdict(set)
        for _, created, area, author in ideas:
            week = min((created - start).days // 7, weeks - 1)
            per_area[area or "no area"][week] += 1
            contributors[week].add(author)
            area_people[area or "no area"].add(author)
        insights.per_week_by_area = dict(sorted(per_area.items()))
        insights.contributors_per_week = [len(contributors[i]) for i in range(weeks)]
        insights.contributors_by_area = {a: len(p) for a, p in sorted(area_people.items())}
        decided = (await self._session.execute(
            select(IdeaEventRow.created_at, IdeaRow.created_at)
            .join(IdeaRow, IdeaRow.id == IdeaEventRow.idea_id)
            .where(*self._scope, IdeaEventRow.created_at >= start,
                   IdeaEventRow.result == "applied",
                   IdeaEventRow.action.in_(("approve", "reject", "duplicate"))))).all()
        lead: dict[int, list[float]] = defaultdict(list)
        for decided_at, created in decided:
            week = min((decided_at - start).days // 7, weeks - 1)
            lead[week].append((decided_at - created).total_seconds() / 86400)
        insights.lead_time_days = [round(statistics.median(lead[i]), 1) if lead[i] else None
                                   for i in range(weeks)]
        before = int(await self._session.scalar(
            select(func.count()).select_from(IdeaRow).where(
                *self._scope, IdeaRow.status == "implemented", IdeaRow.decided_at < start))
            or 0)
        done = Counter(min((d - start).days // 7, weeks - 1) for d in await self._session.scalars(
            select(IdeaRow.decided_at).where(*self._scope, IdeaRow.status == "implemented",
                                             IdeaRow.decided_at >= start)))
        running, cumulative = before, []
        for i in range(weeks):
            running += done.get(i, 0)
            cumulative.append(running)
        insights.implemented_cumulative = cumulative
        recent = {area for _, created, area, _ in ideas
                  if area and created >= now - timedelta(days=7)}
        insights.silent_areas = sorted({a for a in area_people if a != "no area"} - recent)
        return insights


def _process_table() -> Any:
    from storage.models import ProcessRow

    return ProcessRow.__table__


def _week_start(moment: datetime) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())
