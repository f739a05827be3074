"""Odd requests over real sockets into our real server: stalled bodies, absurdly nested JSON,
out-of-range paging. Each gets a clear 4xx, never a hung connection, a 500 or a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import time
import urllib.parse
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from adapters.host.request_limits import MAX_JSON_DEPTH, json_nesting_exceeds
from adapters.host.runtime import Runtime
from adapters.host.server import SLACK, build_app
from adapters.host.settings import Settings
from bot.events import MessageEvent, Place, UserRef
from bot.service import KaizenService
from tests.conftest import POLICY
from tests.fake_slack import BOT_TOKEN, FakeSlack
from tests.machine import KAIZEN
from tests.slack_harness import SIGNING_SECRET
from tests.teams_harness import teams_settings

DEADLINE = 0.5
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def server(database_url: str, fake_slack: FakeSlack) -> AsyncIterator[TestServer]:
    """Slack, Teams (local mode) and the board mounted, bodies due within 0.5 s."""
    runtime = Runtime.create(teams_settings(
        database_url, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.url, request_body_timeout_seconds=DEADLINE))
    async with TestServer(build_app(runtime)) as test_server:
        yield test_server


async def _raw(server: TestServer, request: bytes, rest: list[bytes] | None = None,
               pause: float = 0.0) -> tuple[bytes, float]:
    """Send ``request`` on a fresh TCP connection (then each of ``rest`` after ``pause``) and
    read until the server closes it; returns what came back and how long the close took."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        started = loop.time()
        writer.write(request)
        await writer.drain()
        for part in rest or []:
            await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=6)  # until the server closes
        return answer, loop.time() - started
    finally:
        writer.close()


def _head(method: str, path: str, length: int, content_type: str) -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode()


@pytest.mark.parametrize(("method", "path", "content_type"), [
    ("POST", "/slack/events", "application/x-www-form-urlencoded"),
    ("POST", "/api/messages", "application/json"),
    ("POST", "/export.csv", "text/plain"),  # a route that never reads a body
    ("POST", "/no/such/route", "application/json"),
])
async def test_a_stalled_body_gets_408_and_the_connection_is_closed(
    server: TestServer, caplog: pytest.LogCaptureFixture, method: str, path: str,
    content_type: str,
) -> None:
    """Headers announce 100 bytes, 10 arrive, then nothing: 408 after the deadline, and the
    server closes the connection instead of waiting for the other 90."""
    caplog.set_level(logging.WARNING, logger="adapters.host.server")
    answer, took = await _raw(server, _head(method, path, 100, content_type) + b'{"type": "m')
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"request body did not arrive within 0.5 s" in answer
    assert DEADLINE * 0.9 <= took < 3, took
    assert any(f"request body for {method} {path} from 127.0.0.1 did not arrive within 0.5 s"
               in r.getMessage() for r in caplog.records)


async def test_a_body_that_trickles_in_before_the_deadline_is_served(server: TestServer) -> None:
    body = b'{"text": "no type here", "serviceUrl": "http://127.0.0.1:9/"}'
    answer, _ = await _raw(server, _head("POST", "/api/messages", len(body), "application/json")
                           + body[:20], [body[20:40], body[40:]], pause=0.1)
    # Read in full and judged on its content (no type: 400), not refused as late.
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"activity has no type" in answer


# --- absurdly nested JSON ------------------------------------------------------------------------


def _nested(depth: int, balanced: bool = True, kind: str = "[") -> str:
    opener, closer = (("[", "]") if kind == "[" else ('{"a":', "}"))
    return opener * depth + ("0" + closer * depth if balanced else "")


def _assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert record.exc_info is None, f"{record.name}: {record.getMessage()}"
        assert "Traceback" not in record.getMessage(), record.getMessage()


DEPTHS = [100_000, 5_000, 990, 930, 900, 500]
UNPARSEABLE = 990
"""From here json.loads, called a few dozen frames deep, exceeds the recursion limit (1000)."""


