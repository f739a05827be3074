"""Migrations are the schema's source of truth: they match the models and round-trip."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage import migrate
from storage.database import create_engine
from storage.models import Base

TABLES = {
    "people", "conversations", "ideas", "idea_events", "processed_events", "processes",
    "standard_versions", "idea_reactions", "channels", "idea_posts", "outbox",
    "conversation_refs", "digest_subscriptions", "digest_runs", "inbox", "implemented_days",
    "idea_hours",
}


async def _inspect(url: str, fn):  # type: ignore[no-untyped-def]
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(fn)
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(database_url: str) -> None:
    def _diff(sync_connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    assert await _inspect(database_url, _diff) == []


async def test_downgrade_then_upgrade_round_trips(database_url: str) -> None:
    def _tables(sync_connection):  # type: ignore[no-untyped-def]
        return set(inspect(sync_connection).get_table_names()) - {"alembic_version"}

    assert await _inspect(database_url, _tables) == TABLES
    await asyncio.to_thread(migrate.downgrade, database_url, "base")
    assert await _inspect(database_url, _tables) == set()
    await asyncio.to_thread(migrate.upgrade, database_url)
    assert await _inspect(database_url, _tables) == TABLES


def test_the_history_is_linear() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1
    assert migrate.head_revision() == script.get_current_head()


async def test_latest_migration_round_trips_with_data(database_url: str) -> None:
    """Downgrade one revision and upgrade again: existing ideas and their history survive."""
    from bot.events import MessageEvent, UserRef
    from bot.service import KaizenService
    from bot.turn import Policy
    from storage.database import create_session_factory
    from storage.unit_of_work import SqlUnitOfWork

    async def run(fn):  # type: ignore[no-untyped-def]
        engine = create_engine(database_url)
        sessions = create_session_factory(engine)
        try:
            return await fn(sessions)
        finally:
            await engine.dispose()

    async def capture(sessions):  # type: ignore[no-untyped-def]
        service = KaizenService(lambda: SqlUnitOfWork(sessions),
                                policy=Policy(managers=frozenset({"console:M"})))
        user = UserRef("console", "local", "ana", "ana")
        await service.handle_message(MessageEvent(
            "e1", user, "/kaizen process: P; standard: s; problem: p; proposal: x"))
        await service.handle_message(MessageEvent(
            "e2", UserRef("console", "local", "M", "M"), "/kaizen approve KZ-1"))

    async def snapshot(sessions):  # type: ignore[no-untyped-def]
        async with SqlUnitOfWork(sessions) as uow:
            ideas = await uow.ideas.list()
            events = await uow.idea_events.history(1)
        return [(i.key, i.status, i.proposal) for i in ideas], [e.action for e in events]

    await run(capture)
    before = await run(snapshot)
    head = migrate.head_revision()
    await asyncio.to_thread(migrate.downgrade, database_url, "-1")
    await asyncio.to_thread(migrate.upgrade, database_url)
    after = await run(snapshot)
    assert before == ([("KZ-1", "approved", "x")], ["submit", "approve"])
    assert after == before

    def _revision(sync_connection):  # type: ignore[no-untyped-def]
        return MigrationContext.configure(sync_connection).get_current_revision()

    assert await _inspect(database_url, _revision) == head


async def test_the_digest_tallies_backfill_to_what_the_live_paths_keep(database_url: str) -> None:
    """0010 and 0011 backfill the implemented-per-day tally, each idea's supporters and the
    captures per hour from the ideas and reactions: taken down and up again, they equal what
    captures, reactions and the implement transition kept while the bot ran."""
    from sqlalchemy import text

    from bot.events import MessageEvent, ReactionEvent, UserRef
    from bot.service import KaizenService
    from bot.turn import Policy
    from storage.database import create_session_factory
    from storage.unit_of_work import SqlUnitOfWork

    def user(name: str) -> UserRef:
        return UserRef("console", "local", name, name)

    async def tallies() -> tuple[list, list, list]:  # type: ignore[type-arg]
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                days = (await connection.execute(text(
                    "SELECT area, count FROM implemented_days ORDER BY area"))).all()
                supporters = (await connection.execute(text(
                    "SELECT id, supporters FROM ideas ORDER BY id"))).all()
                hours = (await connection.execute(text(
                    "SELECT area, count FROM idea_hours ORDER BY area"))).all()
            return ([tuple(row) for row in days], [tuple(row) for row in supporters],
                    [tuple(row) for row in hours])
        finally:
            await engine.dispose()

    engine = create_engine(database_url)
    try:
        service = KaizenService(lambda: SqlUnitOfWork(create_session_factory(engine)),
                                policy=Policy(managers=frozenset({"console:M"})))
        for n, area in enumerate(("ops", "ops", "sales", ""), start=1):
            tag = f" #{area}" if area else ""
            await service.handle_message(MessageEvent(
                f"c{n}", user("ana"), f"/kaizen standard: s; problem: p; proposal: x{n}{tag}"))
        for n in (1, 2, 4):
            await service.handle_message(MessageEvent(f"a{n}", user("M"),
                                                      f"/kaizen approve KZ-{n}"))
            await service.handle_message(MessageEvent(f"i{n}", user("M"),
                                                      f"/kaizen implemented KZ-{n} process: P"))
        for n, (who, idea, emoji) in enumerate((("bo", 3, "+1"), ("cy", 3, "heart"),
                                                ("cy", 3, "tada"), ("bo", 2, "+1"))):
            await service.handle_reaction(ReactionEvent(f"r{n}", user(who), idea, emoji, True))
    finally:
        await engine.dispose()

    kept = await tallies()
    assert kept == ([("", 1), ("*", 3), ("ops", 2)], [(1, 0), (2, 1), (3, 2), (4, 0)],
                    [("", 1), ("*", 4), ("ops", 2), ("sales", 1)])
    await asyncio.to_thread(migrate.downgrade, database_url, "0009")
    await asyncio.to_thread(migrate.upgrade, database_url)
    assert await tallies() == kept


async def test_0012_splits_a_process_two_platforms_shared_and_keeps_everything(
        empty_database_url: str) -> None:
    """Before 0012 a Teams tenant "T1" and Slack team "T1" shared processes. Upgrading keeps
    every process, standard version and idea, gives each platform its own process (versions
    renumbered in their order), and round-trips through a downgrade."""
    from sqlalchemy import text

    await asyncio.to_thread(migrate.upgrade, empty_database_url, "0011")
    at: object = "2026-11-01 09:00:00"  # SQLite keeps UTC datetimes as text
    if empty_database_url.startswith("postgresql"):
        at = datetime(2026, 11, 1, 9, tzinfo=UTC)
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            async def run(sql: str, **values: object) -> None:
                await connection.execute(text(sql), values)

            for pid, platform, user in ((1, "slack", "U_ANA"), (2, "teams", "29:eve"),
                                        (3, "slack", "U_BO")):
                await run("INSERT INTO people (id, platform, workspace, user_id, role, "
                          "created_at, updated_at) VALUES (:id, :p, 'T1', :u, 'member', :at, "
                          ":at)", id=pid, p=platform, u=user, at=at)
            await run("INSERT INTO processes (id, workspace, name, name_key, created_at) "
                      "VALUES (1, 'T1', 'Expense claims', 'expense claims', :at)", at=at)
            await run("INSERT INTO processes (id, workspace, name, name_key, created_at) "
                      "VALUES (2, 'T1', 'Onboarding', 'onboarding', :at)", at=at)
            for iid, platform, author, process in ((1, "slack", 1, 1), (2, "teams", 2, 1),
                                                   (3, "slack", 3, 1), (4, "teams", 2, 2)):
                await run("INSERT INTO ideas (id, workspace, platform, author_id, standard, "
                          "problem, proposal, status, process_id, supporters, created_at, "
                          "updated_at) VALUES (:id, 'T1', :p, :a, 's', 'p', :x, 'implemented',"
                          " :proc, 0, :at, :at)", id=iid, p=platform, a=author,
                          x=f"proposal {iid}", proc=process, at=at)
            # Slack wrote v1 and v3 of "Expense claims", Teams v2 (through the shared row);
            # "Onboarding" was Teams' alone.
            for vid, process, version, idea, author in ((1, 1, 1, 1, 1), (2, 1, 2, 2, 2),
                                                        (3, 1, 3, 3, 3), (4, 2, 1, 4, 2)):
                await run("INSERT INTO standard_versions (id, process_id, version, text, "
                          "author_id, idea_id, created_at) VALUES (:id, :proc, :v, :t, :a, "
                          ":i, :at)", id=vid, proc=process, v=version, t=f"text {vid}",
                          a=author, i=idea, at=at)
            await run("INSERT INTO processed_events (platform, event_id, received_at) "
                      "VALUES ('teams', 'e1', :at)", at=at)
            if connection.dialect.name == "postgresql":  # the ids above were given by hand
                for table in ("people", "processes", "ideas", "standard_versions"):
                    await run(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT MAX(id) FROM {table}))")

        await asyncio.to_thread(migrate.upgrade, empty_database_url)

        async def rows(sql: str) -> list[tuple]:  # type: ignore[type-arg]
            async with engine.connect() as connection:
                return [tuple(row) for row in (await connection.execute(text(sql))).all()]

        processes = await rows("SELECT id, platform, workspace, name FROM processes ORDER BY id")
        assert processes == [(1, "slack", "T1", "Expense claims"),
                             (2, "teams", "T1", "Onboarding"),
                             (3, "teams", "T1", "Expense claims")]
        assert await rows("SELECT id, process_id FROM ideas ORDER BY id") == [
            (1, 1), (2, 3), (3, 1), (4, 2)]
        assert await rows("SELECT process_id, version, text, idea_id FROM standard_versions "
                          "ORDER BY process_id, version") == [
            (1, 1, "text 1", 1), (1, 2, "text 3", 3), (2, 1, "text 4", 4),
            (3, 1, "text 2", 2)]
        assert await rows("SELECT platform, workspace, event_id FROM processed_events") == [
            ("teams", "", "e1")]

        # Down again: the two "Expense claims" cannot share a name, nothing is dropped.
        await asyncio.to_thread(migrate.downgrade, empty_database_url, "0011")
        assert await rows("SELECT id, name FROM processes ORDER BY id") == [
            (1, "Expense claims"), (2, "Onboarding"), (3, "Expense claims (teams 3)")]
        assert len(await rows("SELECT id FROM standard_versions")) == 4
        await asyncio.to_thread(migrate.upgrade, empty_database_url)
        assert await rows("SELECT id, platform FROM processes ORDER BY id") == [
            (1, "slack"), (2, "teams"), (3, "teams")]
    finally:
        await engine.dispose()
