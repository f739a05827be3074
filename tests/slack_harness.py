"""Drive our real server with signed Slack requests and watch the fake Web API."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.signature import SignatureVerifier

from adapters.host.runtime import Runtime
from adapters.host.server import SLACK, build_app
from adapters.host.settings import Settings
from tests.conftest import ADMIN, MANAGER
from tests.delivery import drained
from tests.fake_slack import BOT_TOKEN, PAYLOADS, FakeSlack

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
IDEAS_CHANNEL = "C123ABC456"
AUTHOR = "U2147483697"
TEAM = "T0001"


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


class SlackDriver:
    """Sends what Slack would send, signed for real, and waits for what the bot sends back."""

    def __init__(self, client: TestClient, fake: FakeSlack, runtime: Runtime) -> None:
        self.client = client
        self.fake = fake
        self.runtime = runtime
        self._verifier = SignatureVerifier(SIGNING_SECRET)
        self._events = 0

    def _headers(self, body: str, content_type: str, timestamp: int | None = None,
                 extra: dict[str, str] | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self._verifier.generate_signature(timestamp=ts, body=body),
            **(extra or {}),
        }

    async def command(self, text: str, user: str = AUTHOR, channel: str = "C2147483705",
                      **overrides: str) -> Any:
        form = {**payload("slash_command_kaizen"), "text": text, "user_id": user,
                "channel_id": channel, "trigger_id": f"trigger-{time.time_ns()}", **overrides}
        body = urllib.parse.urlencode(form)
        response = await self.client.post(
            "/slack/events", data=body,
            headers=self._headers(body, "application/x-www-form-urlencoded"),
        )
        assert response.status == 200, await response.text()
        text = await response.text()
        return json.loads(text) if text.startswith("{") else {"text": text}

    async def event(self, envelope: dict[str, Any], headers: dict[str, str] | None = None,
                    signed_with: str | None = None, wait: bool = True) -> int:
        body = json.dumps(envelope)
        all_headers = self._headers(body, "application/json", extra=headers)
        if signed_with is not None:
            all_headers["X-Slack-Signature"] = SignatureVerifier(signed_with).generate_signature(
                timestamp=all_headers["X-Slack-Request-Timestamp"], body=body)
        response = await self.client.post("/slack/events", data=body, headers=all_headers)
        if wait:  # the ack comes before the turn: let the turn finish, as Slack's user would
            await self.turns_done()
        return response.status

    async def turns_done(self) -> None:
        """Until every acknowledged event's turn has run (see ``adapters.jobs.inbox``)."""
        await self.client.app[SLACK].inbox.idle()

    async def dm(self, text: str, user: str = AUTHOR, event_id: str | None = None,
                 headers: dict[str, str] | None = None, wait: bool = True,
                 **event: Any) -> int:
        self._events += 1
        envelope = payload("event_message_im")
        envelope["event_id"] = event_id or f"EvDM{self._events:06d}{time.time_ns()}"
        envelope["event"].update(text=text, user=user, channel=f"D{user}",
                                 ts=f"1355517523.{self._events:06d}", **event)
        return await self.event(envelope, headers, wait=wait)

    async def react(self, reaction: str, ts: str, user: str = MANAGER,
                    added: bool = True, event_id: str | None = None,
                    headers: dict[str, str] | None = None) -> int:
        self._events += 1
        envelope = payload("event_reaction_added")
        envelope["event_id"] = event_id or f"EvR{self._events:06d}{time.time_ns()}"
        envelope["event"].update(type="reaction_added" if added else "reaction_removed",
                                 user=user, reaction=reaction,
                                 item={"type": "message", "channel": IDEAS_CHANNEL, "ts": ts})
        return await self.event(envelope, headers)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 8.0) -> None:
        """Until the deliverer has sent what ``predicate`` looks for (no fixed sleeps)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                calls = [(c.method, c.params.get("channel")) for c in self.fake.calls]
                raise AssertionError(f"timed out; Slack calls so far: {calls}")
            await asyncio.sleep(0.02)

    async def idle(self) -> None:
        """Until every acknowledged event's turn ran and every queued delivery was attempted."""
        await self.turns_done()
        await drained(self.runtime)

    def posts_to(self, channel: str) -> list[Any]:
        return [c for c in self.fake.of("chat.postMessage") if c.params.get("channel") == channel]

    def idea_posts(self) -> list[Any]:
        return self.posts_to(IDEAS_CHANNEL)


def slack_settings(database_url: str, api_url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=database_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=api_url,
        managers=[f"slack:{MANAGER}"],
        admins=[f"slack:{ADMIN}"],
        ideas_channel=IDEAS_CHANNEL,
        **overrides,
    )


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(names={AUTHOR: "Steve", MANAGER: "Mia Manager"})
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def slack(database_url: str, fake_slack: FakeSlack) -> AsyncIterator[SlackDriver]:
    runtime = Runtime.create(slack_settings(database_url, fake_slack.url))
    async with TestClient(TestServer(build_app(runtime))) as client:
        yield SlackDriver(client, fake_slack, runtime)