@pytest.mark.parametrize("depth", DEPTHS)
async def test_deeply_nested_json_to_teams_is_a_400_without_a_traceback(
    server: TestServer, caplog: pytest.LogCaptureFixture, depth: int,
) -> None:
    """Python's json raises RecursionError past ~1,000 levels; whatever the depth, the
    answer is a 4xx and nothing is logged with a traceback."""
    caplog.set_level(logging.DEBUG)
    bodies = [
        "[" * depth,
        _nested(depth, balanced=False, kind="{"),
        _nested(depth),
        '{"type": "message", "serviceUrl": "https://evil.example/", "value": '
        f"{_nested(depth, kind='{')}}}",
    ]
    async with ClientSession() as session:
        for body in bodies:
            async with session.post(server.make_url("/api/messages"), data=body,
                                    headers={"Content-Type": "application/json"}) as response:
                assert 400 <= response.status < 500, (depth, body[:40], response.status)
                if body.startswith("[" * 3) or depth >= UNPARSEABLE:
                    assert response.status == 400, (depth, body[:40])
    _assert_no_traceback(caplog)


def _signed(body: str, content_type: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": SignatureVerifier(SIGNING_SECRET).generate_signature(
                timestamp=timestamp, body=body)}


@pytest.mark.parametrize("depth", DEPTHS)
async def test_deeply_nested_json_to_slack_is_a_400_without_a_traceback(
    server: TestServer, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture, depth: int,
) -> None:
    """Slack's interactivity bodies are form-encoded with a JSON ``payload`` that bolt parses
    (before it checks the signature); Events API bodies are JSON. Signed or not, a nesting
    json cannot parse is a 400; one it can parse is routed or refused as usual; never a
    traceback, and nothing reaches Slack."""
    caplog.set_level(logging.DEBUG)
    envelope = {"type": "event_callback", "team_id": "T0001", "event_id": f"EvDeep{depth}",
                "event": {"type": "message", "channel_type": "im", "user": "U1", "text": "hi",
                          "channel": "DU1", "ts": "1.1", "blocks": "DEEP"}}
    deep = _nested(min(depth, 20_000), kind="{")  # form-encoded, 100,000 would pass 1 MiB
    requests = [
        (urllib.parse.urlencode({"payload": "[" * depth}), FORM),
        (urllib.parse.urlencode({"payload": deep}), FORM),
        (urllib.parse.urlencode({"payload": json.dumps({"type": "block_actions"})[:-1]
                                 + f', "x": {deep}}}'}), FORM),
        ('{"a":' * depth, "application/json"),
        (json.dumps(envelope).replace('"DEEP"', deep), "application/json"),
    ]
    async with ClientSession() as session:
        for body, content_type in requests:
            for headers in ({"Content-Type": content_type}, _signed(body, content_type)):
                async with session.post(server.make_url("/slack/events"), data=body,
                                        headers=headers) as response:
                    status = response.status
                assert status != 500, (depth, body[:60], headers.keys())
                if depth >= UNPARSEABLE:
                    assert status == 400, (depth, body[:60], status)
    await server.app[SLACK].inbox.idle()  # acknowledged events' turns have run
    _assert_no_traceback(caplog)
    if depth >= UNPARSEABLE:
        assert fake_slack.of("chat.postMessage") == []


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:é', max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(alphabet='[]{}"a', max_size=4), inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(value=JSON_VALUES, limit=st.integers(min_value=0, max_value=8))
def test_json_nesting_is_measured_exactly_without_parsing(value: object, limit: int) -> None:
    """Brackets inside strings (escaped quotes too) do not count; any shape, any limit."""
    text = json.dumps(value, ensure_ascii=bool(limit % 2))
    assert json_nesting_exceeds(text, limit) == (_depth(value) > limit)


def test_json_nesting_check_is_cheap_on_the_largest_allowed_body() -> None:
    """A 1 MiB body is the most anyone can send; even built to make the check work hardest
    it costs about what parsing it would (tens of milliseconds, not seconds)."""
    worst = [("[" * 64 + "]" * 64 + ",") * 8000, "[" + "[]," * 349_000 + "[]]",
             "[" * 1_048_576, json.dumps(["[[{{" * 200] * 1200)]
    started = time.perf_counter()
    assert [json_nesting_exceeds(text, MAX_JSON_DEPTH) for text in worst] == [
        False, False, True, False]
    assert time.perf_counter() - started < 3.0


