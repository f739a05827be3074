"""Robustness: retry storms, every action against every role, malformed requests."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from sqlalchemy import func, select

from bot.events import MessageEvent, Place, ReactionEvent, UserRef
from bot.service import KaizenService
from bot.turn import Policy
from storage.models import IdeaRow, ProcessedEventRow
from tests.conftest import all_ideas
from tests.paths import PAYLOADS
from tests.slack_harness import SlackDriver, payload
from tests.teams_harness import TeamsDriver

UNIQUE = 700
REDELIVERED = 300


async def test_a_storm_of_retried_events_leaves_exactly_the_unique_effects(
    slack: SlackDriver,
) -> None:
    """1,000 signed events, 30 % of them re-deliveries (same event_id, X-Slack-Retry-Num
    1-3), shuffled and sent concurrently: one idea per unique event, nothing more."""
    unique = []
    for n in range(UNIQUE):
        envelope = payload("event_message_im")
        envelope["event_id"] = f"EvStorm{n:05d}"
        user = f"U{n % 40:04d}"
        envelope["event"].update(
            user=user, channel=f"D{user}", ts=f"1355517523.{n:06d}",
            text=f"/kaizen standard: s{n}; problem: p{n}; proposal: storm idea {n}")
        unique.append(envelope)
    rng = random.Random(11)
    deliveries = [(e, {}) for e in unique] + [
        (rng.choice(unique), {"X-Slack-Retry-Num": str(rng.randint(1, 3)),
                              "X-Slack-Retry-Reason": "http_timeout"})
        for _ in range(REDELIVERED)
    ]
    rng.shuffle(deliveries)
    gate = asyncio.Semaphore(64)

    async def send(envelope: dict, headers: dict) -> int:
        async with gate:
            return await slack.event(envelope, headers=headers)

    statuses = await asyncio.gather(*(send(e, h) for e, h in deliveries))
    assert set(statuses) == {200}
    ideas = await all_ideas(slack.runtime)
    assert len(ideas) == UNIQUE
    assert sorted(i.proposal for i in ideas) == sorted(f"storm idea {n}" for n in range(UNIQUE))
    async with slack.runtime.sessions() as session:
        assert await session.scalar(
            select(func.count()).select_from(ProcessedEventRow)) == UNIQUE


# --- authorization: every action x role, whatever the route -----------------------------------

MEMBER, AUTHOR, MANAGER, ADMIN = "U_MEMBER", "U_AUTHOR", "U_MANAGER", "U_ADMIN"
POLICY = Policy(managers=frozenset({f"slack:{MANAGER}"}), admins=frozenset({f"slack:{ADMIN}"}))
DECIDING = ["approve KZ-{id}", "reject KZ-{id} no", "duplicate KZ-{id} KZ-1", "start KZ-{id}",
            "implemented KZ-{id} process: P"]
CONFIGURING = ["managers add <@U_X>", "managers remove <@{manager}>", "ideas here",
               "digest here 09:00 UTC"]


async def _turn(service: KaizenService, user: str, text: str, n: list[int]) -> str:
    n[0] += 1
    result = await service.handle_message(MessageEvent(
        f"authz-{n[0]}", UserRef("slack", "T0001", user, user.lower()), text, Place("C_CHAN")))
    return " ".join(r.text for r in result.replies)


async def test_no_member_can_decide_grant_or_configure(runtime: object) -> None:
    service = KaizenService(runtime.unit_of_work, policy=POLICY)  # type: ignore[attr-defined]
    n = [0]
    await _turn(service, AUTHOR, "/kaizen standard: s; problem: p; proposal: first", n)
    for who in (MEMBER, AUTHOR):
        for template in DECIDING:
            await _turn(service, AUTHOR, "/kaizen standard: s; problem: p; proposal: x", n)
            idea_id = len(await all_ideas(runtime))  # type: ignore[arg-type]
            reply = await _turn(service, who, f"/kaizen {template.format(id=idea_id)}", n)
            assert "Sorry, only managers and admins" in reply, (who, template)
            assert (await _status(runtime, idea_id)) == "submitted", (who, template)
            # the same decision by reaction is at most support
            result = await service.handle_reaction(ReactionEvent(
                f"authz-r{n[0]}", UserRef("slack", "T0001", who, who.lower()), idea_id,
                "white_check_mark"))
            assert result.notifications == []
            assert (await _status(runtime, idea_id)) == "submitted"
        for template in CONFIGURING:
            reply = await _turn(service, who, f"/kaizen {template.format(manager=MANAGER)}", n)
            assert "Sorry, only" in reply, (who, template)
    async with runtime.unit_of_work() as uow:  # type: ignore[attr-defined]
        assert await uow.channels.get("slack", "T0001", "ideas") is None
        assert await uow.digests.all() == []
        assert [p.user_id for p in await uow.people.with_roles("slack", "T0001",
                                                                 {"manager", "admin"})] == []


@pytest.mark.parametrize("who", [MANAGER, ADMIN])
async def test_deciders_can_decide_and_only_admins_grant(runtime: object, who: str) -> None:
    service = KaizenService(runtime.unit_of_work, policy=POLICY)  # type: ignore[attr-defined]
    n = [0]
    await _turn(service, AUTHOR, "/kaizen standard: s; problem: p; proposal: x", n)
    assert "is now approved" in await _turn(service, who, "/kaizen approve KZ-1", n)
    assert "posted in this channel" in await _turn(service, who, "/kaizen ideas here", n)
    granted = await _turn(service, who, "/kaizen managers add <@U_X>", n)
    assert ("is now a manager" in granted) == (who == ADMIN)


async def _status(runtime: object, idea_id: int) -> str:
    async with runtime.sessions() as session:  # type: ignore[attr-defined]
        return str(await session.scalar(select(IdeaRow.status).where(IdeaRow.id == idea_id)))


async def test_teams_card_button_by_a_member_changes_nothing(teams: TeamsDriver) -> None:
    await teams.channel("kaizen standard: a; problem: b; proposal: c")
    await teams.idle()
    assert await teams.submit({"kaizen": "approve", "idea_id": 1}) == 201
    assert await teams.submit({"kaizen": "reject", "idea_id": 1, "reason": "x"}) == 201
    await teams.idle()
    assert (await _status(teams.runtime, 1)) == "submitted"


# --- malformed requests: 4xx, nothing stored -----------------------------------------------


@pytest.mark.parametrize(("body", "content_type"), [
    ("{not json", "application/json"),
    ("[]", "application/json"),
    ('{"type": "event_callback"}', "application/json"),
    ("payload=%7Bbroken", "application/x-www-form-urlencoded"),
    ("\x00\x01\x02", "application/octet-stream"),
])
async def test_malformed_slack_requests_are_refused_and_store_nothing(
    slack: SlackDriver, body: str, content_type: str
) -> None:
    headers = slack._headers(body, content_type)
    response = await slack.client.post("/slack/events", data=body.encode(), headers=headers)
    assert 400 <= response.status < 500
    async with slack.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEventRow)) == 0
    assert await all_ideas(slack.runtime) == []


@pytest.mark.parametrize("header", ["Bearer", "Bearer a.b", "Bearer a.b.c", "Negotiate xyz",
                                    "Bearer " + "x" * 5000])
async def test_malformed_authorization_on_teams_is_401_not_500(database_url: str,
                                                               header: str) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from adapters.host.runtime import Runtime
    from adapters.host.server import build_app
    from adapters.host.settings import Settings

    runtime = Runtime.create(Settings(database_url=database_url,
                                      microsoft_app_id="c9e8c047-2a74-40a2-b28a-b162d5f5327c",
                                      microsoft_app_password="x"))
    async with TestClient(TestServer(build_app(runtime))) as client:
        activity = json.loads((PAYLOADS /
                               "teams_message_activity.json").read_text())
        response = await client.post("/api/messages", data=json.dumps(activity), headers={
            "Content-Type": "application/json", "Authorization": header})
        assert response.status == 401
    assert await all_ideas(runtime) == []
