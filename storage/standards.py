"""Processes and the versioned text of their standard: what an implemented idea changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.model import Process, StandardVersion
from storage.dialect import insert_ignoring_conflicts
from storage.models import PersonRow, ProcessRow, StandardVersionRow
from storage.people import shown_name


class SqlStandards:
    """Processes and the versions of their standard."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _process(self, row: ProcessRow | None) -> Process | None:
        if row is None:
            return None
        latest = (
            await self._session.execute(
                select(StandardVersionRow.version, StandardVersionRow.text)
                .where(StandardVersionRow.process_id == row.id)
                .order_by(StandardVersionRow.version.desc())
                .limit(1)
            )
        ).first()
        return Process(
            id=row.id,
            platform=row.platform,
            workspace=row.workspace,
            name=row.name,
            current_version=latest[0] if latest else 0,
            current_text=latest[1] if latest else None,
        )

    async def find(self, platform: str, workspace: str, name: str) -> Process | None:
        row = await self._session.scalar(
            select(ProcessRow).where(
                ProcessRow.platform == platform, ProcessRow.workspace == workspace,
                ProcessRow.name_key == name_key(name),
            )
        )
        return await self._process(row)

    async def ensure(self, platform: str, workspace: str, name: str, now: datetime) -> Process:
        await self._session.execute(
            insert_ignoring_conflicts(
                self._session,
                ProcessRow.__table__,
                {"platform": platform, "workspace": workspace, "name": name.strip(),
                 "name_key": name_key(name), "created_at": now},
            )
        )
        found = await self.find(platform, workspace, name)
        assert found is not None
        return found

    async def get(self, process_id: int) -> Process | None:
        return await self._process(await self._session.get(ProcessRow, process_id))

    async def all(self, platform: str, workspace: str) -> list[Process]:
        rows = await self._session.scalars(
            select(ProcessRow).where(ProcessRow.platform == platform,
                                     ProcessRow.workspace == workspace).order_by(
                ProcessRow.name_key
            )
        )
        return [p for p in [await self._process(row) for row in rows] if p is not None]

    async def add_version(
        self, process_id: int, text: str, author_id: int | None, idea_id: int | None,
        now: datetime,
    ) -> StandardVersion:
        current = await self._session.scalar(
            select(func.coalesce(func.max(StandardVersionRow.version), 0)).where(
                StandardVersionRow.process_id == process_id
            )
        )
        # The unique (process, version) constraint turns a concurrent revision into a retry.
        row = StandardVersionRow(process_id=process_id, version=(current or 0) + 1, text=text,
                                 author_id=author_id, idea_id=idea_id, created_at=now)
        self._session.add(row)
        await self._session.flush()
        author = await self._session.get(PersonRow, author_id) if author_id else None
        return _version(row, author)

    async def versions(self, process_id: int) -> list[StandardVersion]:
        rows = await self._session.execute(
            select(StandardVersionRow, PersonRow)
            .outerjoin(PersonRow, PersonRow.id == StandardVersionRow.author_id)
            .where(StandardVersionRow.process_id == process_id)
            .order_by(StandardVersionRow.version)
        )
        return [_version(row, person) for row, person in rows]


def _version(row: StandardVersionRow, author: PersonRow | None) -> StandardVersion:
    return StandardVersion(
        process_id=row.process_id,
        version=row.version,
        text=row.text,
        author=shown_name(author),
        idea_id=row.idea_id,
        created_at=row.created_at,
    )


def name_key(name: str) -> str:
    """Process names are unique per platform and workspace regardless of case and spacing."""
    return " ".join(name.split()).casefold()
