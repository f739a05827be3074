"""Ideas with their audit trail and reactions: one aggregate, since events and reactions exist
only for an idea and change its status or support count in the same transaction.

:func:`idea_query` and :func:`idea_from_row` are public so the board's read model loads ideas
exactly as the core sees them."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.lifecycle import OPEN_STATUSES
from bot.model import Idea, IdeaEvent, NewIdea
from storage.dialect import affected, dialect_insert, insert_ignoring_conflicts, utc_hour
from storage.models import (
    ALL_AREAS,
    IdeaEventRow,
    IdeaHourRow,
    IdeaPostRow,
    IdeaReactionRow,
    IdeaRow,
    ImplementedDayRow,
    PersonRow,
    ProcessRow,
)
from storage.people import shown_name

_Author = aliased(PersonRow, name="author")
_Decider = aliased(PersonRow, name="decider")


def idea_query() -> Select[*tuple[Any, ...]]:
    """Ideas with their author, decider, process name and support count, in one query (what
    :func:`idea_from_row` maps; the board filters and pages it)."""
    return (
        select(IdeaRow, _Author, _Decider, ProcessRow.name, IdeaRow.supporters)
        .join(_Author, _Author.id == IdeaRow.author_id)
        .outerjoin(_Decider, _Decider.id == IdeaRow.decided_by_id)
        .outerjoin(ProcessRow, ProcessRow.id == IdeaRow.process_id)
    )


def idea_from_row(row: IdeaRow, author: PersonRow, decider: PersonRow | None = None,
                  process: str | None = None, support: int = 0) -> Idea:
    """The core's :class:`Idea` from a row of :func:`idea_query` (the board pages map their
    rows with it too, so an idea reads the same everywhere)."""
    return Idea(
        id=row.id,
        workspace=row.workspace,
        platform=row.platform,
        author_id=row.author_id,
        author_name=shown_name(author) or "?",
        author_user_id=author.user_id,
        area=row.area,
        standard=row.standard,
        problem=row.problem,
        proposal=row.proposal,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        process_id=row.process_id,
        process=process,
        support=support or 0,
        decided_by=shown_name(decider),
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
    )


DECISIONS = frozenset({"approved", "rejected", "duplicate"})


def _decision_values(to_status: str, decider_id: int | None, reason: str | None,
                     now: datetime) -> dict[str, Any]:
    """Back to submitted means undecided again: the decision fields are cleared (the audit
    trail keeps who took it back and why). The first decision's time is kept for good."""
    if to_status == "submitted":
        return {"decided_by_id": None, "decided_at": None, "decision_reason": None}
    values: dict[str, Any] = {"decided_by_id": decider_id, "decided_at": now,
                              "decision_reason": reason}
    if to_status in DECISIONS:
        values["first_decided_at"] = func.coalesce(IdeaRow.first_decided_at, now)
    return values


async def _add_to_tally(session: AsyncSession, model: Any, area: str | None,
                        **key: Any) -> None:
    """One more for ``area`` ("" for none) and for all areas (``ALL_AREAS``) at ``key`` in a
    tally table (ImplementedDayRow, IdeaHourRow): an upsert, so concurrent turns add up."""
    statement = dialect_insert(session)(model).values(
        [{**key, "area": tally_area, "count": 1} for tally_area in (area or "", ALL_AREAS)])
    await session.execute(statement.on_conflict_do_update(
        index_elements=[*key, "area"], set_={"count": model.count + 1}))


