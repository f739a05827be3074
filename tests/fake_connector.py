"""A small fake Bot Connector service for tests: aiohttp on 127.0.0.1, recording activities.

Answers ``POST /v3/conversations/{id}/activities[/{activityId}]`` with a fresh id and
``PUT …/activities/{activityId}`` (update), and can be told to fail the next calls (429 with
``Retry-After``, 403, …).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Sent:
    method: str
    conversation_id: str
    activity_id: str | None
    activity: dict[str, Any]
    status: int = 200

    @property
    def text(self) -> str:
        return str(self.activity.get("text") or "")

    @property
    def card(self) -> dict[str, Any] | None:
        for attachment in self.activity.get("attachments") or []:
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                return attachment.get("content")
        return None


@dataclass
class FakeConnector:
    sent: list[Sent] = field(default_factory=list)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    url: str = ""
    _ids: Any = field(default_factory=lambda: itertools.count(1575667808184))
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", self._post)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._post)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._put)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.failures.extend([(status, headers)] * times)

    def ok(self) -> list[Sent]:
        return [s for s in self.sent if s.status < 300]

    def to(self, conversation_prefix: str) -> list[Sent]:
        return [s for s in self.ok() if s.conversation_id.startswith(conversation_prefix)]

    async def _record(self, request: web.Request, method: str) -> web.Response:
        sent = Sent(method, request.match_info["cid"], request.match_info.get("aid"),
                    await request.json())
        self.sent.append(sent)
        if self.failures:
            status, headers = self.failures.pop(0)
            sent.status = status
            return web.json_response({"error": {"code": "Throttled" if status == 429 else
                                                "BotNotInConversationRoster",
                                                "message": "fake failure"}},
                                     status=status, headers=headers)
        new_id = sent.activity_id if method == "PUT" else str(next(self._ids))
        return web.json_response({"id": new_id})

    async def _post(self, request: web.Request) -> web.Response:
        return await self._record(request, "POST")

    async def _put(self, request: web.Request) -> web.Response:
        return await self._record(request, "PUT")
