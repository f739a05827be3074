"""Signed Slack requests for another app or workspace are ignored, with one log line.

The signing secret is per app, not per workspace: an app installed in several workspaces (or
org-wide in Enterprise Grid) gets every workspace's events with the same secret, while the bot
token, its roles and its ideas channel belong to the workspace ``auth.test`` names."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from adapters.slack.workspace import PayloadScope, refusal
from storage.models import InboxRow, OutboxRow, PersonRow
from tests.conftest import all_ideas
from tests.slack_harness import AUTHOR, SlackDriver, payload

CAPTURE = "/kaizen standard: paper; problem: slow; proposal: app"


async def nothing_stored(slack: SlackDriver) -> bool:
    async with slack.runtime.sessions() as session:
        counts = [await session.scalar(select(func.count()).select_from(model))
                  for model in (InboxRow, OutboxRow, PersonRow)]
    return counts == [0, 0, 0] and await all_ideas(slack.runtime) == []


@pytest.mark.parametrize("change", [
    {"team_id": "T0OTHER"},
    {"api_app_id": "A0OTHER"},
])
async def test_an_event_for_another_workspace_or_app_is_ignored(
        slack: SlackDriver, caplog: pytest.LogCaptureFixture, change: dict[str, str]) -> None:
    caplog.set_level(logging.INFO)
    envelope = payload("event_message_im")
    envelope.update(event_id="EvOTHER1", **change)
    envelope["event"].update(text=CAPTURE, user=AUTHOR, channel=f"D{AUTHOR}")
    assert await slack.event(envelope) == 200  # acknowledged: Slack must not retry it
    await slack.idle()
    assert await nothing_stored(slack)
    assert slack.fake.of("chat.postMessage") == []
    ignored = [r for r in caplog.records if "Slack: ignoring" in r.getMessage()]
    assert len(ignored) == 1 and "message event" in ignored[0].getMessage()


async def test_a_slash_command_from_another_workspace_is_ignored(slack: SlackDriver) -> None:
    answer = await slack.command("standard: a; problem: b; proposal: c", team_id="T0OTHER")
    assert answer == {"text": ""}  # acknowledged, nothing said
    assert await nothing_stored(slack)


async def test_our_own_workspace_still_works(slack: SlackDriver) -> None:
    await slack.command("standard: a; problem: b; proposal: c")
    assert len(await all_ideas(slack.runtime)) == 1


@pytest.mark.parametrize(("body", "app", "team", "enterprise", "refused"), [
    ({"api_app_id": "A1", "team_id": "T1"}, "A1", "T1", None, False),
    ({"api_app_id": "A2", "team_id": "T1"}, "A1", "T1", None, True),
    ({"team_id": "T1"}, None, "T1", None, False),  # app unknown: the workspace still checked
    ({"team_id": "T2"}, None, "T1", None, True),
    ({}, "A1", "T1", None, True),  # no workspace at all
    ({"team": {"id": "T1"}, "api_app_id": "A1"}, "A1", "T1", None, False),  # interactivity
    ({"user": {"team_id": "T1"}}, None, "T1", None, False),
    # An org-wide install has no team: the enterprise decides.
    ({"team_id": "T7", "enterprise_id": "E1"}, None, None, "E1", False),
    ({"team_id": "T7", "enterprise": {"id": "E2"}}, None, None, "E1", True),
])
def test_which_payloads_are_ours(body: dict, app: str | None, team: str | None,  # type: ignore[type-arg]
                                 enterprise: str | None, refused: bool) -> None:
    assert (refusal(PayloadScope.of(body), app, team, enterprise) is not None) is refused
