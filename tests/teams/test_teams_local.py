"""Teams local mode is never an open door: off unless asked for, loopback peers only, replies
only to this machine. Each test here fails on the code before the trust-boundaries fix."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from adapters.host.runtime import Runtime
from adapters.host.server import TEAMS, build_app
from adapters.host.settings import Settings
from adapters.teams.local import is_loopback_host, is_loopback_url, local_refusal
from bot.service import utcnow
from storage.models import OutboxRow
from tests.conftest import all_ideas
from tests.fake_connector import FakeConnector
from tests.teams_harness import PERSONAL, TeamsDriver, teams_payload


async def _post_messages(settings: Settings) -> int:
    async with TestClient(TestServer(build_app(Runtime.create(settings)))) as client:
        response = await client.post("/api/messages", json=teams_payload("message_activity"))
        return response.status


async def test_only_slack_configured_means_no_teams_endpoint(
        database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    settings = Settings(database_url=database_url, slack_bot_token="xoxb-1",
                        slack_signing_secret="s" * 32)
    assert await _post_messages(settings) == 404
    assert "KAIZEN_TEAMS_LOCAL=true" in caplog.text  # the start-up log says how to enable it


async def test_nothing_configured_and_no_opt_in_means_404(database_url: str) -> None:
    assert await _post_messages(Settings(database_url=database_url, _env_file=None)) == 404


async def test_app_id_wins_over_local_mode(database_url: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(database_url=database_url, teams_local=True,
                        microsoft_app_id="c9e8c047-2a74-40a2-b28a-b162d5f5327c")
    assert not settings.teams_local_mode
    # An unsigned activity is refused: the token is validated, local mode is off.
    assert await _post_messages(settings) == 401
    assert "KAIZEN_TEAMS_LOCAL is ignored" in caplog.text


@pytest.mark.parametrize("header", [
    {"X-Forwarded-For": "203.0.113.9"},
    {"Forwarded": "for=203.0.113.9;proto=https"},
    {"X-Real-IP": "203.0.113.9"},
    {"Via": "1.1 proxy"},
    # A page in the developer's browser (no CORS preflight for a "simple" request)...
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Mode": "no-cors"},
    # ...or reaching us by DNS rebinding (its own name resolving to 127.0.0.1).
    {"Host": "rebound.evil.example:3978"},
])
async def test_local_mode_refuses_relayed_requests(teams: TeamsDriver,
                                                   header: dict[str, str]) -> None:
    """A reverse proxy on this machine makes every outside client a loopback peer."""
    status = await teams.post(teams._activity("message_activity", text="/kaizen managers"),
                              headers=header)
    assert status == 403
    await teams.idle()
    assert teams.fake.sent == []
    async with teams.runtime.sessions() as session:
        assert (await session.scalars(select(OutboxRow))).all() == []


async def test_a_simple_cross_site_content_type_is_415(teams: TeamsDriver) -> None:
    """``text/plain; x=application/json`` is what a browser form or fetch sends without a
    preflight: only a real ``application/json`` body is read."""
    activity = teams._activity("message_activity", text="/kaizen whoami")
    response = await teams.client.post(
        "/api/messages", data=json.dumps(activity),
        headers={"Content-Type": "text/plain; x=application/json"})
    assert response.status == 415
    await teams.idle()
    assert teams.fake.sent == []


async def test_local_mode_refuses_a_peer_that_is_not_loopback(
        database_url: str, fake_connector: FakeConnector) -> None:
    """Served on a Unix socket the peer has no loopback address: refused, nothing stored."""
    runtime = Runtime.create(Settings(database_url=database_url, teams_local=True))
    app = build_app(runtime)
    runner = web.AppRunner(app)
    await runner.setup()
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "kaizen.sock")
        site = web.UnixSite(runner, path)
        await site.start()
        try:
            activity = teams_payload("message_activity")
            activity.update(serviceUrl=fake_connector.url, text="/kaizen", id="unix-1")
            connector = aiohttp.UnixConnector(path=path)
            async with aiohttp.ClientSession(connector=connector) as session, \
                    session.post("http://localhost/api/messages", json=activity) as response:
                status = response.status
        finally:
            await runner.cleanup()
    assert status == 403
    assert await all_ideas(runtime) == []
    assert fake_connector.sent == []


async def test_local_mode_refuses_non_loopback_service_urls(teams: TeamsDriver) -> None:
    activity = teams._activity("message_activity", serviceUrl="https://attacker.example/")
    assert await teams.post(activity) == 403
    assert await all_ideas(teams.runtime) == []
    assert teams.fake.sent == []


async def test_local_mode_never_sends_to_a_service_url_elsewhere(teams: TeamsDriver) -> None:
    """A reference stored earlier (or forged into the database) cannot make the bot POST
    anywhere but this machine: the row is given up, the connector never called."""
    reference = {"serviceUrl": "http://kaizen-ssrf-target.invalid:9/",
                 "conversation": {"id": PERSONAL}, "channelId": "msteams",
                 "bot": {"id": "28:bot"}, "user": {"id": "29:someone"}}
    async with teams.runtime.unit_of_work() as uow:
        await uow.outbox.add("teams", "tenant", "message", {"ref": reference},
                             {"text": "hello", "kind": "info"}, utcnow())
        await uow.commit()
    teams.client.app[TEAMS].deliverer.kick()
    await teams.idle()
    async with teams.runtime.sessions() as session:
        row = (await session.scalars(select(OutboxRow))).one()
    assert row.status != "sent" and "only to a serviceUrl on this machine" in (
        row.last_error or "")
    assert teams.fake.sent == []


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.9.8.7", True), ("::1", True), ("[::1]", True),
    ("::ffff:127.0.0.1", True), ("localhost", True), ("LOCALHOST", True),
    ("192.0.2.2", False), ("10.0.0.1", False), ("::ffff:10.0.0.1", False), ("", False),
    (None, False), ("localhost.attacker.example", False), ("127.0.0.1.nip.io", False),
])
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:56000/", True), ("https://localhost/x", True),
    ("http://[::1]:3978", True), ("ftp://127.0.0.1/", False), ("file:///etc/passwd", False),
    ("http://user@attacker.example@127.0.0.1/", True),
    ("http://127.0.0.1@attacker.example/", False), ("http://[::1/", False), (None, False),
])
def test_loopback_urls(url: str | None, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_local_refusal_reasons() -> None:
    ok, here = "http://127.0.0.1:1/", {"Host": "127.0.0.1:3978"}
    assert local_refusal("127.0.0.1", here, ok) is None
    assert local_refusal("::1", {"Host": "localhost:3978"}, ok) is None
    assert "not on this machine" in (local_refusal("203.0.113.5", here, ok) or "")
    assert "not on this machine" in (local_refusal(None, here, ok) or "")
    assert "relayed" in (local_refusal("::1", {**here, "Forwarded": "for=x"}, ok) or "")
    assert "relayed" in (local_refusal("::1", {**here, "Via": "1.1 nginx"}, ok) or "")
    assert "browser" in (local_refusal("::1", {**here, "Origin": "null"}, ok) or "")
    assert "Host" in (local_refusal("127.0.0.1", {"Host": "rebound.example:3978"}, ok) or "")
    assert "Host" in (local_refusal("127.0.0.1", {}, ok) or "")
    assert "serviceUrl" in (local_refusal("127.0.0.1", here, "https://evil.example") or "")


@pytest.mark.parametrize("drop", ["from", "conversation"])
async def test_an_activity_without_sender_or_conversation_is_400(teams: TeamsDriver,
                                                               drop: str) -> None:
    activity = teams._activity("message_activity", text="/kaizen")
    activity.pop(drop)
    assert await teams.post(activity) == 400
    assert await all_ideas(teams.runtime) == []
