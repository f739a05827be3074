"""Repositories: map rows to the core's records. They flush but never commit (the unit of work
does, once per turn)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import UserRef
from bot.model import DRAFT_TTL, Draft, Idea, NewIdea, Person, StoredDraft
from bot.ports import ConcurrentUpdate
from storage.models import ConversationRow, IdeaEventRow, IdeaRow, PersonRow, ProcessedEventRow


def _insert_ignoring_conflicts(session: AsyncSession, table: Any, values: dict[str, Any]) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the dialect in use (both support it natively).

    Unlike catching an IntegrityError this leaves a PostgreSQL transaction usable, and a
    concurrent insert of the same key waits for the other transaction instead of failing.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).values(**values).on_conflict_do_nothing()


class SqlProcessedEvents:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, platform: str, event_id: str, now: datetime) -> bool:
        statement = _insert_ignoring_conflicts(
            self._session,
            ProcessedEventRow.__table__,
            {"platform": platform, "event_id": event_id, "received_at": now},
        )
        result = await self._session.execute(statement)
        return bool(result.rowcount)


def _person(row: PersonRow) -> Person:
    return Person(
        id=row.id,
        platform=row.platform,
        workspace=row.workspace,
        user_id=row.user_id,
        display_name=row.display_name,
        default_area=row.default_area,
        role=row.role,
    )


class SqlPeople:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def ensure(self, user: UserRef, now: datetime) -> Person:
        """Load the person, creating them on first contact; keeps their display name fresh."""
        await self._session.execute(
            _insert_ignoring_conflicts(
                self._session,
                PersonRow.__table__,
                {
                    "platform": user.platform,
                    "workspace": user.workspace,
                    "user_id": user.user_id,
                    "display_name": user.display_name,
                    "role": "member",
                    "created_at": now,
                    "updated_at": now,
                },
            )
        )
        row = (
            await self._session.execute(
                select(PersonRow).where(
                    PersonRow.platform == user.platform,
                    PersonRow.workspace == user.workspace,
                    PersonRow.user_id == user.user_id,
                )
            )
        ).scalar_one()
        if user.display_name and row.display_name != user.display_name:
            row.display_name = user.display_name
            row.updated_at = now
        return _person(row)

    async def set_default_area(self, person_id: int, area: str | None) -> None:
        await self._session.execute(
            update(PersonRow).where(PersonRow.id == person_id).values(default_area=area)
        )

    async def set_role(self, person_id: int, role: str) -> None:
        await self._session.execute(
            update(PersonRow).where(PersonRow.id == person_id).values(role=role)
        )


class SqlDrafts:
    """The conversation row of each person, saved with an optimistic version check."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def _where(self, user: UserRef) -> tuple[Any, ...]:
        return (
            ConversationRow.platform == user.platform,
            ConversationRow.workspace == user.workspace,
            ConversationRow.user_id == user.user_id,
        )

    async def load(self, user: UserRef, now: datetime) -> StoredDraft:
        row = (
            await self._session.execute(select(ConversationRow).where(*self._where(user)))
        ).scalar_one_or_none()
        if row is None:
            return StoredDraft(draft=None, version=0)
        if row.step is None:
            return StoredDraft(draft=None, version=row.version)
        draft = Draft(
            step=row.step,
            answers=dict(row.answers or {}),
            area=row.area,
            pending=dict(row.pending) if row.pending else None,
            started_at=row.started_at,
            updated_at=row.updated_at,
        )
        return StoredDraft(draft=draft, version=row.version)

    async def save(
        self, user: UserRef, draft: Draft | None, expected_version: int, now: datetime
    ) -> None:
        values: dict[str, Any] = {
            "step": draft.step if draft else None,
            "answers": dict(draft.answers) if draft else {},
            "area": draft.area if draft else None,
            "pending": dict(draft.pending) if draft and draft.pending else None,
            "started_at": draft.started_at if draft else None,
            "updated_at": now,
            "expires_at": (now + DRAFT_TTL) if draft else None,
        }
        if expected_version == 0:
            # First conversation for this person: a racing worker's insert wins, we retry.
            statement = _insert_ignoring_conflicts(
                self._session,
                ConversationRow.__table__,
                {
                    "platform": user.platform,
                    "workspace": user.workspace,
                    "user_id": user.user_id,
                    "version": 1,
                    **values,
                },
            )
        else:
            statement = (
                update(ConversationRow)
                .where(*self._where(user), ConversationRow.version == expected_version)
                .values(version=ConversationRow.version + 1, **values)
                .execution_options(synchronize_session=False)
            )
        result = await self._session.execute(statement)
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"conversation of {user.user_id} changed concurrently")


def _idea(row: IdeaRow, author_name: str) -> Idea:
    return Idea(
        id=row.id,
        workspace=row.workspace,
        platform=row.platform,
        author_id=row.author_id,
        author_name=author_name,
        area=row.area,
        standard=row.standard,
        problem=row.problem,
        proposal=row.proposal,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlIdeas:
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
        author = await self._session.get(PersonRow, idea.author_id)
        return _idea(row, author.display_name or author.user_id if author else "?")

    async def recent_by_author(self, author_id: int, limit: int) -> list[Idea]:
        rows = await self._session.execute(
            select(IdeaRow, PersonRow)
            .join(PersonRow, PersonRow.id == IdeaRow.author_id)
            .where(IdeaRow.author_id == author_id)
            .order_by(IdeaRow.created_at.desc(), IdeaRow.id.desc())
            .limit(limit)
        )
        return [_idea(idea, person.display_name or person.user_id) for idea, person in rows]

    async def list(self, status: str | None = None, limit: int | None = None) -> list[Idea]:
        """All ideas (optionally of one status), oldest first: for ``kaizen ideas``."""
        query = (
            select(IdeaRow, PersonRow)
            .join(PersonRow, PersonRow.id == IdeaRow.author_id)
            .order_by(IdeaRow.id)
        )
        if status:
            query = query.where(IdeaRow.status == status)
        if limit:
            query = query.limit(limit)
        rows = await self._session.execute(query)
        return [_idea(idea, person.display_name or person.user_id) for idea, person in rows]


class SqlIdeaEvents:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        idea_id: int,
        actor_id: int | None,
        action: str,
        from_status: str | None,
        to_status: str | None,
        reason: str | None,
        at: datetime,
    ) -> None:
        self._session.add(
            IdeaEventRow(
                idea_id=idea_id,
                actor_id=actor_id,
                action=action,
                from_status=from_status,
                to_status=to_status,
                reason=reason,
                created_at=at,
            )
        )
        await self._session.flush()
