"""The storage contract: what the core and the jobs rely on from ``storage/``, one suite run
against every backend (SQLite always, PostgreSQL when configured), straight through the unit of
work (no service, no platform in between)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from adapters.host.runtime import Runtime
from bot.events import UserRef
from bot.model import ChannelConfig, Draft
from bot.ports import ConcurrentUpdate
from bot.replies import Reply, ReplyKind
from bot.targets import Ephemeral, Message, RefreshIdea, ToChannel, ToReference, ToUser
from storage.target_json import target_from_json
from storage.unit_of_work import SqlUnitOfWork

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ANA = UserRef("slack", "T1", "U_ANA", "Ana")


@asynccontextmanager
async def unit(runtime: Runtime, commit: bool = True) -> AsyncIterator[SqlUnitOfWork]:
    async with runtime.unit_of_work() as uow:
        yield uow
        if commit:
            await uow.commit()


async def test_an_event_id_is_recorded_once_per_workspace(runtime: Runtime) -> None:
    async with unit(runtime) as uow:
        assert await uow.processed.record("slack", "T1", "Ev1", NOW)
        assert not await uow.processed.record("slack", "T1", "Ev1", NOW)
        assert await uow.processed.record("slack", "T2", "Ev1", NOW)
        assert await uow.processed.record("teams", "T1", "Ev1", NOW)


async def test_people_are_scoped_by_platform_and_workspace(runtime: Runtime) -> None:
    async with unit(runtime) as uow:
        slack = await uow.people.ensure(ANA, NOW)
        again = await uow.people.ensure(ANA, NOW)
        teams = await uow.people.ensure(UserRef("teams", "T1", "U_ANA"), NOW)
        other = await uow.people.ensure(UserRef("slack", "T2", "U_ANA"), NOW)
    assert slack.id == again.id
    assert len({slack.id, teams.id, other.id}) == 3


async def test_a_draft_saved_on_a_stale_version_is_a_conflict(runtime: Runtime) -> None:
    draft = Draft(step="problem", answers={"standard": "by hand"}, started_at=NOW)
    async with unit(runtime) as uow:
        assert (await uow.drafts.load(ANA, NOW)).version == 0
        await uow.drafts.save(ANA, draft, 0, NOW)
    async with unit(runtime) as uow:
        stored = await uow.drafts.load(ANA, NOW)
        assert stored.draft is not None and stored.draft.answers == {"standard": "by hand"}
        await uow.drafts.save(ANA, None, stored.version, NOW)
    with pytest.raises(ConcurrentUpdate):
        async with unit(runtime, commit=False) as uow:
            await uow.drafts.save(ANA, draft, stored.version, NOW)  # the version moved on


async def test_queued_targets_come_back_as_they_went_in(runtime: Runtime) -> None:
    reference = {"serviceUrl": "https://smba.example/", "conversation": {"id": "a:1"}}
    targets = [ToUser("U1"), ToUser("U2", fallback=ToReference(reference), wait=False),
               ToChannel("C1"), Ephemeral("C1", "U1"), ToReference(reference)]
    reply = Reply("hello", fields=(("Status", "approved"),), kind=ReplyKind.DONE)
    async with unit(runtime) as uow:
        await uow.outbox.queue("slack", [Message("T1", t, reply) for t in targets]
                               + [RefreshIdea("T1", 7)], NOW)
    async with unit(runtime) as uow:
        items = await uow.outbox.claim("slack", NOW)
    assert [target_from_json(i.target) for i in items if i.kind == "message"] == targets
    assert [(i.kind, i.idea_id) for i in items][-1] == ("idea_post", 7)
    assert {i.payload.get("kind") for i in items if i.kind == "message"} == {"done"}


async def test_a_claimed_row_is_leased_then_sent_once(runtime: Runtime) -> None:
    async with unit(runtime) as uow:
        await uow.outbox.queue("slack", [Message("T1", ToUser("U1"), Reply("hi"))], NOW)
    async with unit(runtime) as uow:
        (item,) = await uow.outbox.claim("slack", NOW)
    async with unit(runtime) as uow:
        assert await uow.outbox.claim("slack", NOW) == []  # another worker: leased
        assert await uow.outbox.claim("teams", NOW) == []  # another platform: not its row
    async with unit(runtime) as uow:
        await uow.outbox.mark_sent([item.id], NOW)
    async with unit(runtime) as uow:
        assert await uow.outbox.claim("slack", NOW + timedelta(hours=1)) == []
        assert (await uow.outbox.counts("slack")) == {"sent": 1}


async def test_a_deferred_row_wakes_when_its_person_is_reachable(runtime: Runtime) -> None:
    async with unit(runtime) as uow:
        await uow.outbox.queue("teams", [Message("T1", ToUser("U1"), Reply("hi"))], NOW)
    async with unit(runtime) as uow:
        (item,) = await uow.outbox.claim("teams", NOW)
        await uow.outbox.defer(item.id, "no personal chat yet", NOW + timedelta(hours=1))
    async with unit(runtime) as uow:
        assert await uow.outbox.claim("teams", NOW) == []
        assert await uow.outbox.wake("teams", "T2", "U1", NOW) == 0  # not that workspace
        assert await uow.outbox.wake("teams", "T1", "U1", NOW) == 1
    async with unit(runtime) as uow:
        assert [i.id for i in await uow.outbox.claim("teams", NOW)] == [item.id]


async def test_a_failed_row_is_retried_later_or_given_up(runtime: Runtime) -> None:
    async with unit(runtime) as uow:
        await uow.outbox.queue("slack", [Message("T1", ToChannel("C1"), Reply("hi"))], NOW)
    async with unit(runtime) as uow:
        (item,) = await uow.outbox.claim("slack", NOW)
        await uow.outbox.reschedule(item.id, "HTTP 503", NOW + timedelta(seconds=2), NOW)
    async with unit(runtime) as uow:
        assert await uow.outbox.claim("slack", NOW) == []
        (again,) = await uow.outbox.claim("slack", NOW + timedelta(seconds=2))
        assert again.attempts == 1
        await uow.outbox.reschedule(again.id, "gone", None, NOW)
    async with unit(runtime) as uow:
        assert (await uow.outbox.counts("slack")) == {"failed": 1}


async def test_conversation_references_are_kept_disabled_and_forgotten(runtime: Runtime) -> None:
    reference = {"conversation": {"id": "a:1"}}
    async with unit(runtime) as uow:
        assert await uow.conversation_refs.save("teams", "T1", "personal", "U1", reference, NOW)
        await uow.conversation_refs.disable("teams", "T1", "personal", "U1", "HTTP 403", NOW)
    async with unit(runtime) as uow:
        assert await uow.conversation_refs.get("teams", "T1", "personal", "U1") == (
            reference, True)
        assert await uow.conversation_refs.get("teams", "T2", "personal", "U1") is None
        assert await uow.conversation_refs.save("teams", "T1", "personal", "U1", reference,
                                                NOW)  # back: re-enabled
    async with unit(runtime) as uow:
        assert await uow.conversation_refs.get("teams", "T1", "personal", "U1") == (
            reference, False)
        await uow.conversation_refs.forget("teams", "T1", "personal", "U1")
    async with unit(runtime) as uow:
        assert await uow.conversation_refs.get("teams", "T1", "personal", "U1") is None


async def test_an_idea_post_is_found_by_its_message(runtime: Runtime) -> None:
    from bot.model import NewIdea

    async with unit(runtime) as uow:
        author = await uow.people.ensure(ANA, NOW)
        idea = await uow.ideas.add(NewIdea(
            workspace="T1", platform="slack", author_id=author.id, area=None,
            standard="by hand", problem="slow", proposal="a jig", source_channel="D1",
            source_event_id="Ev1", created_at=NOW))
        await uow.idea_posts.save(idea.id, "slack", "C1", "1.1", NOW)
        await uow.idea_posts.save(idea.id, "slack", "C1", "1.1", NOW)  # a retry: no error
    async with unit(runtime) as uow:
        assert await uow.idea_posts.find_idea("slack", "C1", "1.1") == idea.id
        assert await uow.idea_posts.find_idea("teams", "C1", "1.1") is None
        assert await uow.idea_posts.find_idea("slack", "C1", "2.2") is None
        found, post = await uow.ideas.get_with_post(idea.id, "slack")
        assert found is not None and post == ("C1", "1.1")


async def test_channel_settings_are_per_platform_and_workspace(runtime: Runtime) -> None:
    async with unit(runtime) as uow:
        await uow.channels.set(ChannelConfig("slack", "T1", "ideas", "C1", None), None, NOW)
        await uow.channels.set(ChannelConfig("teams", "T1", "ideas", "19:x",
                                             {"reference": {"id": "19:x"}}), None, NOW)
    async with unit(runtime) as uow:
        slack = await uow.channels.get("slack", "T1", "ideas")
        teams = await uow.channels.get("teams", "T1", "ideas")
        assert slack is not None and slack.channel_id == "C1" and slack.reference is None
        assert teams is not None and teams.reference == {"reference": {"id": "19:x"}}
        assert await uow.channels.get("slack", "T2", "ideas") is None
