"""Two workers (separate engines, as two `kaizen serve` processes) on the same conversations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.host.runtime import Runtime
from adapters.host.settings import Settings
from bot.events import UserRef
from bot.model import Draft
from bot.ports import ConcurrentUpdate
from bot.service import KaizenService
from bot.turn import Policy
from storage import migrate
from storage.unit_of_work import SqlUnitOfWork
from tests.conftest import (
    POSTGRES_URL,
    Chat,
    Clock,
    all_ideas,
    create_postgres_database,
    drop_postgres_database,
    get_idea,
    history,
)


async def test_two_workers_never_lose_an_answer_or_create_two_ideas(
    runtime: Runtime, second_runtime: Runtime, clock: Clock
) -> None:
    worker_a = KaizenService(runtime.unit_of_work, clock=clock)
    worker_b = KaizenService(second_runtime.unit_of_work, clock=clock)
    users = [UserRef("slack", "T0001", f"U{i:03d}", f"user {i}") for i in range(8)]
    for user in users:
        await Chat(worker_a, user).say("/kaizen")
        await Chat(worker_a, user).say(f"standard of {user.user_id}")

    # Each person's next two answers arrive at the same moment on different workers.
    await asyncio.gather(*(
        task
        for user in users
        for task in (
            Chat(worker_a, user).say(f"answer A of {user.user_id}"),
            Chat(worker_b, user).say(f"answer B of {user.user_id}"),
        )
    ))

    ideas = await all_ideas(runtime)
    assert len(ideas) == len(users)
    by_author = {idea.author_name: idea for idea in ideas}
    for user in users:
        idea = by_author[user.display_name]
        assert idea.standard == f"standard of {user.user_id}"
        assert {idea.problem, idea.proposal} == {
            f"answer A of {user.user_id}", f"answer B of {user.user_id}"
        }


async def test_two_final_answers_at_once_make_exactly_one_idea(
    runtime: Runtime, second_runtime: Runtime, clock: Clock
) -> None:
    user = UserRef("slack", "T0001", "U_RACE", "racer")
    worker_a = Chat(KaizenService(runtime.unit_of_work, clock=clock), user)
    worker_b = Chat(KaizenService(second_runtime.unit_of_work, clock=clock), user)
    await worker_a.say("/kaizen standard: a; problem: b")
    first, second = await asyncio.gather(worker_a.say("proposal one"),
                                         worker_b.say("proposal two"))
    [idea] = await all_ideas(runtime)
    assert idea.proposal in {"proposal one", "proposal two"}
    kinds = sorted(r.kind for r in (*first.replies, *second.replies))
    # One got the saved summary; the other was told it is not part of a draft (not dropped).
    assert "saved" in kinds and "help" in kinds


async def test_a_stale_version_is_refused_and_changes_nothing(runtime: Runtime,
                                                             clock: Clock) -> None:
    user = UserRef("slack", "T0001", "U_STALE", "stale")
    async with runtime.unit_of_work() as uow:
        await uow.drafts.save(user, Draft(step="problem", answers={"standard": "a"}), 0, clock())
        await uow.commit()
    async with runtime.unit_of_work() as uow:
        await uow.drafts.save(user, Draft(step="proposal", answers={"standard": "a",
                                                                    "problem": "b"}), 1, clock())
        await uow.commit()
    async with runtime.unit_of_work() as uow:
        with pytest.raises(ConcurrentUpdate):
            await uow.drafts.save(user, Draft(step="standard"), 1, clock())
    async with runtime.unit_of_work() as uow:
        stored = await uow.drafts.load(user, clock())
    assert stored.version == 2 and stored.draft is not None
    assert stored.draft.answers == {"standard": "a", "problem": "b"}


class RacingUnitOfWork(SqlUnitOfWork):
    """Pauses after loading the draft until the other worker has loaded it too (first try only),
    forcing both to advance the same version: exactly the lost-update race."""

    def __init__(self, sessions: object, barrier: asyncio.Barrier, loads: list[int]) -> None:
        super().__init__(sessions)  # type: ignore[arg-type]
        self._barrier = barrier
        self._loads = loads

    async def __aenter__(self) -> RacingUnitOfWork:
        await super().__aenter__()
        original = self.drafts.load

        async def load(user: UserRef, now: object) -> object:
            stored = await original(user, now)  # type: ignore[arg-type]
            self._loads.append(stored.version)
            if len(self._loads) <= 2:
                await asyncio.wait_for(self._barrier.wait(), timeout=10)
            return stored

        self.drafts.load = load  # type: ignore[method-assign]
        return self


@pytest.fixture
async def postgres_runtimes() -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Two workers on one migrated PostgreSQL database of this test's own."""
    url = await create_postgres_database(POSTGRES_URL)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        first = Runtime.create(Settings(database_url=url))
        second = Runtime.create(Settings(database_url=url))
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()
    finally:
        await drop_postgres_database(url)


