"""Slack set-up: the app manifest, Socket Mode, and the server with Slack switched off."""

from __future__ import annotations

import logging

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from adapters.host.runtime import Runtime
from adapters.host.server import build_app
from adapters.host.settings import Settings
from tests.conftest import all_ideas
from tests.fake_slack import APP_TOKEN, FakeSlack
from tests.paths import ROOT
from tests.slack_harness import IDEAS_CHANNEL, SlackDriver, payload, slack_settings

MANIFEST = ROOT / "adapters" / "slack" / "manifest.yaml"


def test_manifest_declares_what_the_bot_needs() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/kaizen" and command["url"].endswith("/slack/events")
    assert command["should_escape"] is True  # mentions arrive as <@U…> for `managers add`
    assert set(manifest["oauth_config"]["scopes"]["bot"]) >= {
        "commands", "chat:write", "im:write", "im:history", "reactions:read", "users:read",
        "app_mentions:read",
    }
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "message.im", "reaction_added", "reaction_removed", "app_mention"
    }
    assert settings["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_read_only_enabled"] is False


async def test_without_credentials_slack_is_not_mounted(database_url: str) -> None:
    runtime = Runtime.create(Settings(database_url=database_url))
    async with TestClient(TestServer(build_app(runtime))) as client:
        response = await client.post("/slack/events", data="{}")
        assert response.status in {404, 405}


@pytest.mark.parametrize(("given", "missing"), [
    ({"slack_bot_token": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
    ({"slack_signing_secret": "s3cret"}, "SLACK_BOT_TOKEN"),
])
async def test_half_a_slack_configuration_names_what_is_missing(
        database_url: str, caplog: pytest.LogCaptureFixture, given: dict[str, str],
        missing: str) -> None:
    runtime = Runtime.create(Settings(database_url=database_url, **given))
    with caplog.at_level(logging.INFO, logger="adapters.host.server"):
        async with TestClient(TestServer(build_app(runtime))) as client:
            assert (await client.post("/slack/events", data="{}")).status in {404, 405}
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"Slack: not mounted: {missing} is missing" in line for line in warned), warned


@pytest.mark.parametrize(("given", "says"), [
    ({"microsoft_app_id": "app"}, "MICROSOFT_APP_PASSWORD is missing"),
    ({"microsoft_app_password": "pw"}, "MICROSOFT_APP_ID is missing"),
    ({"microsoft_app_id": "app", "microsoft_app_password": "pw",
      "microsoft_app_type": "SingleTenant"}, "MICROSOFT_APP_TENANT_ID is missing"),
])
def test_half_a_teams_configuration_names_what_is_missing(given: dict[str, str],
                                                          says: str) -> None:
    from adapters.host.server import teams_credential_problems

    problems = teams_credential_problems(Settings(**given))
    assert len(problems) == 1 and says in problems[0]
    assert teams_credential_problems(Settings(microsoft_app_id="a", microsoft_app_password="p",
                                              microsoft_app_tenant_id="t")) == []


async def test_socket_mode_runs_the_same_handlers(database_url: str,
                                                  fake_slack: FakeSlack) -> None:
    settings = slack_settings(database_url, fake_slack.url, slack_app_token=APP_TOKEN)
    runtime = Runtime.create(settings)
    async with TestClient(TestServer(build_app(runtime))) as client:
        driver = SlackDriver(client, fake_slack, runtime)
        assert (await client.post("/slack/events", data="{}")).status in {404, 405}
        await driver.wait_for(lambda: fake_slack.socket_connected)

        command = {**payload("slash_command_kaizen"),
                   "text": "standard: by hand; problem: slow; proposal: use the app",
                   "trigger_id": "socket-trigger-1"}
        await fake_slack.push({"envelope_id": "env-1", "type": "slash_commands",
                               "accepts_response_payload": True, "payload": command})
        await driver.wait_for(lambda: any(a.get("envelope_id") == "env-1"
                                          for a in fake_slack.socket_acks))
        await driver.wait_for(lambda: len(driver.idea_posts()) == 1)
        [idea] = await all_ideas(runtime)
        assert (idea.standard, idea.proposal) == ("by hand", "use the app")

        event = payload("event_message_im")
        event["event"]["text"] = "/kaizen mine"
        await fake_slack.push({"envelope_id": "env-2", "type": "events_api",
                               "accepts_response_payload": False, "payload": event,
                               "retry_attempt": 0, "retry_reason": ""})
        await driver.wait_for(lambda: any("KZ-1" in c.dump and "Your last 1 idea" in c.dump
                                          and c.params.get("channel") == "D024BE91L"
                                          for c in fake_slack.of("chat.postMessage")))
        assert IDEAS_CHANNEL in {c.params.get("channel") for c in driver.idea_posts()}