async def test_json_nested_past_the_limit_is_refused_before_any_parser_sees_it(
    server: TestServer, caplog: pytest.LogCaptureFixture,
) -> None:
    """65 levels is a 400 on every route and content type a parser would read; 64 is
    served as usual (here: Teams' own 'activity has no type', Slack's signature check)."""
    caplog.set_level(logging.WARNING, logger="adapters.host.request_limits")
    deep, fine = (f'{{"x": {_nested(n - 1)}}}' for n in (MAX_JSON_DEPTH + 1, MAX_JSON_DEPTH))
    async with ClientSession() as session:

        async def post(path: str, body: str, content_type: str) -> tuple[int, str]:
            async with session.post(server.make_url(path), data=body,
                                    headers={"Content-Type": content_type}) as response:
                return response.status, await response.text()

        for path, content_type, wrap in (
            ("/api/messages", "application/json", lambda b: b),
            ("/slack/events", "application/json", lambda b: b),
            ("/slack/events", "text/plain", lambda b: b),  # bolt reads "{…" as JSON anyway
            ("/slack/events", FORM, lambda b: urllib.parse.urlencode({"payload": b})),
            ("/slack/events", "text/plain", lambda b: urllib.parse.urlencode({"payload": b})),
            ("/api/ideas", "application/json", lambda b: b),
        ):
            status, text = await post(path, wrap(deep), content_type)
            assert (status, text) == (400, '{"error": "JSON nested deeper than 64 levels"}'), (
                path, content_type)
            status, _ = await post(path, wrap(fine), content_type)
            assert status in (400, 401), (path, content_type)  # judged by the handler
    assert any("request body for POST /slack/events from 127.0.0.1 nests JSON deeper than 64 "
               "levels" in r.getMessage() for r in caplog.records)


async def test_each_platform_handler_refuses_unparseable_nesting_on_its_own(
    database_url: str, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture,
) -> None:
    """Without the server's middleware (a bare app, as bench/serve.py mounts them), Slack's
    and Teams' handlers still answer json's RecursionError with a 400, not a 500."""
    from adapters.slack.app import SlackAdapter
    from adapters.teams.app import TeamsAdapter

    caplog.set_level(logging.DEBUG)
    runtime = Runtime.create(teams_settings(
        database_url, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.url))
    bare = web.Application(client_max_size=1024 * 1024)
    bare.router.add_post("/slack/events", SlackAdapter(runtime).handle_http)
    bare.router.add_post("/api/messages", TeamsAdapter(runtime).handle_http)
    try:
        async with TestServer(bare) as test_server, ClientSession() as session:
            for path, body, content_type in (
                ("/api/messages", "[" * 100_000, "application/json"),
                ("/slack/events", "[" * 100_000, "application/json"),
                ("/slack/events", urllib.parse.urlencode({"payload": "[" * 100_000}), FORM),
            ):
                async with session.post(test_server.make_url(path), data=body,
                                        headers={"Content-Type": content_type}) as response:
                    assert response.status == 400, (path, content_type)
    finally:
        await runtime.close()
    _assert_no_traceback(caplog)


# --- the board's API: paging out of range, wildcards in searches ---------------------------------


@pytest.fixture
async def board(database_url: str) -> AsyncIterator[TestClient]:
    from tests.web.test_board import signed_in

    runtime = Runtime.create(Settings(database_url=database_url, secret_key="test-secret-key"))
    service = KaizenService(runtime.unit_of_work, policy=POLICY)
    for n, proposal in enumerate(["Cut printing costs by 100%", "Merge the 1000 paper forms",
                                  "Name files in snake_case", "Name files snakeXcase",
                                  "Share the a/b test results", "Store scans on drive C:\\"]):
        await service.handle_message(MessageEvent(
            f"seed-{n}", UserRef("slack", "T0001", f"U{n}", f"u{n}"),
            f"/kaizen standard: s; problem: p; proposal: {proposal}", Place("C1")))
    async with TestClient(TestServer(build_app(runtime))) as client:
        client.runtime = runtime  # type: ignore[attr-defined]
        yield await signed_in(client)


