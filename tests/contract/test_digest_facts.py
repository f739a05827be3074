"""The digest's facts from real storage: totals counted in SQL, only the shown ideas loaded,
trend days in the subscriber's zone, silent areas, and the most supported open ideas."""

from __future__ import annotations

from datetime import timedelta

from adapters.host.runtime import Runtime
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


async def test_implemented_this_year_adds_whole_days_from_the_tally_and_counts_the_edges(
        runtime: Runtime, clock: Clock, make_chat) -> None:  # type: ignore[no-untyped-def]
    """Implemented at the year's first Berlin hour (still last year in UTC), mid-year, and in
    the last partial UTC day: every one counts, in and out of an area filter, and the tally
    agrees with counting the ideas one by one."""
    author, manager = make_chat("U_IMPL"), make_chat(MANAGER)
    moments = [clock.now.replace(year=2025, month=12, day=31, hour=22, minute=30),  # last year
               clock.now.replace(year=2025, month=12, day=31, hour=23, minute=30),  # 00:30 Berlin
               clock.now.replace(month=6, day=15, hour=12),
               clock.now.replace(month=11, day=2, hour=7)]  # today, before the digest
    for n, moment in enumerate(moments, start=1):
        clock.now = moment - timedelta(minutes=10)
        area = "ops" if n % 2 else "sales"
        await author.say(f"/kaizen standard: s; problem: p{n}; proposal: done {n} #{area}")
        clock.now = moment
        await manager.say(f"/kaizen approve KZ-{n}")
        done = await manager.say(f"/kaizen implemented KZ-{n} process: Billing")
        assert f"KZ-{n} is now implemented" in done.replies[0].text
    clock.now = moments[-1].replace(hour=9)

    assert (await _facts(runtime, clock, zone="Europe/Berlin")).implemented_this_year == 3
    assert (await _facts(runtime, clock, zone="UTC")).implemented_this_year == 2
    assert (await _facts(runtime, clock, ("sales",), zone="Europe/Berlin")
            ).implemented_this_year == 2  # KZ-2 and KZ-4
    assert (await _facts(runtime, clock, ("ops",), zone="Europe/Berlin")
            ).implemented_this_year == 1  # KZ-3


async def test_supporters_count_people_not_emoji_and_lead_the_digest(
        runtime: Runtime, clock: Clock, make_chat) -> None:  # type: ignore[no-untyped-def]
    """The supporter count kept on the idea follows every add and removal: two emoji from one
    person are one supporter until both are gone; a decided idea leaves "most supported"."""
    author = make_chat("U_AUTHOR")
    for n in range(1, 4):
        await author.say(f"/kaizen standard: s; problem: p{n}; proposal: idea {n}")
    ana, ben = make_chat("U_ANA"), make_chat("U_BEN")

    async def supporters() -> list[int]:
        async with runtime.unit_of_work() as uow:
            return [idea.support for idea in await uow.ideas.list()]

    await ana.react(2, "+1")
    await ana.react(2, "heart")
    await ana.react(2, "heart")  # the same reaction again changes nothing
    assert await supporters() == [0, 1, 0]
    await ben.react(2, "tada")
    await ben.react(3, "+1")
    assert await supporters() == [0, 2, 1]
    await ana.react(2, "+1", added=False)
    assert await supporters() == [0, 2, 1]  # Ana still supports it with a heart
    await ana.react(2, "heart", added=False)
    assert await supporters() == [0, 1, 1]

    facts = await _facts(runtime, clock)
    assert [(i.key, i.support) for i in facts.support_leaders] == [("KZ-3", 1), ("KZ-2", 1)]
    await make_chat(MANAGER).say("/kaizen reject KZ-3 reason: not now")
    facts = await _facts(runtime, clock)
    assert [(i.key, i.support) for i in facts.support_leaders] == [("KZ-2", 1)]


async def test_trend_from_hourly_tallies_matches_counting_in_any_zone(
        runtime: Runtime, clock: Clock, make_chat) -> None:  # type: ignore[no-untyped-def]
    """Zones whose midnight is a UTC hour read the hourly tally plus the unfinished hour;
    India's half-hour midnight is counted in the index: the days come out right either way."""
    chat = make_chat("U_TREND")
    for moment, area in ((clock.now.replace(day=1, hour=18, minute=40), "ops"),  # 00:10 IST
                         (clock.now.replace(hour=8, minute=20), "ops"),
                         (clock.now.replace(hour=9, minute=5), "late")):  # unfinished hour
        clock.now = moment
        await chat.say(f"/kaizen standard: s; problem: p; proposal: at {moment:%H:%M} #{area}")
    clock.now = clock.now.replace(hour=9, minute=10)
    for zone, last_two in (("UTC", [1, 2]), ("Europe/Berlin", [1, 2]), ("Asia/Kolkata", [0, 3])):
        facts = await _facts(runtime, clock, zone=zone)
        assert facts.trend[-2:] == last_two, zone
        assert sum(facts.trend) == 3 and facts.by_area == {"ops": 2, "late": 1}, zone
        assert facts.silent_areas == [], zone  # both areas were heard from this week
    only_late = await _facts(runtime, clock, ("late",), zone="Europe/Berlin")
    assert only_late.trend[-2:] == [0, 1]


async def test_the_period_counts_where_each_idea_ended_up(
        runtime: Runtime, clock: Clock, make_chat) -> None:  # type: ignore[no-untyped-def]
    """A retracted approval is no approval, an approval repeated is one, and an idea shared
    and withdrawn again is no new idea."""
    ana = make_chat("U_ANA")
    manager: Chat = make_chat(MANAGER)
    clock.advance(hours=-5)
    for n in range(3):
        await ana.say(f"/kaizen standard: s; problem: p{n}; proposal: idea {n}")  # KZ-1..3
    await manager.react(1, "white_check_mark")
    clock.advance(hours=1)
    await manager.react(1, "white_check_mark", added=False)  # KZ-1: approved, then not
    await manager.react(2, "white_check_mark")
    await manager.react(2, "white_check_mark", added=False)
    await manager.react(2, "white_check_mark")  # KZ-2: approved, un-approved, approved
    await ana.say("/kaizen withdraw KZ-3")  # KZ-3: shared and withdrawn the same day
    clock.advance(hours=1)

    facts = await _facts(runtime, clock)
    assert [i.key for i in facts.approved] == ["KZ-2"] and facts.total("approved") == 1
    assert [i.key for i in facts.waiting] == ["KZ-1"]
    assert [i.key for i in facts.captured] == ["KZ-1", "KZ-2"]
    assert facts.total("captured") == 2 and facts.contributors == 1
