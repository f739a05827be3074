"""The digest's facts from real storage: totals counted in SQL, only the shown ideas loaded,
trend days in the subscriber's zone, silent areas, and the most supported open ideas."""

from __future__ import annotations

from datetime import timedelta

from adapters.runtime import Runtime
from bot.digest import SHOWN, compose, render_plain
from bot.service import KaizenService
from tests.conftest import MANAGER, Chat, Clock


async def _facts(runtime: Runtime, clock: Clock, areas: tuple[str, ...] = (),
                 zone: str = "UTC"):  # type: ignore[no-untyped-def]
    async with runtime.unit_of_work() as uow:
        return await uow.digests.facts("slack", "T0001", areas, clock.now - timedelta(hours=24),
                                       clock.now, zone)


async def test_facts_count_everything_and_load_only_what_is_shown(
        runtime: Runtime, service: KaizenService, clock: Clock,
        make_chat) -> None:  # type: ignore[no-untyped-def]
    old = make_chat("U_OLD")
    clock.advance(days=-30)  # KZ-1, 30 days ago
    await old.say("/kaizen standard: s; problem: slow; proposal: kept for ages #legal")  # KZ-1
    clock.advance(days=-70)  # KZ-2, 100 days ago: outside the 90 days that make an area known
    await old.say("/kaizen standard: s; problem: gone; proposal: long ago #archive")
    clock.advance(days=100)
    clock.advance(hours=-3)
    people = [make_chat(f"U_{n}") for n in range(3)]
    for n in range(SHOWN + 3):  # eight new ideas from three people in two areas
        area = "ops" if n % 2 else "sales"
        await people[n % 3].say(f"/kaizen standard: s; problem: p{n}; proposal: idea {n} #{area}")
        clock.advance(minutes=1)
    manager: Chat = make_chat(MANAGER)
    for key in ("KZ-3", "KZ-4"):
        await manager.say(f"/kaizen approve {key}")
    await people[1].react(5, "+1")
    await people[2].react(5, "+1")
    await people[0].react(6, "+1")
    clock.advance(hours=1)

    facts = await _facts(runtime, clock)
    assert facts.total("captured") == SHOWN + 3 and len(facts.captured) == SHOWN
    assert [i.proposal for i in facts.captured] == [f"idea {n}" for n in range(SHOWN)]
    assert facts.by_area == {"sales": 4, "ops": 4} and facts.contributors == 3
    assert facts.total("approved") == 2 and [i.key for i in facts.approved] == ["KZ-3", "KZ-4"]
    assert facts.waiting_total == 8  # the two old ones and six of today's
    assert [(i.key, i.support) for i in facts.support_leaders] == [("KZ-5", 2), ("KZ-6", 1)]
    assert facts.silent_areas == ["legal"]  # heard from in 90 days, not in 7; archive is older
    assert sum(facts.trend) == SHOWN + 3 and facts.trend[-1] == SHOWN + 3
    text = render_plain(compose(facts))
    assert "New ideas (8)" in text and "and 3 more" in text and "Approved (2)" in text

    only_ops = await _facts(runtime, clock, ("ops",))
    assert only_ops.total("captured") == 4 and only_ops.by_area == {"ops": 4}
    assert [i.key for i in only_ops.approved] == ["KZ-4"]  # KZ-3 is a sales idea
    assert only_ops.silent_areas == []


async def test_trend_days_are_the_subscribers_local_days(
        runtime: Runtime, clock: Clock, make_chat) -> None:  # type: ignore[no-untyped-def]
    chat = make_chat("U_LATE")
    clock.now = clock.now.replace(hour=23, minute=30)  # 23:30 UTC = 00:30 next day in Berlin
    await chat.say("/kaizen standard: today; problem: late; proposal: night idea")
    clock.advance(hours=2)
    in_utc = await _facts(runtime, clock, zone="UTC")
    in_berlin = await _facts(runtime, clock, zone="Europe/Berlin")
    assert in_utc.trend[-2:] == [1, 0]  # yesterday in UTC
    assert in_berlin.trend[-1] == 1  # today in Berlin