@pytest.mark.parametrize(("query", "error"), [
    ("limit=0", "limit must be a whole number from 1 to 200"),
    ("limit=-5", "limit must be a whole number from 1 to 200"),
    ("limit=201", "limit must be a whole number from 1 to 200"),
    ("limit=1e3", "limit must be a whole number from 1 to 200"),
    ("limit=", "limit must be a whole number from 1 to 200"),
    ("limit=" + "9" * 5000, "limit must be a whole number from 1 to 200"),
    ("offset=-1", "offset must be a whole number from 0 to 1000000"),
    ("offset=1000001", "offset must be a whole number from 0 to 1000000"),
    ("offset=" + "1" + "0" * 30, "offset must be a whole number from 0 to 1000000"),
    ("offset=9223372036854775808", "offset must be a whole number from 0 to 1000000"),
    ("offset=1_000", "offset must be a whole number from 0 to 1000000"),
    ("offset=%EF%BC%91", "offset must be a whole number from 0 to 1000000"),  # fullwidth 1
])
async def test_paging_out_of_range_is_a_400_naming_the_parameter(
    board: TestClient, caplog: pytest.LogCaptureFixture, query: str, error: str,
) -> None:
    """Used to be clamped silently, and on PostgreSQL an OFFSET past bigint was a 500."""
    caplog.set_level(logging.DEBUG)
    response = await board.get(f"/api/ideas?{query}")
    assert response.status == 400
    assert await response.json() == {"error": error}
    _assert_no_traceback(caplog)


async def test_paging_at_the_edges_of_its_range_works(board: TestClient) -> None:
    for query, shown in (("limit=1", 1), ("limit=200", 6), ("offset=1000000", 0),
                         ("limit=2&offset=5", 1), ("", 6)):
        body = await (await board.get(f"/api/ideas?{query}")).json()
        assert (body["total"], len(body["ideas"])) == (6, shown), query


@pytest.mark.parametrize(("q", "found"), [
    ("100%", ["Cut printing costs by 100%"]),
    ("%", ["Cut printing costs by 100%"]),
    ("_", ["Name files in snake_case"]),
    ("e_c", ["Name files in snake_case"]),
    ("%forms", []),
    ("a/b", ["Share the a/b test results"]),
    ("/", ["Share the a/b test results"]),
    ("C:\\", ["Store scans on drive C:\\"]),
    ("SNAKE", ["Name files in snake_case", "Name files snakeXcase"]),
])
async def test_search_wildcards_are_literal_characters(
    board: TestClient, q: str, found: list[str],
) -> None:
    """``%`` and ``_`` are what they look like, not LIKE wildcards; so is the escape
    character; case is still ignored."""
    response = await board.get("/api/ideas", params={"q": q})
    assert response.status == 200
    body = await response.json()
    assert sorted(i["proposal"] for i in body["ideas"]) == found, q
    assert body["total"] == len(found)


@pytest.mark.parametrize("port", ["70000", "0", "-1", "http"])
def test_kaizen_serve_refuses_a_port_out_of_range_without_a_traceback(
    port: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``KAIZEN_PORT`` was range-checked but ``--port`` was not: bind() raised a traceback
    (and 0 served on a random port)."""
    from adapters.host.cli import main

    def serve_instead(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"kaizen serve started with --port {port}")

    monkeypatch.setattr(web, "run_app", serve_instead)
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", port])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "argument --port: must be a port number from 1 to 65535" in error
    assert "Traceback" not in error


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2026-13-01"])
def test_kaizen_digest_refuses_a_date_out_of_range_without_a_traceback(
    cli_env: dict[str, str], day: str,
) -> None:
    """Dates near year 1 or 9999 overflowed the digest's date arithmetic: a traceback."""
    done = subprocess.run(
        [KAIZEN, "digest", "--print", "--date", day],
        env={**cli_env, "KAIZEN_TIMEZONE": "Asia/Tokyo"}, capture_output=True, text=True,
        timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip() == (f"kaizen digest: --date must be YYYY-MM-DD from 1970-01-01 "
                                   f"to 2999-12-31, not '{day}'")
