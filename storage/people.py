"""People and the conversation (draft) each one has with the bot.

A draft is keyed by the same platform identity as its person and is only read or written in
that person's own turn, so the two rows form one aggregate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import UserRef
from bot.model import DRAFT_TTL, Draft, Person, StoredDraft
from bot.ports import ConcurrentUpdate
from storage.dialect import affected, insert_ignoring_conflicts
from storage.models import ConversationRow, PersonRow


def shown_name(person: PersonRow | None) -> str | None:
    """The name to show for a person: their display name, else their platform user id (None
    for nobody). Ideas, their events and standard versions all name people this way."""
    return (person.display_name or person.user_id) if person else None


def _person(row: PersonRow) -> Person:
    return Person(
        id=row.id,
        platform=row.platform,
        workspace=row.workspace,
        user_id=row.user_id,
        display_name=row.display_name,
        default_area=row.default_area,
        role=row.role,
        directory_id=row.directory_id,
    )


class SqlPeople:
    """Implements :class:`bot.ports.People`: the people of each platform workspace."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def ensure(self, user: UserRef, now: datetime) -> Person:
        """Load the person, creating them on first contact; keeps their display name fresh.

        Known people (nearly every turn) cost one SELECT; the insert runs on first contact
        only, and ignores a concurrent first turn of the same person."""
        row = await self._find(user)
        if row is None:
            await self._insert(user, now)
            row = await self._find(user)
            assert row is not None
        if user.display_name and row.display_name != user.display_name:
            row.display_name = user.display_name
            row.updated_at = now
        if user.directory_id and row.directory_id != user.directory_id:
            row.directory_id = user.directory_id
            row.updated_at = now
        return _person(row)

    async def _find(self, user: UserRef) -> PersonRow | None:
        return (await self._session.execute(
            select(PersonRow).where(
                PersonRow.platform == user.platform,
                PersonRow.workspace == user.workspace,
                PersonRow.user_id == user.user_id,
            )
        )).scalar_one_or_none()

    async def _insert(self, user: UserRef, now: datetime) -> None:
        await self._session.execute(
            insert_ignoring_conflicts(
                self._session,
                PersonRow.__table__,
                {
                    "platform": user.platform,
                    "workspace": user.workspace,
                    "user_id": user.user_id,
                    "display_name": user.display_name,
                    "directory_id": user.directory_id,
                    "role": "member",
                    "created_at": now,
                    "updated_at": now,
                },
            )
        )

    async def get(self, person_id: int) -> Person | None:
        row = await self._session.get(PersonRow, person_id)
        return _person(row) if row else None

    async def with_roles(self, platform: str, workspace: str, roles: set[str]) -> list[Person]:
        rows = await self._session.execute(
            select(PersonRow)
            .where(
                PersonRow.platform == platform,
                PersonRow.workspace == workspace,
                PersonRow.role.in_(roles),
            )
            .order_by(PersonRow.user_id)
        )
        return [_person(row) for row in rows.scalars()]

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
            statement = insert_ignoring_conflicts(
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
        if affected(result) != 1:
            raise ConcurrentUpdate(f"conversation of {user.user_id} changed concurrently")
