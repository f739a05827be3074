"""Identities are scoped by platform everywhere: configured roles, processes and standards,
event ids, waiting deliveries, reactions. Each test fails on the code before the fix."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from pydantic import ValidationError

from adapters.host.runtime import Runtime
from adapters.host.settings import Settings
from bot.events import MessageEvent, ReactionEvent, UserRef
from bot.identity import identity_problem, parse_identity
from bot.service import KaizenService, utcnow
from bot.turn import Policy
from tests.conftest import Chat, Clock, all_ideas, get_idea, reply_text
from tests.machine import KAIZEN
from tests.teams_harness import PERSONAL, TeamsDriver

SHARED_ID = "T1"
"""A Slack team id and a Teams tenant id that happen to be equal."""


def chat_as(service: KaizenService, platform: str, user_id: str,
            workspace: str = SHARED_ID) -> Chat:
    return Chat(service, UserRef(platform, workspace, user_id, user_id.lower()))


@pytest.fixture
def policy_service(runtime: Runtime, clock: Clock) -> KaizenService:
    policy = Policy(admins=frozenset({"slack:U_BOSS"}), managers=frozenset({"slack:U_MGR"}))
    return KaizenService(runtime.unit_of_work, clock=clock, policy=policy)


# --- configured identities -----------------------------------------------------------------


@pytest.mark.parametrize(("entry", "hint"), [
    ("U123", "write slack:U123"),
    ("discord:U123", "unknown platform 'discord'"),
    ("slack:", "needs its platform"),
    ("slack:U 1", "needs its platform"),
])
def test_a_bare_or_unknown_identity_is_refused(entry: str, hint: str) -> None:
    with pytest.raises(ValidationError, match="KAIZEN_ADMINS") as raised:
        Settings(admins=entry, _env_file=None)
    assert hint in str(raised.value)
    assert identity_problem(entry, "KAIZEN_ADMINS") is not None


def test_identities_are_normalised() -> None:
    settings = Settings(managers=" Slack:U1 ,teams:7faf8ab2-3d56", admins="console:ana",
                        _env_file=None)
    assert settings.managers == ["slack:U1", "teams:7faf8ab2-3d56"]
    assert parse_identity("teams:29:1abc") == ("teams", "29:1abc")


def test_the_server_refuses_to_start_with_a_bare_id(cli_env: dict[str, str]) -> None:
    result = subprocess.run([KAIZEN, "db", "current"], capture_output=True, text=True,
                            env={**cli_env, "KAIZEN_MANAGERS": "U0123ABCD"}, timeout=60)
    assert result.returncode == 2
    assert "KAIZEN_MANAGERS entry 'U0123ABCD' needs its platform: write slack:U0123ABCD" in (
        result.stderr)
    assert "Traceback" not in result.stderr


async def test_a_configured_admin_cannot_be_impersonated_from_another_platform(
        policy_service: KaizenService, runtime: Runtime) -> None:
    # Someone on Teams whose id (and tenant) is spelled like the Slack admin's.
    await chat_as(policy_service, "teams", "U_AUTHOR").say(
        "/kaizen standard: s; problem: p; proposal: x")
    impostor = chat_as(policy_service, "teams", "U_BOSS")
    assert "role is member" in await impostor.text("/kaizen whoami")
    assert "only managers and admins" in await impostor.text("/kaizen approve KZ-1")
    assert "only admins" in await impostor.text("/kaizen managers add <@U_AUTHOR>")
    assert (await get_idea(runtime, 1)).status == "submitted"
    # The real admin decides on their own platform's ideas.
    await chat_as(policy_service, "slack", "U_AUTHOR").say(
        "/kaizen standard: s; problem: p; proposal: x")
    boss = chat_as(policy_service, "slack", "U_BOSS")
    assert "role is admin" in await boss.text("/kaizen whoami")
    assert "is now approved" in await boss.text("/kaizen approve KZ-2")


async def test_whoami_prints_the_exact_string_to_configure(
        policy_service: KaizenService) -> None:
    reply = await chat_as(policy_service, "slack", "U0123ABCD").text("/kaizen whoami")
    assert "Your identity: slack:U0123ABCD" in reply
    assert parse_identity("slack:U0123ABCD") == ("slack", "U0123ABCD")


async def test_managers_lists_only_this_platforms_configured_people(
        policy_service: KaizenService) -> None:
    slack_view = await chat_as(policy_service, "slack", "U_X").text("/kaizen managers")
    assert "slack:U_BOSS (admin, from configuration)" in slack_view
    teams_view = await chat_as(policy_service, "teams", "29:x").text("/kaizen managers")
    assert "U_BOSS" not in teams_view and "U_MGR" not in teams_view
    assert "Nobody can decide" in teams_view


async def test_teams_people_are_configured_by_their_entra_object_id(
        database_url: str, fake_connector: object) -> None:
    """``/kaizen whoami`` in Teams prints ``teams:<object id>``; pasted into KAIZEN_MANAGERS it
    makes that person a manager (their 29: id is never needed)."""
    from aiohttp.test_utils import TestClient, TestServer

    from adapters.host.server import build_app
    from tests.teams_harness import teams_settings

    aad = "0d2c9c3e-7f41-4a7e-9b3a-3f0b1c2d4e5f"

    async def session(managers: list[str]) -> TeamsDriver:
        runtime = Runtime.create(teams_settings(database_url, managers=managers))
        client = TestClient(TestServer(build_app(runtime)))
        await client.start_server()
        return TeamsDriver(client, fake_connector, runtime)  # type: ignore[arg-type]

    first = await session([])
    try:
        assert await first.personal("/kaizen whoami", user="29:mia", name="Mia",
                                    aad=aad) in {200, 201}
        await first.wait_for(lambda: any("Your identity" in t for t in first.texts(PERSONAL)))
    finally:
        await first.client.close()
    said = next(t for t in first.texts(PERSONAL) if "Your identity" in t)
    assert f"<b>Your identity</b>: teams:{aad}" in said and "role is member" in said

    second = await session([f"teams:{aad}"])
    try:
        await second.personal("/kaizen whoami", user="29:mia", name="Mia", aad=aad)
        await second.wait_for(lambda: sum("Your identity" in t
                                          for t in second.texts(PERSONAL)) >= 2)
    finally:
        await second.client.close()
    assert "role is manager" in [t for t in second.texts(PERSONAL) if "Your identity" in t][-1]


# --- processes and standards -----------------------------------------------------------------


async def test_processes_are_separate_per_platform_even_with_equal_workspace_ids(
        runtime: Runtime, clock: Clock) -> None:
    policy = Policy(managers=frozenset({"slack:U_MGR", "teams:29:mgr"}))
    service = KaizenService(runtime.unit_of_work, clock=clock, policy=policy)
    slack = chat_as(service, "slack", "U_ANA")
    teams = chat_as(service, "teams", "29:eve")
    await slack.say("/kaizen process: Expense claims; standard: paper; problem: slow; "
                    "proposal: app")
    await teams.say("/kaizen process: expense claims; standard: forged standard; "
                    "problem: p; proposal: x")
    # The Teams tenant got a process of its own, at version 1 with its own text...
    assert "forged standard" in await teams.text("/kaizen standard expense claims")
    assert "paper" not in await teams.text("/kaizen standard expense claims")
    # ...and implementing its idea writes no version of Slack's standard.
    manager = chat_as(service, "teams", "29:mgr")
    await manager.say("/kaizen approve KZ-2")
    assert "version 2" in await manager.text("/kaizen implemented KZ-2 new teams way")
    slack_view = await slack.text("/kaizen standard expense claims")
    assert "paper" in slack_view and "new teams way" not in slack_view
    assert "version 1" in slack_view
    async with runtime.unit_of_work() as uow:
        slack_process = await uow.standards.find("slack", SHARED_ID, "Expense claims")
        teams_process = await uow.standards.find("teams", SHARED_ID, "Expense claims")
        assert slack_process and teams_process and slack_process.id != teams_process.id
        assert [p.name for p in await uow.standards.all("slack", SHARED_ID)] == [
            "Expense claims"]


# --- event ids, deliveries, reactions ----------------------------------------------------------


async def test_the_same_event_id_in_two_workspaces_is_two_events(
        runtime: Runtime, service: KaizenService) -> None:
    for tenant in ("tenant-a", "tenant-b"):
        result = await service.handle_message(MessageEvent(
            "1700000000000", UserRef("teams", tenant, "29:x", "x"),
            "/kaizen standard: s; problem: p; proposal: x"))
        assert not result.duplicate
    assert len(await all_ideas(runtime)) == 2


async def test_a_personal_chat_wakes_only_its_own_workspaces_deliveries(
        runtime: Runtime) -> None:
    now = utcnow()
    async with runtime.unit_of_work() as uow:
        for tenant in ("tenant-a", "tenant-b"):
            await uow.outbox.add("teams", tenant, "message", {"user": "29:same"},
                                 {"text": tenant}, now.replace(year=now.year + 1))
        await uow.commit()
    async with runtime.unit_of_work() as uow:
        assert await uow.outbox.wake("teams", "tenant-a", "29:same", now) == 1
        await uow.commit()


async def test_a_reaction_from_another_platform_never_decides(
        runtime: Runtime, clock: Clock) -> None:
    policy = Policy(managers=frozenset({"slack:U_MGR", "teams:U_MGR"}))
    service = KaizenService(runtime.unit_of_work, clock=clock, policy=policy)
    await chat_as(service, "slack", "U_ANA").say("/kaizen standard: s; problem: p; proposal: x")
    result = await service.handle_reaction(ReactionEvent(
        f"r-{uuid.uuid4()}", UserRef("teams", SHARED_ID, "U_MGR"), 1, "+1", True))
    assert reply_text(result) == ""
    assert (await get_idea(runtime, 1)).status == "submitted"