class SqlIdeas:
    """Implements :class:`bot.ports.Ideas`; keeps the hourly and implemented tallies the
    digests read in the same transaction as the change they count."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, idea: NewIdea) -> Idea:
        row = IdeaRow(
            workspace=idea.workspace,
            platform=idea.platform,
            author_id=idea.author_id,
            area=idea.area,
            standard=idea.standard,
            problem=idea.problem,
            proposal=idea.proposal,
            status="submitted",
            source_channel=idea.source_channel,
            source_event_id=idea.source_event_id,
            created_at=idea.created_at,
            updated_at=idea.created_at,
        )
        self._session.add(row)
        await self._session.flush()
        await _add_to_tally(self._session, IdeaHourRow, idea.area, platform=idea.platform,
                            workspace=idea.workspace, hour=utc_hour(idea.created_at))
        # No re-read: a new idea has no decider, process or support yet, and its author is
        # already in this session's identity map (the turn loaded them), so no query at all.
        author = await self._session.get(PersonRow, idea.author_id)
        assert author is not None
        return idea_from_row(row, author)

    async def get(self, idea_id: int) -> Idea | None:
        # populate_existing: a compare-and-set that lost must see the winner's status.
        result = await self._session.execute(
            idea_query().where(IdeaRow.id == idea_id).execution_options(populate_existing=True)
        )
        found = result.first()
        return idea_from_row(*found) if found else None

    async def get_with_post(self, idea_id: int,
                            platform: str) -> tuple[Idea | None, tuple[str, str] | None]:
        """The idea and where it is posted on ``platform`` (if it is), in one query: what the
        deliverer needs to post or update it."""
        found = (await self._session.execute(
            idea_query()
            .add_columns(IdeaPostRow.channel, IdeaPostRow.message_id)
            .outerjoin(IdeaPostRow, and_(IdeaPostRow.idea_id == IdeaRow.id,
                                         IdeaPostRow.platform == platform))
            .where(IdeaRow.id == idea_id)
        )).first()
        if found is None:
            return None, None
        *idea, channel, message_id = found
        return idea_from_row(*idea), (channel, message_id) if message_id is not None else None

    async def open_unposted(self, platform: str, workspace: str, limit: int
                            ) -> tuple[builtins.list[int], int]:
        """Open ideas of the workspace not posted on ``platform`` yet: the newest ``limit``
        ids, oldest first, and how many there are in all."""
        unposted = (
            select(IdeaRow.id)
            .outerjoin(IdeaPostRow, and_(IdeaPostRow.idea_id == IdeaRow.id,
                                         IdeaPostRow.platform == platform))
            .where(IdeaRow.platform == platform, IdeaRow.workspace == workspace,
                   IdeaRow.status.in_([str(s) for s in OPEN_STATUSES]),
                   IdeaPostRow.id.is_(None))
        )
        total = int(await self._session.scalar(
            select(func.count()).select_from(unposted.subquery())) or 0)
        newest = (await self._session.scalars(
            unposted.order_by(IdeaRow.id.desc()).limit(limit))).all()
        return sorted(newest), total

    async def recent_by_author(self, author_id: int, limit: int) -> list[Idea]:
        rows = await self._session.execute(
            idea_query()
            .where(IdeaRow.author_id == author_id)
            .order_by(IdeaRow.created_at.desc(), IdeaRow.id.desc())
            .limit(limit)
        )
        return [idea_from_row(*row) for row in rows]

    async def list(self, status: str | None = None, limit: int | None = None) -> list[Idea]:
        """All ideas (optionally of one status), oldest first: for ``kaizen ideas``."""
        query = idea_query().order_by(IdeaRow.id)
        if status:
            query = query.where(IdeaRow.status == status)
        if limit:
            query = query.limit(limit)
        return [idea_from_row(*row) for row in await self._session.execute(query)]

    async def transition(
        self,
        idea_id: int,
        from_status: str,
        to_status: str,
        decider_id: int | None,
        reason: str | None,
        now: datetime,
    ) -> bool:
        statement = (
            update(IdeaRow)
            .where(IdeaRow.id == idea_id, IdeaRow.status == from_status)
            .values(**_decision_values(to_status, decider_id, reason, now), status=to_status,
                    updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if to_status != "implemented":
            return affected(await self._session.execute(statement)) == 1
        changed = (await self._session.execute(
            statement.returning(IdeaRow.platform, IdeaRow.workspace, IdeaRow.area))).first()
        if changed is None:
            return False
        await self._count_implemented(*changed, now)
        return True

    async def _count_implemented(self, platform: str, workspace: str, area: str | None,
                                 now: datetime) -> None:
        """Add one to the area's implemented tally for the UTC day (see ImplementedDayRow)."""
        await _add_to_tally(self._session, ImplementedDayRow, area, platform=platform,
                            workspace=workspace, day=now.astimezone(UTC).date())

    async def edit(self, idea_id: int, fields: dict[str, str], now: datetime) -> bool:
        allowed = {k: v for k, v in fields.items() if k in {"standard", "problem", "proposal"}}
        result = await self._session.execute(
            update(IdeaRow)
            .where(IdeaRow.id == idea_id, IdeaRow.status == "submitted")
            .values(updated_at=now, **allowed)
            .execution_options(synchronize_session=False)
        )
        return affected(result) == 1

    async def set_process(self, idea_id: int, process_id: int, now: datetime) -> None:
        await self._session.execute(
            update(IdeaRow)
            .where(IdeaRow.id == idea_id)
            .values(process_id=process_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def created_since(self, author_id: int, since: datetime, limit: int
                            ) -> builtins.list[datetime]:
        """Creation times of the author's ideas after ``since``, newest first, at most
        ``limit``: a range read of ``ix_ideas_author_created`` that stops after ``limit``
        entries, however many ideas the person ever shared."""
        rows = await self._session.scalars(
            select(IdeaRow.created_at)
            .where(IdeaRow.author_id == author_id, IdeaRow.created_at > since)
            .order_by(IdeaRow.created_at.desc())
            .limit(limit))
        return list(rows)


class SqlIdeaEvents:
    """Implements :class:`bot.ports.IdeaEvents`: the audit trail of what happened to ideas."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        idea_id: int | None,
        actor_id: int | None,
        action: str,
        from_status: str | None,
        to_status: str | None,
        reason: str | None,
        at: datetime,
        *,
        result: str = "applied",
        via: str | None = None,
        subject_id: int | None = None,
    ) -> None:
        self._session.add(
            IdeaEventRow(
                idea_id=idea_id,
                actor_id=actor_id,
                action=action,
                from_status=from_status,
                to_status=to_status,
                reason=reason,
                result=result,
                via=via,
                subject_id=subject_id,
                created_at=at,
            )
        )
        await self._session.flush()

    def _query(self) -> Select[*tuple[Any, ...]]:
        actor, subject = aliased(PersonRow), aliased(PersonRow)
        return (
            select(IdeaEventRow, actor, subject)
            .outerjoin(actor, actor.id == IdeaEventRow.actor_id)
            .outerjoin(subject, subject.id == IdeaEventRow.subject_id)
        )

    async def history(self, idea_id: int) -> list[IdeaEvent]:
        rows = await self._session.execute(
            self._query().where(IdeaEventRow.idea_id == idea_id).order_by(IdeaEventRow.id)
        )
        return [_event(*row) for row in rows]

    async def last_applied(self, idea_id: int) -> IdeaEvent | None:
        """The latest status change that took effect (edits and support are not changes)."""
        row = (
            await self._session.execute(
                self._query()
                .where(
                    IdeaEventRow.idea_id == idea_id,
                    IdeaEventRow.result == "applied",
                    IdeaEventRow.to_status.is_not(None),
                )
                .order_by(IdeaEventRow.id.desc())
                .limit(1)
            )
        ).first()
        return _event(*row) if row else None

    async def all(self) -> list[IdeaEvent]:
        rows = await self._session.execute(self._query().order_by(IdeaEventRow.id))
        return [_event(*row) for row in rows]


def _event(row: IdeaEventRow, actor: PersonRow | None, subject: PersonRow | None) -> IdeaEvent:
    return IdeaEvent(
        id=row.id,
        idea_id=row.idea_id,
        actor_id=row.actor_id,
        actor=shown_name(actor),
        action=row.action,
        from_status=row.from_status,
        to_status=row.to_status,
        reason=row.reason,
        result=row.result,
        via=row.via,
        subject=shown_name(subject),
        created_at=row.created_at,
    )


class SqlReactions:
    """Implements :class:`bot.ports.Reactions`, keeping each idea's supporter count."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, idea_id: int, person_id: int, reaction: str, kind: str, now: datetime
    ) -> bool:
        result = await self._session.execute(
            insert_ignoring_conflicts(
                self._session,
                IdeaReactionRow.__table__,
                {"idea_id": idea_id, "person_id": person_id, "reaction": reaction,
                 "kind": kind, "created_at": now},
            )
        )
        if not affected(result):
            return False
        if kind == "support" and await self._supports_with(idea_id, person_id) == 1:
            await self._count_supporter(idea_id, +1)  # their first way of supporting it
        return True

    async def remove(self, idea_id: int, person_id: int, reaction: str) -> str | None:
        where = (
            IdeaReactionRow.idea_id == idea_id,
            IdeaReactionRow.person_id == person_id,
            IdeaReactionRow.reaction == reaction,
        )
        kind = await self._session.scalar(select(IdeaReactionRow.kind).where(*where))
        if kind is None:
            return None
        await self._session.execute(delete(IdeaReactionRow).where(*where))
        if kind == "support" and not await self._supports_with(idea_id, person_id):
            await self._count_supporter(idea_id, -1)  # their last way of supporting it
        return kind

    async def _supports_with(self, idea_id: int, person_id: int) -> int:
        """How many support reactions this person has on the idea (a person counts once,
        whether they support it with one emoji or three)."""
        return int(await self._session.scalar(
            select(func.count()).select_from(IdeaReactionRow).where(
                IdeaReactionRow.idea_id == idea_id, IdeaReactionRow.person_id == person_id,
                IdeaReactionRow.kind == "support")) or 0)

    async def _count_supporter(self, idea_id: int, step: int) -> None:
        # An increment, not a recount: concurrent supporters on PostgreSQL each add theirs
        # (the row lock orders them; a recount's snapshot could miss the other one).
        await self._session.execute(
            update(IdeaRow).where(IdeaRow.id == idea_id)
            .values(supporters=IdeaRow.supporters + step)
            .execution_options(synchronize_session=False))
