"""Shared fixtures: every test database is isolated and built by ``alembic upgrade head``.

SQLite always; PostgreSQL too when ``KAIZEN_TEST_POSTGRES_URL`` is set, each test in a database
of its own that is dropped afterwards. With the URL set, an unreachable server is an error (the
fixture raises), never a skip.

Migrations run once per session and backend, into a template; each test gets a copy of it (the
SQLite file copied, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL). Running the twelve migrations
for every test was most of the suite's time; the migrations themselves are still tested from an
empty database in ``test_migrations``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from adapters.host.runtime import Runtime
from adapters.host.settings import Settings
from bot.events import MessageEvent, Place, ReactionEvent, UserRef
from bot.replies import TurnResult
from bot.service import KaizenService
from bot.turn import Policy
from storage import migrate
from storage.unit_of_work import SqlUnitOfWork
from tests.databases import create_database, drop_database

pytest_plugins = ["tests.slack_harness", "tests.teams_harness"]

POSTGRES_URL = os.environ.get("KAIZEN_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


async def create_postgres_database(base_url: str) -> str:
    """Create an empty database next to ``base_url``'s and return its URL."""
    return await create_database(base_url, "kz_test")


async def drop_postgres_database(database_url: str) -> None:
    await drop_database(POSTGRES_URL, database_url)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def empty_database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database nobody has migrated yet."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'kaizen.db'}"
        return
    url = await create_postgres_database(POSTGRES_URL)
    try:
        yield url
    finally:
        await drop_postgres_database(url)


class MigratedTemplates:
    """One database per backend migrated to head, made on first use and dropped at the end."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._made: dict[str, str] = {}

    def get(self, backend: str) -> str:
        if backend not in self._made:
            self._made[backend] = (self._sqlite() if backend == "sqlite"
                                   else asyncio.run(self._postgres()))
        return self._made[backend]

    def _sqlite(self) -> str:
        path = self._directory / "template.db"
        migrate.upgrade(f"sqlite:///{path}")
        with contextlib.closing(sqlite3.connect(path)) as connection:
            # One self-contained file to copy: fold the write-ahead log back in.
            connection.execute("PRAGMA journal_mode=DELETE")
        return str(path)

    async def _postgres(self) -> str:
        url = await create_database(POSTGRES_URL, "kz_template")
        try:
            await asyncio.to_thread(migrate.upgrade, url)
        except BaseException:
            await drop_database(POSTGRES_URL, url)
            raise
        return url

    def drop(self) -> None:
        if "postgresql" in self._made:
            asyncio.run(drop_database(POSTGRES_URL, self._made["postgresql"]))


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    templates = MigratedTemplates(tmp_path_factory.mktemp("templates"))
    try:
        yield templates
    finally:
        templates.drop()


@pytest.fixture
async def database_url(backend: str, tmp_path: Path,
                       migrated_templates: MigratedTemplates) -> AsyncIterator[str]:
    """A database migrated with ``alembic upgrade head``, as production ones are (a copy of
    the session's migrated template)."""
    # In a thread: migrating runs an event loop of its own (Alembic's async env.py).
    template = await asyncio.to_thread(migrated_templates.get, backend)
    if backend == "sqlite":
        path = tmp_path / "kaizen.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    url = await create_database(POSTGRES_URL, "kz_test",
                                template=make_url(template).database)
    try:
        yield url
    finally:
        await drop_postgres_database(url)


class Clock:
    """Time under the test's control: turns see exactly the time the test sets."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@contextlib.asynccontextmanager
async def open_runtime(database_url: str) -> AsyncIterator[Runtime]:
    """A runtime (engine, sessions, service) on ``database_url``, closed afterwards."""
    runtime = Runtime.create(Settings(database_url=database_url))
    try:
        yield runtime
    finally:
        await runtime.close()


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    async with open_runtime(database_url) as opened:
        yield opened


@pytest.fixture
async def second_runtime(database_url: str) -> AsyncIterator[Runtime]:
    """Another worker on the same database (its own engine and sessions)."""
    async with open_runtime(database_url) as opened:
        yield opened


MANAGER = "U123ABC456"
"""The payloads' manager (Slack approver); bootstrapped as in KAIZEN_MANAGERS."""
ADMIN = "U_ADMIN"
POLICY = Policy(managers=frozenset({f"slack:{MANAGER}"}), admins=frozenset({f"slack:{ADMIN}"}))


@pytest.fixture
def service(runtime: Runtime, clock: Clock) -> KaizenService:
    return KaizenService(runtime.unit_of_work, clock=clock, policy=POLICY)


class Chat:
    """Say things as one user and get the reply texts back; event ids are unique per message."""

    def __init__(self, service: KaizenService, user: UserRef) -> None:
        self.service = service
        self.user = user

    async def say(self, text: str, event_id: str | None = None) -> TurnResult:
        return await self.service.handle_message(
            MessageEvent(event_id=event_id or f"evt-{uuid.uuid4()}", user=self.user, text=text,
                         place=Place("D024BE91L"))
        )

    async def react(self, idea_id: int, reaction: str, added: bool = True,
                    event_id: str | None = None) -> TurnResult:
        return await self.service.handle_reaction(ReactionEvent(
            event_id=event_id or f"evt-{uuid.uuid4()}", user=self.user, idea_id=idea_id,
            reaction=reaction, added=added,
        ))

    async def text(self, text: str) -> str:
        """All reply texts and fields of one turn as one string, for readable asserts."""
        result = await self.say(text)
        return "\n".join(
            "\n".join([reply.text, *(f"{k}: {v}" for k, v in reply.fields)])
            for reply in result.replies
        )


@pytest.fixture
def make_chat(service: KaizenService) -> Callable[[str], Chat]:
    def _make(user_id: str = "U2147483697") -> Chat:
        return Chat(service, UserRef("slack", "T0001", user_id, user_id.lower()))

    return _make


@pytest.fixture
def chat(make_chat: Callable[[str], Chat]) -> Chat:
    return make_chat("U2147483697")


async def all_ideas(runtime: Runtime) -> list:
    async with SqlUnitOfWork(runtime.sessions) as uow:
        return await uow.ideas.list()


async def get_idea(runtime: Runtime, idea_id: int):  # type: ignore[no-untyped-def]
    async with SqlUnitOfWork(runtime.sessions) as uow:
        return await uow.ideas.get(idea_id)


async def history(runtime: Runtime, idea_id: int) -> list:
    async with SqlUnitOfWork(runtime.sessions) as uow:
        return await uow.idea_events.history(idea_id)


def reply_text(result: TurnResult) -> str:
    return "\n".join(
        "\n".join([reply.text, *(f"{k}: {v}" for k, v in reply.fields)])
        for reply in result.replies
    )


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def cli_env(database_url: str) -> Iterator[dict[str, str]]:
    """Environment for running the installed ``kaizen`` command against the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_"))}
    env["DATABASE_URL"] = database_url
    yield env
