"""Database faults: a locked SQLite, a PostgreSQL connection killed mid-turn, an outage.

The person gets a friendly "try again", the draft keeps every earlier answer, the turn works
when sent again, the server stays up and /readyz reports the outage, then recovers.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.engine import make_url

from adapters.host.runtime import Runtime
from adapters.host.server import build_app
from adapters.host.settings import Settings
from bot.events import MessageEvent, Place, UserRef
from bot.service import KaizenService
from storage.unit_of_work import SqlUnitOfWork
from tests.conftest import POSTGRES_URL, all_ideas, create_postgres_database, drop_postgres_database
from tests.slack_harness import SlackDriver, slack_settings

USER = UserRef("slack", "T0001", "U_FAULT", "fault")


class Person:
    def __init__(self, service: KaizenService) -> None:
        self.service, self.n = service, 0

    async def say(self, text: str):  # type: ignore[no-untyped-def]
        self.n += 1
        return await self.service.handle_message(MessageEvent(f"fault-{self.n}-{id(self)}",
                                                              USER, text, Place("D1")))


async def draft_of(runtime: Runtime):  # type: ignore[no-untyped-def]
    async with runtime.unit_of_work() as uow:
        return (await uow.drafts.load(USER, None)).draft  # type: ignore[arg-type]


@pytest.fixture
async def sqlite_runtime(tmp_path) -> AsyncIterator[tuple[Runtime, str]]:  # type: ignore[no-untyped-def]
    from storage import migrate

    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    await asyncio.to_thread(migrate.upgrade, url)
    runtime = Runtime.create(Settings(database_url=url, sqlite_busy_timeout_ms=150))
    try:
        yield runtime, str(path)
    finally:
        await runtime.close()


async def test_a_locked_sqlite_gets_a_friendly_reply_and_loses_nothing(
    sqlite_runtime: tuple[Runtime, str],
) -> None:
    runtime, path = sqlite_runtime
    person = Person(runtime.service)
    await person.say("/kaizen")
    await person.say("paper forms")
    async with TestClient(TestServer(build_app(runtime))) as client:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            result = await person.say("it is slow")
            assert result.storage_error
            assert "send it again in a moment" in result.replies[0].text
            ready = await client.get("/readyz")
            assert ready.status == 503 and (await ready.json())["status"] == "unavailable"
            assert (await client.get("/healthz")).status == 200
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        draft = await draft_of(runtime)
        assert draft.answers == {"standard": "paper forms"} and draft.step == "problem"
        again = await person.say("it is slow")
        assert "Question 3 of 3" in again.replies[-1].text
        assert (await client.get("/readyz")).status == 200


async def test_slack_dm_during_an_outage_is_answered_directly(tmp_path, fake_slack) -> None:  # type: ignore[no-untyped-def]
    from storage import migrate

    path = tmp_path / "slack-locked.db"
    url = f"sqlite:///{path}"
    await asyncio.to_thread(migrate.upgrade, url)
    runtime = Runtime.create(slack_settings(url, fake_slack.url, sqlite_busy_timeout_ms=150))
    async with TestClient(TestServer(build_app(runtime))) as client:
        slack = SlackDriver(client, fake_slack, runtime)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            assert await slack.dm("/kaizen") == 200
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert any("couldn't save that" in (c.params.get("text") or "")
                   for c in fake_slack.of("chat.postMessage"))


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    from storage import migrate

    url = await create_postgres_database(POSTGRES_URL)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
    finally:
        await _allow(url, True)
        await drop_postgres_database(url)


async def _admin(sql: str) -> None:
    base = make_url(POSTGRES_URL)
    connection = await asyncpg.connect(host=base.host, port=base.port or 5432,
                                       user=base.username, database=base.database)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _terminate(url: str) -> None:
    name = make_url(url).database
    await _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")


async def _allow(url: str, allowed: bool) -> None:
    name = make_url(url).database
    await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')


@pytest.mark.skipif(not POSTGRES_URL, reason="needs KAIZEN_TEST_POSTGRES_URL")
async def test_a_connection_killed_mid_turn_is_retried_invisibly(postgres_url: str) -> None:
    runtime = Runtime.create(Settings(database_url=postgres_url))
    killed: list[bool] = []

    class KillingUnitOfWork(SqlUnitOfWork):
        async def __aenter__(self) -> SqlUnitOfWork:
            await super().__aenter__()
            original = self.drafts.load

            async def load(user, now):  # type: ignore[no-untyped-def]
                stored = await original(user, now)
                if not killed:
                    killed.append(True)
                    await _terminate(postgres_url)  # our backend dies under the turn
                return stored

            self.drafts.load = load  # type: ignore[method-assign]
            return self

    try:
        person = Person(KaizenService(lambda: KillingUnitOfWork(runtime.sessions)))
        result = await person.say("/kaizen standard: a; problem: b; proposal: c")
        assert killed and not result.storage_error
        assert "saved as KZ-1" in result.replies[-1].text
        assert len(await all_ideas(runtime)) == 1
    finally:
        await runtime.close()


@pytest.mark.skipif(not POSTGRES_URL, reason="needs KAIZEN_TEST_POSTGRES_URL")
async def test_a_postgres_outage_is_reported_and_recovers(postgres_url: str) -> None:
    runtime = Runtime.create(Settings(database_url=postgres_url))
    person = Person(runtime.service)
    async with TestClient(TestServer(build_app(runtime))) as client:
        await person.say("/kaizen")
        await person.say("paper forms")
        await _allow(postgres_url, False)
        await _terminate(postgres_url)
        try:
            result = await person.say("it is slow")
            assert result.storage_error and "send it again" in result.replies[0].text
            assert (await client.get("/readyz")).status == 503
        finally:
            await _allow(postgres_url, True)
        again = await person.say("it is slow")
        assert "Question 3 of 3" in again.replies[-1].text
        assert (await client.get("/readyz")).status == 200
        draft = await draft_of(runtime)
        assert draft.answers == {"standard": "paper forms", "problem": "it is slow"}
