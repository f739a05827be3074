"""Typed SQLAlchemy models. The migrations in ``migrations/versions`` must match these exactly
(a test autogenerates against a migrated database and expects no difference)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on PostgreSQL and on SQLite (which keeps none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PersonRow(Base):
    """A person on one platform and workspace, with their default area and role."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("platform", "workspace", "user_id", name="uq_people_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(200))
    default_area: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(16), default="member", server_default="member")
    directory_id: Mapped[str | None] = mapped_column(String(255))
    """Teams: the Entra object id, by which configuration names people (``teams:<id>``)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConversationRow(Base):
    """One capture conversation per person: the draft's step and answers, version-checked."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("platform", "workspace", "user_id", name="uq_conversations_user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(255))
    step: Mapped[str | None] = mapped_column(String(32))
    answers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    area: Mapped[str | None] = mapped_column(String(40))
    pending: Mapped[dict[str, str] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


OPEN_SUPPORTED = "status IN ('submitted', 'approved', 'in_progress') AND supporters > 0"


class IdeaRow(Base):
    """A captured idea: the three texts, its status and where it came from."""

    __tablename__ = "ideas"
    # Every board and digest query is scoped to (platform, workspace): the indexes lead with
    # it so they cover those queries (measured in bench/bench_board.py).
    __table_args__ = (
        Index("ix_ideas_scope_created", "platform", "workspace", "created_at", "area",
              "author_id"),
        Index("ix_ideas_scope_status_created", "platform", "workspace", "status",
              "created_at"),
        Index("ix_ideas_scope_status_decided", "platform", "workspace", "status",
              "decided_at"),
        Index("ix_ideas_scope_first_decided", "platform", "workspace", "first_decided_at"),
        # Area-filtered digests count and find each area's latest idea inside this one.
        Index("ix_ideas_scope_area_status", "platform", "workspace", "area", "status",
              "decided_at", "created_at"),
        Index("ix_ideas_author_created", "author_id", "created_at"),
        # The digest's "most supported": open, supported ideas by supporters, best first.
        Index("ix_ideas_open_support", "platform", "workspace", "supporters", "id", "area",
              sqlite_where=text(OPEN_SUPPORTED), postgresql_where=text(OPEN_SUPPORTED)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(128))
    platform: Mapped[str] = mapped_column(String(32))
    author_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    area: Mapped[str | None] = mapped_column(String(40))
    standard: Mapped[str] = mapped_column(Text)
    problem: Mapped[str] = mapped_column(Text)
    proposal: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    process_id: Mapped[int | None] = mapped_column(ForeignKey("processes.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When it first left ``submitted`` by a decision: decision lead time without the log."""
    decision_reason: Mapped[str | None] = mapped_column(Text)
    supporters: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """People supporting it (by reaction or command), kept by the reaction repository, so an
    idea's support is read, not counted, and "most supported" is a walk down one index."""
    source_channel: Mapped[str | None] = mapped_column(String(255))
    source_event_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdeaEventRow(Base):
    """The audit trail: who did what to which idea (or whose role), when, and whether it took.

    ``result`` is ``applied`` or ``refused`` (a refused attempt is kept too: two managers
    deciding at once both show up), ``via`` says how (``command``, ``reaction:x``).
    """

    __tablename__ = "idea_events"
    __table_args__ = (
        Index("ix_idea_events_idea", "idea_id", "id"),
        Index("ix_idea_events_created", "created_at"),  # digests: decisions in a period
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(16), default="applied", server_default="applied")
    via: Mapped[str | None] = mapped_column(String(80))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProcessedEventRow(Base):
    """Platform event ids already handled, so a platform retry changes nothing. Keyed by
    workspace too: a Teams activity id is unique in its conversation, not across tenants."""

    __tablename__ = "processed_events"
    __table_args__ = (
        UniqueConstraint("platform", "workspace", "event_id", name="uq_processed_events_event"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128), server_default="")
    event_id: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ProcessRow(Base):
    """A named process of a workspace on one platform; its standard is the list of its
    versions. A Slack team and a Teams tenant never share one, even with equal ids."""

    __tablename__ = "processes"
    __table_args__ = (UniqueConstraint("platform", "workspace", "name_key",
                                       name="uq_processes_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(120))
    name_key: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StandardVersionRow(Base):
    """One version of a process's standard: text, who, when, and the idea that caused it."""

    __tablename__ = "standard_versions"
    __table_args__ = (
        UniqueConstraint("process_id", "version", name="uq_standard_versions_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdeaReactionRow(Base):
    """A person's reaction on an idea and what it meant (support, approve, reject)."""

    __tablename__ = "idea_reactions"
    __table_args__ = (
        UniqueConstraint("idea_id", "person_id", "reaction", name="uq_idea_reactions_reaction"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    reaction: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChannelRow(Base):
    """A channel a workspace configured for a purpose (``ideas``; later ``digest``).

    ``reference`` holds what a platform needs to post there later (Teams: the serialised
    ConversationReference); Slack needs only the channel id.
    """

    __tablename__ = "channels"
    __table_args__ = (
        UniqueConstraint("platform", "workspace", "purpose", name="uq_channels_purpose"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(255))
    reference: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdeaPostRow(Base):
    """Where an idea is posted on a platform (Slack ``(channel, ts)``, Teams activity id), so
    reactions find their idea and the post is updated in place."""

    __tablename__ = "idea_posts"
    __table_args__ = (
        UniqueConstraint("idea_id", "platform", name="uq_idea_posts_idea"),
        UniqueConstraint("platform", "channel", "message_id", name="uq_idea_posts_message"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(255))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxRow(Base):
    """A message waiting to be delivered to a platform, written in the same transaction as the
    change that caused it: nothing is sent for a rolled-back turn, nothing is lost for a
    committed one. A deliverer claims rows with a lease and retries with backoff."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "platform", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    idea_id: Mapped[int | None] = mapped_column(Integer)
    target_key: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


ALL_AREAS = "*"
"""The area of the tally rows that count every area together (area names are [a-z0-9_-])."""


class ImplementedDayRow(Base):
    """How many ideas of an area were implemented on a UTC day: a tally kept by the implement
    transition (``implemented`` is final, so it only ever grows), so "implemented this year"
    adds up at most 366 rows per area instead of counting every idea (190,000 index entries
    at a million ideas). Areas are stored with "" for none, so the key has no NULL in it, and
    :data:`ALL_AREAS` rows hold each day's total (no area can be called that)."""

    __tablename__ = "implemented_days"
    # The key leads with the day (a year is one range) and, on SQLite, is the table itself,
    # so the sum reads no other b-tree: 6.2 → 2.1 ms for a year of 50 areas.
    __table_args__ = ({"sqlite_with_rowid": False},)

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    workspace: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    area: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class IdeaHourRow(Base):
    """How many ideas were captured in an area in a UTC hour (and in all areas: ``"*"``),
    kept by :meth:`SqlIdeas.add`: a digest's 14-day trend and the week's active areas read a
    few hundred of these instead of walking 38,000 index entries at a million ideas a year."""

    __tablename__ = "idea_hours"
    __table_args__ = ({"sqlite_with_rowid": False},)

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    workspace: Mapped[str] = mapped_column(String(128), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    area: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class InboxRow(Base):
    """A platform event acknowledged before its turn ran: written in the ack's one commit, so
    the platform hears back within its deadline and a crash before the turn loses nothing (the
    row is replayed). Deleted once the turn is done; the unique event id also drops a platform
    retry that arrives while the first delivery is still waiting here."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("platform", "event_id", name="uq_inbox_event"),
        Index("ix_inbox_received", "platform", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    person_key: Mapped[str] = mapped_column(String(255))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConversationRefRow(Base):
    """Where a platform lets the bot write later (Teams ``ConversationReference``): a person's
    personal chat or a channel. ``disabled`` is set when the platform refuses us (bot removed),
    so we stop trying until the person or team talks to the bot again."""

    __tablename__ = "conversation_refs"
    __table_args__ = (
        UniqueConstraint("platform", "workspace", "scope", "ref_key", name="uq_conversation_refs"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(16))
    ref_key: Mapped[str] = mapped_column(String(255))
    reference: Mapped[dict[str, Any]] = mapped_column(JSON)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DigestSubscriptionRow(Base):
    """A channel's daily digest: when (local time, zone, days) and which areas."""

    __tablename__ = "digest_subscriptions"
    __table_args__ = (
        UniqueConstraint("platform", "workspace", "channel_id", name="uq_digest_subscriptions"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(128))
    channel_id: Mapped[str] = mapped_column(String(255))
    reference: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    time_of_day: Mapped[str] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64))
    days: Mapped[str] = mapped_column(String(40))
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    last_local_date: Mapped[date | None] = mapped_column(Date)
    last_result: Mapped[str | None] = mapped_column(String(300))
    failing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DigestRunRow(Base):
    """One digest per subscription and local date: the unique row a worker claims before
    posting, which is what makes digests exactly-once across workers."""

    __tablename__ = "digest_runs"
    __table_args__ = (
        UniqueConstraint("subscription_id", "local_date", name="uq_digest_runs_day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("digest_subscriptions.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime())
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