@pytest.mark.skipif(not POSTGRES_URL, reason="needs KAIZEN_TEST_POSTGRES_URL: SQLite's "
                    "BEGIN IMMEDIATE serialises turns, so this interleaving cannot happen there")
async def test_forced_lost_update_race_is_retried_on_postgresql(
    postgres_runtimes: tuple[Runtime, Runtime], clock: Clock
) -> None:
    runtime, second_runtime = postgres_runtimes
    user = UserRef("slack", "T0001", "U_FORCED", "forced")
    setup = Chat(KaizenService(runtime.unit_of_work, clock=clock), user)
    await setup.say("/kaizen")
    await setup.say("standard")
    barrier, loads = asyncio.Barrier(2), []
    worker_a = Chat(KaizenService(lambda: RacingUnitOfWork(runtime.sessions, barrier, loads),
                                  clock=clock), user)
    worker_b = Chat(KaizenService(lambda: RacingUnitOfWork(second_runtime.sessions, barrier,
                                                           loads), clock=clock), user)
    await asyncio.gather(worker_a.say("answer A"), worker_b.say("answer B"))
    assert sorted(loads) == [2, 2, 3]  # both read version 2; the loser re-ran on version 3
    [idea] = await all_ideas(runtime)
    assert {idea.problem, idea.proposal} == {"answer A", "answer B"}


async def test_two_managers_deciding_at_once_end_in_one_consistent_state(
    runtime: Runtime, second_runtime: Runtime, clock: Clock
) -> None:
    """Approve on one worker and reject on another at the same moment, for several ideas."""
    policy = Policy(managers=frozenset({"slack:U_M1", "slack:U_M2"}))
    author = Chat(KaizenService(runtime.unit_of_work, clock=clock, policy=policy),
                  UserRef("slack", "T0001", "U_AUTHOR", "author"))
    first = Chat(KaizenService(runtime.unit_of_work, clock=clock, policy=policy),
                 UserRef("slack", "T0001", "U_M1", "first manager"))
    second = Chat(KaizenService(second_runtime.unit_of_work, clock=clock, policy=policy),
                  UserRef("slack", "T0001", "U_M2", "second manager"))
    count = 6
    for _ in range(count):
        await author.say("/kaizen standard: s; problem: p; proposal: x")
    results = await asyncio.gather(*(
        task
        for idea_id in range(1, count + 1)
        for task in (first.say(f"/kaizen approve KZ-{idea_id}"),
                     second.say(f"/kaizen reject KZ-{idea_id} too costly"))
    ))
    notifications = [n for result in results for n in result.notifications]
    for idea_id in range(1, count + 1):
        idea = await get_idea(runtime, idea_id)
        events = [e for e in await history(runtime, idea_id) if e.action != "submit"]
        # Both attempts are in the audit trail, applied or refused.
        assert sorted((e.actor, e.action) for e in events) == [
            ("first manager", "approve"), ("second manager", "reject")
        ]
        applied = [e for e in events if e.result == "applied"]
        assert applied, "at least one decision took effect"
        last = applied[-1]
        assert idea.status == last.to_status and idea.decided_by == last.actor
        # Every applied status change told the author exactly once.
        assert len([n for n in notifications if n.idea_id == idea_id]) == len(applied)
        for event in applied[1:]:  # a later change must have been allowed from the earlier one
            assert (event.from_status, event.to_status) == ("approved", "rejected")
