"""Repositories: map rows to the core's records. They flush but never commit (the unit of work
does, once per turn)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.events import UserRef
from bot.model import (
    DRAFT_TTL,
    ChannelConfig,
    Draft,
    Idea,
    IdeaEvent,
    NewIdea,
    Person,
    Process,
    StandardVersion,
    StoredDraft,
)
from bot.ports import ConcurrentUpdate
from storage.dialect import (
    delete_some,
    dialect_insert,
    insert_ignoring_conflicts,
    utc_hour,
)
from storage.models import (
    ALL_AREAS,
    ChannelRow,
    ConversationRow,
    IdeaEventRow,
    IdeaHourRow,
    IdeaPostRow,
    IdeaReactionRow,
    IdeaRow,
    ImplementedDayRow,
    PersonRow,
    ProcessedEventRow,
    ProcessRow,
    StandardVersionRow,
)


class SqlProcessedEvents:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, platform: str, workspace: str, event_id: str, now: datetime) -> bool:
        statement = insert_ignoring_conflicts(
            self._session,
            ProcessedEventRow.__table__,
            {"platform": platform, "workspace": workspace, "event_id": event_id,
             "received_at": now},
        )
        result = await self._session.execute(statement)
        return bool(result.rowcount)

    async def prune(self, received_before: datetime, batch: int = 5000) -> int:
        """Forget up to ``batch`` event ids older than any platform retry; returns how many."""
        return await delete_some(self._session, ProcessedEventRow,
                                 ProcessedEventRow.received_at < received_before, limit=batch)


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
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"conversation of {user.user_id} changed concurrently")


def _name(person: PersonRow | None) -> str | None:
    return (person.display_name or person.user_id) if person else None


_Author = aliased(PersonRow, name="author")
_Decider = aliased(PersonRow, name="decider")


def _idea_query() -> Select[Any]:
    """Ideas with their author, decider, process name and support count, in one query."""
    return (
        select(IdeaRow, _Author, _Decider, ProcessRow.name, IdeaRow.supporters)
        .join(_Author, _Author.id == IdeaRow.author_id)
        .outerjoin(_Decider, _Decider.id == IdeaRow.decided_by_id)
        .outerjoin(ProcessRow, ProcessRow.id == IdeaRow.process_id)
    )


def _idea(row: IdeaRow, author: PersonRow, decider: PersonRow | None = None,
          process: str | None = None, support: int = 0) -> Idea:
    return Idea(
        id=row.id,
        workspace=row.workspace,
        platform=row.platform,
        author_id=row.author_id,
        author_name=_name(author) or "?",
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
        decided_by=_name(decider),
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
        return _idea(row, author)

    async def get(self, idea_id: int) -> Idea | None:
        # populate_existing: a compare-and-set that lost must see the winner's status.
        result = await self._session.execute(
            _idea_query().where(IdeaRow.id == idea_id).execution_options(populate_existing=True)
        )
        found = result.first()
        return _idea(*found) if found else None

    async def get_with_post(self, idea_id: int,
                            platform: str) -> tuple[Idea | None, tuple[str, str] | None]:
        """The idea and where it is posted on ``platform`` (if it is), in one query: what the
        deliverer needs to post or update it."""
        found = (await self._session.execute(
            _idea_query()
            .add_columns(IdeaPostRow.channel, IdeaPostRow.message_id)
            .outerjoin(IdeaPostRow, and_(IdeaPostRow.idea_id == IdeaRow.id,
                                         IdeaPostRow.platform == platform))
            .where(IdeaRow.id == idea_id)
        )).first()
        if found is None:
            return None, None
        *idea, channel, message_id = found
        return _idea(*idea), (channel, message_id) if message_id is not None else None

    async def recent_by_author(self, author_id: int, limit: int) -> list[Idea]:
        rows = await self._session.execute(
            _idea_query()
            .where(IdeaRow.author_id == author_id)
            .order_by(IdeaRow.created_at.desc(), IdeaRow.id.desc())
            .limit(limit)
        )
        return [_idea(*row) for row in rows]

    async def list(self, status: str | None = None, limit: int | None = None) -> list[Idea]:
        """All ideas (optionally of one status), oldest first: for ``kaizen ideas``."""
        query = _idea_query().order_by(IdeaRow.id)
        if status:
            query = query.where(IdeaRow.status == status)
        if limit:
            query = query.limit(limit)
        return [_idea(*row) for row in await self._session.execute(query)]

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
            return (await self._session.execute(statement)).rowcount == 1
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
        return result.rowcount == 1

    async def set_process(self, idea_id: int, process_id: int, now: datetime) -> None:
        await self._session.execute(
            update(IdeaRow)
            .where(IdeaRow.id == idea_id)
            .values(process_id=process_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def created_since(self, author_id: int, since: datetime, limit: int) -> list[datetime]:
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

    def _query(self) -> Select[Any]:
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
        actor=_name(actor),
        action=row.action,
        from_status=row.from_status,
        to_status=row.to_status,
        reason=row.reason,
        result=row.result,
        via=row.via,
        subject=_name(subject),
        created_at=row.created_at,
    )


class SqlReactions:
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
        if not result.rowcount:
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
        author=_name(author),
        idea_id=row.idea_id,
        created_at=row.created_at,
    )


def name_key(name: str) -> str:
    """Process names are unique per platform and workspace regardless of case and spacing."""
    return " ".join(name.split()).casefold()


class SqlChannels:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def set(self, config: ChannelConfig, set_by: int | None, now: datetime) -> None:
        where = (
            ChannelRow.platform == config.platform,
            ChannelRow.workspace == config.workspace,
            ChannelRow.purpose == config.purpose,
        )
        row = await self._session.scalar(select(ChannelRow).where(*where))
        if row is None:
            self._session.add(ChannelRow(
                platform=config.platform, workspace=config.workspace, purpose=config.purpose,
                channel_id=config.channel_id, reference=config.reference, set_by_id=set_by,
                updated_at=now,
            ))
        else:
            row.channel_id = config.channel_id
            row.reference = config.reference
            row.set_by_id = set_by
            row.updated_at = now
        await self._session.flush()

    async def get(self, platform: str, workspace: str, purpose: str) -> ChannelConfig | None:
        row = await self._session.scalar(select(ChannelRow).where(
            ChannelRow.platform == platform,
            ChannelRow.workspace == workspace,
            ChannelRow.purpose == purpose,
        ))
        if row is None:
            return None
        return ChannelConfig(row.platform, row.workspace, row.purpose, row.channel_id,
                             dict(row.reference) if row.reference else None)
