"""Abuse limits on real storage: ideas per person per hour, digest subscriptions per workspace.

Both are counted in the database, so every test runs on SQLite and PostgreSQL, and the capture
limit is checked across two workers (two runtimes, two engines) on the same database.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.host.runtime import Runtime, policy_from
from adapters.host.settings import Settings
from bot.events import FormEvent, MessageEvent, Place, UserRef
from bot.service import KaizenService
from bot.turn import Policy
from storage.models import DigestSubscriptionRow
from tests.conftest import MANAGER, POLICY, Chat, Clock, all_ideas, reply_text
from tests.teams_harness import CHANNEL, TeamsDriver, teams_settings

ANA = UserRef("slack", "T0001", "U_ANA", "ana")
BEN = UserRef("slack", "T0001", "U_BEN", "ben")
ONE_MESSAGE = "/kaizen standard: by hand; problem: slow; proposal: idea {n}"


async def stored_draft(runtime: Runtime, user: UserRef) -> Any:
    async with runtime.unit_of_work() as uow:
        return (await uow.drafts.load(user, Clock().now)).draft


def test_the_limits_are_settings_with_documented_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = policy_from(Settings(_env_file=None))  # type: ignore[call-arg]
    assert (defaults.capture_limit_per_hour, defaults.digest_subscriptions_max) == (20, 50)
    assert Settings(_env_file=None).request_body_timeout_seconds == 10  # type: ignore[call-arg]
    monkeypatch.setenv("KAIZEN_CAPTURE_LIMIT_PER_HOUR", "0")
    monkeypatch.setenv("KAIZEN_DIGEST_SUBSCRIPTIONS_MAX", "3")
    monkeypatch.setenv("KAIZEN_REQUEST_BODY_TIMEOUT_SECONDS", "0.5")
    configured = Settings(_env_file=None)  # type: ignore[call-arg]
    assert policy_from(configured).capture_limit_per_hour == 0
    assert policy_from(configured).digest_subscriptions_max == 3
    assert configured.request_body_timeout_seconds == 0.5
    monkeypatch.setenv("KAIZEN_CAPTURE_LIMIT_PER_HOUR", "-1")
    with pytest.raises(ValueError, match="KAIZEN_CAPTURE_LIMIT_PER_HOUR"):
        Settings(_env_file=None)  # type: ignore[call-arg]


async def test_the_21st_idea_in_an_hour_waits_as_a_draft_across_workers(
    runtime: Runtime, second_runtime: Runtime, clock: Clock, caplog: pytest.LogCaptureFixture,
) -> None:
    """The default limit (20 an hour) counted in the database: ideas saved through one worker
    count on the other. The 21st is kept, answers and all, and `continue` sends it once the
    oldest of the 20 is an hour old."""
    workers = [Chat(KaizenService(r.unit_of_work, clock=clock, policy=POLICY), ANA)
               for r in (runtime, second_runtime)]
    first_idea_at = clock.now
    for n in range(20):
        assert "saved as" in await workers[n % 2].text(ONE_MESSAGE.format(n=n))
        clock.advance(minutes=2)
    assert clock.now - first_idea_at == timedelta(minutes=40)

    caplog.set_level(logging.WARNING, logger="bot.limits")
    limited = await workers[0].text(
        "/kaizen process: Expense claims; standard: paper; problem: slow; proposal: the app")
    assert "Thank you for your 20 ideas in the last hour" in limited
    assert "10:00 (UTC, in 20 minutes)" in limited  # the first idea was at 09:00
    assert "kept it as a draft" in limited and "type `continue`" in limited
    assert "saved as" not in limited
    assert len(await all_ideas(runtime)) == 20
    kept = await stored_draft(runtime, ANA)
    assert kept.answers == {"process": "Expense claims", "standard": "paper",
                            "problem": "slow", "proposal": "the app"}
    assert any("capture limit: slack:T0001:U_ANA reached 20 ideas in an hour; idea kept as a "
               "draft until 2026-11-02T10:00:00+00:00" in r.getMessage() for r in caplog.records)

    clock.advance(minutes=10)  # 09:50: still 20 in the last hour, on the other worker too
    again = await workers[1].text("continue")
    assert "in 10 minutes" in again and len(await all_ideas(runtime)) == 20
    assert "ready to send" in await workers[1].text("/kaizen")  # choice: send it / start over

    clock.advance(minutes=10)  # 10:00: the 09:00 idea is an hour old
    sent = await workers[1].text("continue")
    assert "saved as KZ-21" in sent and "Expense claims" in sent
    ideas = await all_ideas(runtime)
    assert (ideas[-1].proposal, ideas[-1].process) == ("the app", "Expense claims")
    assert await stored_draft(runtime, ANA) is None


async def test_at_the_limit_no_new_draft_starts_and_nothing_typed_is_lost(
    runtime: Runtime, clock: Clock,
) -> None:
    """`/kaizen` at the limit does not ask three questions for nothing; text typed with it is
    shown back; a draft already open is kept when "start over" is refused; other people and a
    limit of 0 are unaffected."""
    service = KaizenService(runtime.unit_of_work, clock=clock,
                            policy=Policy(capture_limit_per_hour=2, timezone="Europe/Berlin"))
    ana, ben = Chat(service, ANA), Chat(service, BEN)
    await ana.say(ONE_MESSAGE.format(n=1))
    clock.advance(minutes=5)
    await ana.say(ONE_MESSAGE.format(n=2))
    clock.advance(minutes=5)  # 09:10; the first idea frees a place at 10:00 UTC, 11:00 Berlin

    start = await ana.text("/kaizen")
    assert "You can start your next one at 11:00 (Europe/Berlin, in 50 minutes)" in start
    assert "Question 1 of 3" not in start
    assert await stored_draft(runtime, ANA) is None
    typed = await ana.text("/kaizen the printer jams #ops")
    assert "here is what you wrote" in typed and "Problem: the printer jams" in typed
    assert await stored_draft(runtime, ANA) is None
    assert "Question 1 of 3" in await ben.text("/kaizen")  # the limit is per person

    unlimited = Chat(KaizenService(runtime.unit_of_work, clock=clock,
                                   policy=Policy(capture_limit_per_hour=0)), ANA)
    assert "saved as KZ-3" in await unlimited.text(ONE_MESSAGE.format(n=3))  # 0: no limit
    await unlimited.say("/kaizen")
    await unlimited.say("We print claims")
    await ana.say("/kaizen")  # a draft is open: "continue or start over?"
    refused = await ana.text("start over")
    # KZ-3 (09:10) counts too: the two newest are 09:05 and 09:10, so a place frees at 10:05.
    assert "You can start your next one at 11:05 (Europe/Berlin, in 55 minutes)" in refused
    assert "Your idea in progress is kept" in refused
    kept = await stored_draft(runtime, ANA)
    assert (kept.step, kept.answers, kept.pending) == ("problem", {"standard": "We print claims"},
                                                      None)
    assert "Question 2 of 3" in await ana.text("continue")
    assert len(await all_ideas(runtime)) == 3


async def test_a_form_at_the_limit_saves_nothing_and_keeps_its_answers(
    runtime: Runtime, clock: Clock,
) -> None:
    service = KaizenService(runtime.unit_of_work, clock=clock,
                            policy=Policy(capture_limit_per_hour=1))
    values = {"standard": "by hand", "problem": "slow", "proposal": "a jig"}

    async def submit() -> Any:
        return await service.handle_form(FormEvent(f"form-{uuid.uuid4()}", ANA, values,
                                                   Place("C1")))

    assert "saved as KZ-1" in reply_text(await submit())
    clock.advance(minutes=59)
    result = await submit()
    # The form comes back, filled in, saying when to send it again.
    assert [r.kind for r in result.replies] == ["form_error", "form"]
    form = result.replies[1]
    assert dict(form.fields) == values
    assert "send it again from 10:00 (UTC, in 1 minute)" in form.text
    assert len(await all_ideas(runtime)) == 1
    clock.advance(minutes=1)
    assert "saved as KZ-2" in reply_text(await submit())


@pytest.fixture
async def limited_teams(database_url: str, fake_connector: Any) -> AsyncIterator[TeamsDriver]:
    from aiohttp.test_utils import TestClient, TestServer

    from adapters.host.server import build_app

    runtime = Runtime.create(teams_settings(database_url, capture_limit_per_hour=1))
    async with TestClient(TestServer(build_app(runtime))) as client:
        yield TeamsDriver(client, fake_connector, runtime)


async def test_teams_form_at_the_limit_comes_back_filled_in(limited_teams: TeamsDriver) -> None:
    teams = limited_teams
    form = {"kaizen": "capture", "standard": "Changeover by hand", "problem": "40 minutes",
            "proposal": "SMED"}
    assert await teams.submit(form) == 201
    second = {**form, "proposal": "Prepare dies offline"}
    assert await teams.submit(second) == 201
    await teams.wait_for(lambda: any(
        s.card and "as many as one person can share in an hour" in str(s.card)
        for s in teams.fake.to(CHANNEL)))
    [card] = [s.card for s in teams.fake.to(CHANNEL)
              if s.card and "as many as one person" in str(s.card)]
    inputs = {i["id"]: i.get("value") for i in card["body"] if i["type"] == "Input.Text"}
    assert inputs["proposal"] == "Prepare dies offline"
    assert [i.proposal for i in await all_ideas(teams.runtime)] == ["SMED"]


# --- digest subscriptions ----------------------------------------------------------------------


async def digest_here(service: KaizenService, channel: str, workspace: str = "T0001",
                      args: str = "") -> str:
    result = await service.handle_message(MessageEvent(
        f"evt-{uuid.uuid4()}", UserRef("slack", workspace, MANAGER, "mia"),
        f"/kaizen digest {args or 'here'}", Place(channel)))
    return reply_text(result)


async def test_digest_subscriptions_per_workspace_are_capped(
    runtime: Runtime, clock: Clock, caplog: pytest.LogCaptureFixture,
) -> None:
    service = KaizenService(runtime.unit_of_work, clock=clock,
                            policy=replace(POLICY, digest_subscriptions_max=2))
    assert "gets the kaizen stand-up digest" in await digest_here(service, "C1")
    assert "gets the kaizen stand-up digest" in await digest_here(service, "C2")
    caplog.set_level(logging.WARNING, logger="bot.digest_commands")
    full = await digest_here(service, "C3")
    assert "already has 2 digest subscriptions" in full
    assert "KAIZEN_DIGEST_SUBSCRIPTIONS_MAX" in full and "/kaizen digest off" in full
    assert any("digest subscriptions: slack:T0001 has 2 (max 2)" in r.getMessage()
               for r in caplog.records)
    # Changing a channel that has one is always allowed; another workspace has its own count.
    changed = await digest_here(service, "C2", args="here 07:30 Europe/Berlin daily")
    assert "07:30 Europe/Berlin, daily" in changed
    assert "gets the kaizen stand-up digest" in await digest_here(service, "C9", "T_OTHER")
    assert "is off" in await digest_here(service, "C1", args="off")
    assert "gets the kaizen stand-up digest" in await digest_here(service, "C3")
    # One subscription follows at most 20 areas (each digest query filters by them).
    many = " ".join(f"#area{n}" for n in range(21))
    assert "A digest can follow up to 20 areas; you named 21" in await digest_here(
        service, "C3", args=f"here {many}")
    twenty = await digest_here(service, "C3", args=f"here {many.rsplit(' ', 1)[0]} #area0")
    assert "#area19" in twenty and "gets the kaizen stand-up digest" in twenty
    async with runtime.sessions() as session:
        channels = sorted(await session.scalars(
            select(DigestSubscriptionRow.channel_id).where(
                DigestSubscriptionRow.workspace == "T0001")))
        assert channels == ["C2", "C3"]
        assert await session.scalar(select(func.count()).select_from(
            DigestSubscriptionRow)) == 3
