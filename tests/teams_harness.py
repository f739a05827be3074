"""Drive our real server with Teams activities over HTTP and watch the fake Bot Connector."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.host.runtime import Runtime
from adapters.host.server import build_app
from adapters.host.settings import Settings
from tests.delivery import drained
from tests.fake_connector import FakeConnector
from tests.fake_slack import PAYLOADS

MEGAN = "29:1XJKJMvc5GBtc2JwZq0oj8tHZmzrQgFmB39ATiQWA85gQtHieVkKilBZ9XHoq9j7Zaqt7CZ-NJWi7me2kHTL3Bw"
TEAMS_MANAGER = (
    "29:1I9Is_Sx0O-Iy2rQ7Xz1lcaPKlO9eqmBRTBuW6XzkFtcjqxTjPaCMij8BVMdBcL9L_RwWNJyAHFQb0TRzXgyQvA"
)
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CHANNEL = "19:3629591d4b774aa08cb0887902eee7c1@thread.skype"
PERSONAL = "a:17I0kl9E"


def teams_payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"teams_{name}.json").read_text())


class TeamsDriver:
    def __init__(self, client: TestClient, fake: FakeConnector, runtime: Runtime) -> None:
        self.client = client
        self.fake = fake
        self.runtime = runtime

    async def post(self, activity: dict[str, Any], headers: dict[str, str] | None = None,
                   raw: str | None = None) -> int:
        body = raw if raw is not None else json.dumps(activity)
        response = await self.client.post(
            "/api/messages", data=body,
            headers={"Content-Type": "application/json", **(headers or {})})
        return response.status

    def _activity(self, name: str, **changes: Any) -> dict[str, Any]:
        activity = copy.deepcopy(teams_payload(name))
        activity["serviceUrl"] = self.fake.url
        activity["id"] = changes.pop("id", None) or f"act-{uuid.uuid4()}"
        activity.update(changes)
        return activity

    async def personal(self, text: str, user: str = MEGAN, name: str = "Megan Bowen",
                       aad: str | None = None, **changes: Any) -> int:
        activity = self._activity("message_activity", text=text, **changes)
        activity["from"] = {"id": user, "name": name, **({"aadObjectId": aad} if aad else {})}
        # The real payload id (about 150 characters) plus a per-person suffix.
        activity["conversation"]["id"] = f"{activity['conversation']['id']}-{user[-6:]}"
        return await self.post(activity)

    async def channel(self, text: str, user: str = MEGAN, **changes: Any) -> int:
        activity = self._activity("message_activity_channel_mention", **changes)
        activity["text"] = f"<at>Kaizen Bot</at> {text}"
        activity["from"] = {"id": user, "name": "Megan Bowen" if user == MEGAN else "Mia"}
        return await self.post(activity)

    async def submit(self, value: dict[str, Any], user: str = MEGAN,
                     conversation: str | None = None, **changes: Any) -> int:
        activity = self._activity("message_activity_channel_mention", **changes)
        activity.pop("text", None)
        activity["entities"] = []
        activity["value"] = value
        activity["from"] = {"id": user, "name": "Megan Bowen" if user == MEGAN else "Mia"}
        if conversation:
            activity["conversation"]["id"] = conversation
        return await self.post(activity)

    async def react(self, kind: str, reply_to: str, user: str = TEAMS_MANAGER,
                    added: bool = True, **changes: Any) -> int:
        activity = self._activity("message_reaction_activity", replyToId=reply_to, **changes)
        activity.pop("reactionsAdded", None)
        activity["reactionsAdded" if added else "reactionsRemoved"] = [{"type": kind}]
        activity["from"] = {"id": user}
        return await self.post(activity)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 8.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                seen = [(s.method, s.conversation_id[:12], s.text[:40] or bool(s.card))
                        for s in self.fake.sent]
                raise AssertionError(f"timed out; connector saw {seen}")
            await asyncio.sleep(0.02)

    async def idle(self) -> None:
        await drained(self.runtime)

    def texts(self, conversation_prefix: str = PERSONAL) -> list[str]:
        return [s.text for s in self.fake.to(conversation_prefix)]

    def cards(self, conversation_prefix: str = CHANNEL) -> list[Any]:
        return [s for s in self.fake.to(conversation_prefix) if s.card]


def teams_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"managers": [f"teams:{TEAMS_MANAGER}"],
                              "teams_local": not overrides.get("microsoft_app_id"),
                              **overrides}
    return Settings(database_url=database_url, **values)


@pytest.fixture
async def fake_connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def teams(database_url: str, fake_connector: FakeConnector) -> AsyncIterator[TeamsDriver]:
    runtime = Runtime.create(teams_settings(database_url))
    async with TestClient(TestServer(build_app(runtime))) as client:
        yield TeamsDriver(client, fake_connector, runtime)
