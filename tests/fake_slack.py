"""A small fake of Slack's Web API for tests: aiohttp on 127.0.0.1, recording every call.

Answers what kaizen-bot uses (``auth.test``, ``conversations.open``, ``chat.postMessage`` with a
fresh ``ts``, ``chat.update``, ``chat.postEphemeral``, ``users.info``) and can be told to fail
the next calls of a method (429 with ``Retry-After``, 500, …).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.paths import PAYLOADS

BOT_TOKEN = "xoxb-kaizen-test-token"
APP_TOKEN = "xapp-1-kaizen-test-token"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200

    @property
    def dump(self) -> str:
        return json.dumps(self.params, ensure_ascii=False)


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = field(
        default_factory=dict
    )
    stalls: dict[str, list[float]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    _ts: int = 0
    _runner: web.AppRunner | None = None
    url: str = ""
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _port: int = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        app.router.add_get("/link", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._port = port
        self.url = f"http://127.0.0.1:{port}/api/"
        return self.url

    async def stop(self) -> None:
        for socket in self._sockets:
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, method: str, status: int = 429, times: int = 1,
                  retry_after: str = "0", error: str = "ratelimited") -> None:
        headers = {"Retry-After": retry_after} if status == 429 else {}
        self.failures.setdefault(method, []).extend(
            [(status, headers, {"ok": False, "error": error})] * times
        )

    def stall_next(self, method: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` hang for ``seconds`` (recorded as status 0:
        the client has given up by the time an answer would come)."""
        self.stalls.setdefault(method, []).extend([seconds] * times)

    def of(self, method: str) -> list[Call]:
        """Calls of ``method`` that succeeded (failed attempts are in :attr:`calls` too)."""
        return [call for call in self.calls if call.method == method and call.status == 200]

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update(dict(await request.post()))
        call = Call(method, params)
        self.calls.append(call)
        stalls = self.stalls.get(method)
        if stalls:
            call.status = 0
            await asyncio.sleep(stalls.pop(0))
            return web.json_response({"ok": False, "error": "too_late"})
        pending = self.failures.get(method)
        if pending:
            status, headers, body = pending.pop(0)
            call.status = status
            return web.json_response(body, status=status, headers=headers)
        return web.json_response(self._answer(method, params))

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self._port}/link"}
        if method == "auth.test":
            return json.loads((PAYLOADS / "webapi_auth_test_bot.json").read_text())
        if method == "bots.info":
            return {"ok": True, "bot": {"id": params.get("bot"), "app_id": "A123ABC456",
                                        "name": "kaizen"}}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": f"D{params.get('users', 'X')}"}}
        if method in {"chat.postMessage", "chat.update"}:
            self._ts += 1
            ts = params.get("ts") or f"1360782400.{498405 + self._ts:06d}"
            return {"ok": True, "channel": params.get("channel"), "ts": ts,
                    "message": {"text": params.get("text"), "ts": ts}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": "1502210682.580145"}
        if method == "users.info":
            user = str(params.get("user"))
            name = self.names.get(user, user.lower())
            return {"ok": True, "user": {"id": user, "name": name, "real_name": name,
                                         "profile": {"display_name": name}}}
        return {"ok": True}

    # --- Socket Mode: a WebSocket that pushes envelopes and records the acks ------------------

    @property
    def socket_connected(self) -> bool:
        return any(not socket.closed for socket in self._sockets)

    async def push(self, envelope: dict[str, Any]) -> None:
        socket = next(s for s in self._sockets if not s.closed)
        await socket.send_str(json.dumps(envelope))

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                          "connection_info": {"app_id": "A123ABC456"}}))
        async for message in socket:
            if message.type == web.WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
        return socket
