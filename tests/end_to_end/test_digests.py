"""Digests on real storage and through both platforms' fakes (time set by the tests)."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from adapters.host.runtime import Runtime
from adapters.host.server import SCHEDULER, build_app
from adapters.host.settings import Settings
from adapters.jobs.scheduler import DigestScheduler
from bot.events import MessageEvent, Place, UserRef
from bot.schedule import DAILY, Schedule
from bot.service import KaizenService
from storage.models import DigestRunRow, OutboxRow
from tests.conftest import MANAGER, POLICY, Clock
from tests.machine import KAIZEN
from tests.slack_harness import SlackDriver
from tests.teams_harness import CHANNEL, TEAMS_MANAGER, TeamsDriver

STANDUP = "C_STANDUP"


async def say(service: KaizenService, user_id: str, text: str, channel: str = STANDUP,
              platform: str = "slack", workspace: str = "T0001") -> str:
    result = await service.handle_message(MessageEvent(
        f"evt-{uuid.uuid4()}", UserRef(platform, workspace, user_id, user_id.lower()), text,
        Place(channel)))
    return "\n".join([r.text, *(f"{k}: {v}" for k, v in r.fields)][0] for r in result.replies)


def next_midnight_utc() -> datetime:
    now = datetime.now(UTC)
    return datetime.combine(now.date() + timedelta(days=1), time(0), UTC)


async def test_digest_commands_in_a_channel(runtime: Runtime, clock: Clock) -> None:
    service = KaizenService(runtime.unit_of_work, clock=clock, policy=POLICY)
    refused = await say(service, "U_MEMBER", "/kaizen digest here")
    assert "only managers and admins" in refused
    bad = await say(service, MANAGER, "/kaizen digest here 25:00 Mars/Olympus")
    assert "not a time" in bad and "Europe/Berlin" in bad
    ok = await say(service, MANAGER, "/kaizen digest here 08:30 Europe/Berlin daily #finance")
    assert "08:30 Europe/Berlin, daily for #finance" in ok
    assert "Monday 02 November at 08:30" in ok or "Tuesday 03 November at 08:30" in ok
    shown = await say(service, "U_MEMBER", "/kaizen digest")
    assert "The kaizen stand-up digest" in shown
    in_dm = await service.handle_message(MessageEvent(
        "evt-dm", UserRef("slack", "T0001", MANAGER), "/kaizen digest here",
        Place("D1", direct=True)))
    assert "Digests go to channels" in in_dm.replies[0].text
    assert "is off" in await say(service, MANAGER, "/kaizen digest off")
    assert "no digest yet" in await say(service, MANAGER, "/kaizen digest")


async def _subscribe(runtime: Runtime, channel: str, at: str = "09:00 UTC daily",
                     platform: str = "slack") -> None:
    service = KaizenService(runtime.unit_of_work, policy=POLICY)
    await say(service, MANAGER, f"/kaizen digest here {at}", channel=channel,
              platform=platform)


async def test_three_schedulers_post_each_digest_exactly_once(database_url: str) -> None:
    runtimes = [Runtime.create(Settings(database_url=database_url)) for _ in range(3)]
    try:
        channels = [f"C_TEAM{i}" for i in range(5)]
        for channel in channels:
            await _subscribe(runtimes[0], channel, "00:00 UTC daily")
        tick_at = next_midnight_utc() + timedelta(minutes=1)
        kicks: list[str] = []
        schedulers = [DigestScheduler(r, {"slack": lambda: kicks.append("k")},
                                      clock=lambda: tick_at) for r in runtimes]
        reports = await asyncio.gather(*(s.tick() for s in schedulers))
        again = await asyncio.gather(*(s.tick() for s in schedulers))
        async with runtimes[0].sessions() as session:
            digests = await session.scalar(select(func.count()).select_from(OutboxRow)
                                           .where(OutboxRow.kind == "digest"))
            runs = await session.scalar(select(func.count()).select_from(DigestRunRow))
        assert digests == 5 and runs == 5
        assert sum(r.queued for r in reports) == 5
        assert sum(r.queued for r in again) == 0
    finally:
        for runtime in runtimes:
            await runtime.close()


async def test_slack_digest_is_posted_escaped_and_marked(slack: SlackDriver) -> None:
    runtime = slack.runtime
    service = KaizenService(runtime.unit_of_work, policy=POLICY)
    # Raw text as another adapter might store it: the digest must still neutralise it.
    await service.handle_message(MessageEvent(
        "evt-raw", UserRef("slack", "T0001", "U_ANA", "Ana"),
        "/kaizen standard: a; problem: b; proposal: <!channel> ping everyone & more #finance",
        Place("D1")))
    await _subscribe(runtime, STANDUP, "00:00 UTC daily")
    scheduler = DigestScheduler(runtime, {"slack": lambda: None},
                                clock=lambda: next_midnight_utc() + timedelta(minutes=2))
    report = await scheduler.tick()
    assert report.queued == 1
    await slack.wait_for(lambda: bool(slack.posts_to(STANDUP)), timeout=10)
    await slack.idle()
    [post] = slack.posts_to(STANDUP)
    dump = post.dump
    assert "Kaizen stand-up" in dump and "New ideas (1)" in dump
    assert "<!channel>" not in dump and "&lt;!channel&gt; ping everyone &amp; more" in dump
    async with runtime.unit_of_work() as uow:
        [sub] = await uow.digests.all()
        [run] = await uow.digests.runs(sub.id)
    assert run.status == "posted" and sub.last_result and sub.last_result.startswith("posted")


async def test_a_permanently_failing_channel_is_marked_and_listed(slack: SlackDriver) -> None:
    await _subscribe(slack.runtime, "C_ARCHIVED", "00:00 UTC daily")
    slack.fake.fail_next("chat.postMessage", status=200, error="is_archived")
    scheduler = DigestScheduler(slack.runtime, {"slack": lambda: None},
                                clock=lambda: next_midnight_utc() + timedelta(minutes=2))
    await scheduler.tick()
    await slack.wait_for(lambda: any(c.method == "chat.postMessage" for c in slack.fake.calls))
    await slack.idle()
    async with slack.runtime.unit_of_work() as uow:
        [sub] = await uow.digests.all()
    assert sub.failing and "is_archived" in (sub.last_result or "")
    report = await scheduler.tick()  # a failing subscription is left alone, no crash
    assert report.queued == 0
    listed = subprocess.run([KAIZEN, "digest", "--list"], capture_output=True, text=True,
                            timeout=60, env={"DATABASE_URL": slack.runtime.settings.database_url,
                                             "PATH": "/usr/bin:/bin"})
    assert listed.returncode == 0, listed.stderr
    assert "C_ARCHIVED" in listed.stdout and "FAILING" in listed.stdout


async def test_teams_digest_goes_to_the_channel_reference(teams: TeamsDriver) -> None:
    assert await teams.channel("digest here 00:00 UTC daily", user=TEAMS_MANAGER) == 201
    await teams.wait_for(lambda: any("stand-up digest" in s.text for s in teams.fake.to(CHANNEL)))
    await teams.channel("kaizen standard: a; problem: b; proposal: shorter changeovers")
    await teams.idle()
    scheduler = DigestScheduler(teams.runtime, {"teams": lambda: None},
                                clock=lambda: next_midnight_utc() + timedelta(minutes=2))
    assert (await scheduler.tick()).queued == 1
    await teams.wait_for(lambda: any(s.card and "Kaizen stand-up" in json.dumps(s.card)
                                     for s in teams.fake.ok()), timeout=10)
    card = next(s for s in teams.fake.ok() if s.card and "Kaizen stand-up" in json.dumps(s.card))
    assert card.conversation_id == CHANNEL  # a new post in the channel, not a thread reply
    assert "shorter changeovers" in json.dumps(card.card)


async def test_serve_runs_the_scheduler_unless_told_not_to(database_url: str) -> None:
    runtime = Runtime.create(Settings(database_url=database_url))
    assert SCHEDULER in build_app(runtime, scheduler=True)
    assert SCHEDULER not in build_app(runtime, scheduler=False)
    await runtime.close()


def test_cli_prints_a_digest_for_the_console(cli_env: dict[str, str]) -> None:
    subprocess.run([KAIZEN, "chat", "--user", "ana"], input="/kaizen standard: a; problem: b; "
                   "proposal: label the shelves #ops\n", env=cli_env, capture_output=True,
                   text=True, timeout=60, check=True)
    printed = subprocess.run([KAIZEN, "digest", "--print"], env=cli_env, capture_output=True,
                             text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert "Kaizen stand-up" in printed.stdout
    assert "KZ-1 · ana · ops: label the shelves" in printed.stdout
    assert "Waiting for a decision (1)" in printed.stdout
    nothing = subprocess.run([KAIZEN, "digest"], env=cli_env, capture_output=True, text=True,
                             timeout=60)
    assert "No digest subscriptions" in nothing.stdout


def test_schedule_used_here_is_daily() -> None:
    assert Schedule(time(0), "UTC", DAILY).describe() == "00:00 UTC, daily"


async def test_cli_posts_now_once_per_day_unless_forced(database_url: str) -> None:
    runtime = Runtime.create(Settings(database_url=database_url))
    try:
        await _subscribe(runtime, STANDUP, "00:00 UTC daily")
    finally:
        await runtime.close()
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> str:
        done = subprocess.run([KAIZEN, "digest", *args], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "digest queued" in run("--channel", STANDUP)
    assert "already posted" in run()
    assert "queued again (--force)" in run("--force")
    printed = run("--print", "--channel", STANDUP, "--date", "2026-11-02")
    assert "Kaizen stand-up · Monday 02 November 2026" in printed
    runtime = Runtime.create(Settings(database_url=database_url))
    try:
        async with runtime.sessions() as session:
            queued = await session.scalar(select(func.count()).select_from(OutboxRow)
                                          .where(OutboxRow.kind == "digest"))
    finally:
        await runtime.close()
    assert queued == 2
    unknown = subprocess.run([KAIZEN, "digest", "--channel", "C_NOPE"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "no subscription" in unknown.stderr


async def test_each_missed_digest_is_recorded_and_logged_once(
        database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Down for four days: every run missed is a skipped run, logged once whichever worker
    ticks first and however often (the README promises it), not only the latest."""
    runtimes = [Runtime.create(Settings(database_url=database_url)) for _ in range(2)]
    try:
        await _subscribe(runtimes[0], "C_DOWN", "09:00 UTC daily")
        back = datetime.combine(datetime.now(UTC).date() + timedelta(days=4), time(23, 30),
                                UTC)
        schedulers = [DigestScheduler(r, {"slack": lambda: None}, clock=lambda: back)
                      for r in runtimes]
        with caplog.at_level(logging.WARNING, logger="adapters.jobs.scheduler"):
            reports = await asyncio.gather(*(s.tick() for s in schedulers))
            again = await asyncio.gather(*(s.tick() for s in schedulers))
        async with runtimes[0].sessions() as session:
            statuses = (await session.scalars(select(DigestRunRow.status))).all()
        assert statuses == ["skipped"] * 4
        assert sum(r.skipped for r in reports) >= 4 and sum(r.skipped for r in again) == 0
        logged = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
        assert len(logged) == 4 and len(set(logged)) == 4, logged
    finally:
        for runtime in runtimes:
            await runtime.close()
