"""The board's security findings, each fixed as a class of bugs and proved over real HTTP into
our aiohttp app on real databases (SQLite, and PostgreSQL when configured).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.host.cli import configure_logging
from adapters.host.runtime import Runtime, system_clock
from adapters.host.server import build_app
from adapters.host.settings import Settings
from adapters.host.signing import Scope, TokenSigner
from adapters.web.auth import PasswordThrottle, client_key, password_matches
from adapters.web.logs import RedactTokens, redact, server_logging
from adapters.web.routes import ACCESS, COOKIE
from tests.conftest import Clock
from tests.machine import KAIZEN, free_port
from tests.web.test_board import seed

KEY = "test-secret-key"
PASSWORD = "wall-pass"

Board = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_board(database_url: str) -> AsyncIterator[Board]:
    """A seeded board server with the given settings (real HTTP, real database)."""
    clients: list[TestClient] = []
    seeded = False

    async def make(server_options: dict[str, Any] | None = None,
                   clock: Callable[[], datetime] = system_clock, **overrides: Any) -> TestClient:
        nonlocal seeded
        options: dict[str, Any] = {"database_url": database_url, "secret_key": KEY,
                                   **overrides}
        runtime = Runtime.create(Settings(_env_file=None, **options), clock=clock)
        if not seeded:
            await seed(runtime)
            seeded = True
        server = TestServer(build_app(runtime))
        await server.start_server(**(server_options or {}))  # runner options, as run_app's
        client = TestClient(server)
        await client.start_server()
        client.runtime = runtime  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def basic(password: str, user: str = "wall") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def link_token(client: TestClient, ttl: int = 3600, workspace: str = "T0001") -> str:
    return client.runtime.signer.sign(Scope("slack", workspace, "ana"), ttl=ttl)  # type: ignore[attr-defined]


def set_cookie_value(header: str) -> str:
    match = re.search(rf"{COOKIE}=([^;]+)", header)
    assert match, header
    return match.group(1).strip('"')


# --- a hostile token, cookie or header is a 401, never a 500 --------------------------------

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=300)
"""Any Unicode at all, lone surrogates included."""
TOKENISH = st.builds(lambda a, b: f"{a}.{b}", ANY_TEXT, ANY_TEXT)
"""Two parts and a dot: past the first check, into the MAC comparison and the decoding."""


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(ANY_TEXT, TOKENISH))
def test_verify_is_total_and_says_no_to_anything_it_did_not_sign(text: str) -> None:
    signer = TokenSigner(KEY)
    assert signer.verify(text) is None
    assert signer.grant(text) is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=st.one_of(ANY_TEXT, ANY_TEXT.map(lambda t: f"Basic {t}"),
                        st.binary(max_size=100).map(
                            lambda b: "Basic " + base64.b64encode(b).decode())))
def test_password_matches_is_total(header: str) -> None:
    assert password_matches(header, PASSWORD) is False
    assert password_matches(header, "pass\udcff") is False  # an undecodable byte from the env


def test_password_matches_any_user_name_and_the_scheme_in_any_case() -> None:
    good = base64.b64encode(b"anyone:wall-pass").decode()
    assert password_matches(f"Basic {good}", PASSWORD)
    assert password_matches(f"basic {good}", PASSWORD)
    assert not password_matches(f"Bearer {good}", PASSWORD)
    assert not password_matches("Basic " + base64.b64encode(b"wall-pass").decode(), PASSWORD)


@pytest.mark.parametrize("value", ["é", "a.é", "é.a", "%C3%A9.%C3%A9", "%FF.%FE", "x" * 5000])
async def test_a_non_ascii_or_odd_link_is_a_401(make_board: Board, value: str) -> None:
    board = await make_board()
    response = await board.get(f"/login?token={value}", allow_redirects=False)
    assert response.status == 401
    assert COOKIE not in response.headers.get("Set-Cookie", "")


async def test_a_valid_link_with_non_ascii_appended_is_a_401(make_board: Board) -> None:
    board = await make_board()
    response = await board.get(f"/login?token={link_token(board)}é", allow_redirects=False)
    assert response.status == 401


@pytest.mark.parametrize("value", ["é", "a.é", "é.a", "ünïcödé.ß"])
async def test_a_non_ascii_cookie_is_a_401(make_board: Board, value: str) -> None:
    board = await make_board()
    for path in ("/", "/api/ideas"):
        response = await board.get(path, headers={"Cookie": f"{COOKIE}={value}"})
        assert response.status == 401, path


async def test_a_non_ascii_authorization_header_is_a_401(make_board: Board) -> None:
    board = await make_board(board_password=PASSWORD, board_workspace="slack:T0001")
    for header in ("Basic é", "Basic " + base64.b64encode("wall:pässwörd".encode()).decode(),
                   "Basic " + base64.b64encode(b"wall:\xff\xfe").decode(), "é"):
        response = await board.get("/", headers={"Authorization": header})
        assert response.status == 401, header


# --- a session never outlives its link; the cookie is Secure on an https board --------------

async def test_the_session_ends_when_its_link_would_have(make_board: Board) -> None:
    board = await make_board()
    signer: TokenSigner = board.runtime.signer  # type: ignore[attr-defined]
    link = link_token(board, ttl=600)
    expires = signer.grant(link).expires  # type: ignore[union-attr]
    response = await board.get(f"/login?token={link}", allow_redirects=False)
    assert response.status == 303
    header = response.headers["Set-Cookie"]
    max_age = int(re.search(r"Max-Age=(\d+)", header).group(1))  # type: ignore[union-attr]
    assert 590 <= max_age <= 600  # what is left of the link's 10 minutes, not a fresh 12 h
    session = signer.grant(set_cookie_value(header))
    assert session is not None and session.expires == expires
    assert session.scope == Scope("slack", "T0001", "ana")
    assert signer.verify(set_cookie_value(header), now=expires + 1) is None


async def test_an_expired_links_session_is_refused_by_the_server(make_board: Board,
                                                                  clock: Clock) -> None:
    """Even a client that keeps the cookie past its Max-Age is refused once the link expired."""
    board = await make_board(clock=clock)
    token = board.runtime.signer.sign(  # type: ignore[attr-defined]
        Scope("slack", "T0001", "ana"), ttl=2, now=clock().timestamp())
    response = await board.get(f"/login?token={token}", allow_redirects=False)
    assert "Max-Age=2" in response.headers["Set-Cookie"]
    cookie = set_cookie_value(response.headers["Set-Cookie"])
    board.session.cookie_jar.clear()
    assert (await board.get("/", headers={"Cookie": f"{COOKIE}={cookie}"})).status == 200
    clock.advance(seconds=2.1)
    assert (await board.get("/", headers={"Cookie": f"{COOKIE}={cookie}"})).status == 401


@pytest.mark.parametrize(("public_url", "secure"), [
    ("https://kaizen.example.com", True), ("HTTPS://kaizen.example.com/", True),
    ("http://kaizen.example.com", False), (None, False),
])
async def test_the_cookie_is_secure_on_an_https_board(make_board: Board, public_url: str | None,
                                                      secure: bool) -> None:
    """Behind a TLS-terminating proxy we see plain http: the public URL decides."""
    board = await make_board(public_url=public_url)
    response = await board.get(f"/login?token={link_token(board)}", allow_redirects=False)
    assert response.status == 303
    assert ("; Secure" in response.headers["Set-Cookie"]) is secure


# --- the wall screen shows exactly KAIZEN_BOARD_WORKSPACE -----------------------------------

def test_the_wall_password_requires_its_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIZEN_BOARD_PASSWORD", PASSWORD)
    monkeypatch.delenv("KAIZEN_BOARD_WORKSPACE", raising=False)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)
    assert ("KAIZEN_BOARD_WORKSPACE must be platform:id, e.g. slack:T0123ABCD "
            "(required with KAIZEN_BOARD_PASSWORD)") in str(caught.value)


@pytest.mark.parametrize("value", ["T0001", "slack:", ":T0001", "fax:T0001", "slack:T0 01",
                                   "busiest", "slack:T0\x1b01", "slack: T0001"])
def test_a_malformed_wall_workspace_is_refused(monkeypatch: pytest.MonkeyPatch,
                                               value: str) -> None:
    monkeypatch.setenv("KAIZEN_BOARD_PASSWORD", PASSWORD)
    monkeypatch.setenv("KAIZEN_BOARD_WORKSPACE", value)
    with pytest.raises(ValidationError, match=r"KAIZEN_BOARD_WORKSPACE must be platform:id, "
                                              r"e.g. slack:T0123ABCD \(platform: slack, teams, "
                                              r"console\)"):
        Settings(_env_file=None)


@pytest.mark.parametrize(("value", "stored"), [
    ("slack:T0001", "slack:T0001"), (" Teams:72f988bf-86f1 ", "teams:72f988bf-86f1"),
    ("console:local", "console:local"),
])
def test_a_wall_workspace_is_platform_and_id(monkeypatch: pytest.MonkeyPatch, value: str,
                                             stored: str) -> None:
    monkeypatch.setenv("KAIZEN_BOARD_PASSWORD", PASSWORD)
    monkeypatch.setenv("KAIZEN_BOARD_WORKSPACE", value)
    assert Settings(_env_file=None).board_workspace == stored


def test_the_cli_says_so_in_one_line(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "KAIZEN_BOARD_PASSWORD": PASSWORD}
    env.pop("KAIZEN_BOARD_WORKSPACE", None)
    for command in (["ideas"], ["serve", "--port", "1"]):
        result = subprocess.run([KAIZEN, *command], env=env, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 2, command
        assert result.stderr.splitlines() == [
            "kaizen: invalid configuration: KAIZEN_BOARD_WORKSPACE must be platform:id, "
            "e.g. slack:T0123ABCD (required with KAIZEN_BOARD_PASSWORD)"], result.stderr


async def test_the_wall_shows_its_workspace_however_busy_another_is(make_board: Board) -> None:
    """T0001 has four ideas and T_OTHER one: the wall shows T_OTHER, as configured."""
    board = await make_board(board_password=PASSWORD, board_workspace="slack:T_OTHER")
    page = await board.get("/", headers=basic(PASSWORD))
    assert page.status == 200
    text = await page.text()
    assert "other workspace idea" in text and "Approve claims" not in text
    ideas = await (await board.get("/api/ideas", headers=basic(PASSWORD))).json()
    assert ideas["total"] == 1


# --- the wall-screen password is throttled per client ---------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_wrong_passwords_are_throttled_with_a_growing_delay(
        make_board: Board, caplog: pytest.LogCaptureFixture) -> None:
    board = await make_board(board_password=PASSWORD, board_workspace="slack:T0001")
    clock = FakeClock()
    board.app[ACCESS].throttle.clock = clock
    caplog.set_level(logging.INFO, logger="adapters.web.routes")
    for attempt in range(5):
        response = await board.get("/", headers=basic(f"guess-{attempt}"))
        assert response.status == 401, attempt
        assert "That board password is not right" in await response.text()
    # Locked out: even the right password is not checked, so a hit is not told apart.
    for headers in (basic(PASSWORD), basic("guess-6"), {**basic(PASSWORD),
                                                         "X-Forwarded-For": "198.51.100.9"}):
        locked = await board.get("/", headers=headers)
        assert locked.status == 429 and locked.headers["Retry-After"] == "1"
        assert "WWW-Authenticate" not in locked.headers
    api = await board.get("/api/ideas", headers=basic(PASSWORD))
    assert api.status == 429 and (await api.json())["retry_after"] == 1
    def lockout_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and r.name == "adapters.web.routes"]

    warnings = lockout_lines()
    assert len(warnings) == 1  # one line per lockout, however often the client knocks
    assert "5 wrong attempts from 127.0.0.1" in warnings[0]
    assert all(PASSWORD not in r.getMessage() and "guess" not in r.getMessage()
               for r in caplog.records)
    # Each wrong password after a lockout doubles the next one: 2 s, 4 s, …
    for expected in (2, 4, 8):
        clock.now += 100
        assert (await board.get("/", headers=basic("again"))).status == 401
        locked = await board.get("/", headers=basic(PASSWORD))
        assert locked.status == 429 and locked.headers["Retry-After"] == str(expected)
    assert len(lockout_lines()) == 4
    # The right password once the lockout is over signs in and starts the count afresh.
    clock.now += 100
    assert (await board.get("/", headers=basic(PASSWORD))).status == 200
    for attempt in range(5):
        assert (await board.get("/", headers=basic("oops"))).status == 401, attempt
    assert (await board.get("/", headers=basic("oops"))).status == 429


async def test_a_throttled_client_keeps_its_personal_link(make_board: Board) -> None:
    """The throttle is on password guesses only: a signed link's session still works."""
    board = await make_board(board_password=PASSWORD, board_workspace="slack:T0001")
    for _ in range(6):
        await board.get("/", headers=basic("nope"))
    assert (await board.get("/", headers=basic(PASSWORD))).status == 429
    assert (await board.get(f"/login?token={link_token(board)}")).status == 200
    assert (await board.get("/", headers=basic("nope"))).status == 200  # the cookie decides


def test_the_throttle_counts_per_client_and_caps_its_delay() -> None:
    clock = FakeClock()
    throttle = PasswordThrottle(allowed=5, base_delay=1, max_delay=60, clock=clock)
    lockouts = [throttle.failed("203.0.113.1") for _ in range(5)]
    assert lockouts[:4] == [None] * 4 and lockouts[4] is not None
    assert lockouts[4].seconds == 1 and lockouts[4].number == 1
    assert throttle.retry_after("203.0.113.1") == 1 and throttle.retry_after("203.0.113.2") == 0
    for _ in range(10):
        clock.now += 1000
        lockout = throttle.failed("203.0.113.1")
        assert lockout is not None
    assert lockout.seconds == 60 and throttle.retry_after("203.0.113.1") == 60
    throttle.succeeded("203.0.113.1")
    assert throttle.retry_after("203.0.113.1") == 0 and len(throttle) == 0


def test_the_throttle_state_is_bounded() -> None:
    """An attacker with many addresses cannot grow it without limit."""
    clock = FakeClock()
    throttle = PasswordThrottle(max_clients=100, forget_after=3600, clock=clock)
    for n in range(5000):
        throttle.failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert len(throttle) == 100
    clock.now += 3601
    throttle.retry_after("10.0.0.1")
    assert len(throttle) == 0  # quiet clients are forgotten


@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    (None, "unknown"),
])
def test_a_client_is_its_address_or_its_ipv6_64(address: str | None, key: str) -> None:
    assert client_key(address) == key


# --- sign-in tokens never reach a log -------------------------------------------------------

@pytest.fixture
def redacting(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], None]]:
    """Call it first thing in a test: caplog at DEBUG behind the handler set-up ``kaizen`` uses
    (:func:`adapters.host.cli.configure_logging`). A function, not set-up work, because pytest gives
    each test phase fresh capture handlers."""
    def start() -> None:
        caplog.set_level(logging.DEBUG)
        configure_logging(logging.DEBUG)
        assert any(isinstance(f, RedactTokens) for f in caplog.handler.filters)

    yield start
    for handler in logging.getLogger().handlers:
        for log_filter in [f for f in handler.filters if isinstance(f, RedactTokens)]:
            handler.removeFilter(log_filter)


async def test_signing_in_logs_no_token(make_board: Board, redacting: Callable[[], None],
                                        caplog: pytest.LogCaptureFixture) -> None:
    redacting()
    board = await make_board(server_options=server_logging())
    token = link_token(board)
    assert (await board.get(f"/login?token={token}")).status == 200
    assert (await board.get(f"/login?token={token}x", allow_redirects=False)).status == 401
    access = [r.getMessage() for r in caplog.records if r.name == "kaizen.access"]
    assert any('"GET /login HTTP/1.1" 303' in line for line in access), access
    assert any('"GET /login HTTP/1.1" 401' in line for line in access), access
    assert any("board session started for slack:T0001 (ana)" in r.getMessage()
               for r in caplog.records)
    assert token not in caplog.text
    assert token[:40] not in caplog.text  # not even its readable half


async def test_the_slack_sdks_debug_log_of_a_board_link_is_redacted(
        slack: Any, redacting: Callable[[], None], caplog: pytest.LogCaptureFixture) -> None:
    """``/kaizen board`` in a Slack DM: the reply carrying the link goes through slack_sdk,
    which logs the whole request body at DEBUG."""
    redacting()
    await slack.dm("/kaizen board")
    await slack.wait_for(lambda: any("/login?token=" in str(c.params)
                                     for c in slack.fake.of("chat.postMessage")))
    sent = next(str(c.params) for c in slack.fake.of("chat.postMessage")
                if "/login?token=" in str(c.params))
    token = re.search(r"token=([A-Za-z0-9_.-]+)", sent).group(1)  # type: ignore[union-attr]
    assert slack.runtime.signer.verify(token) is not None
    # Bolt hands its logger to the client it makes, so these come from "kaizen.slack.bolt".
    sdk = [r.getMessage() for r in caplog.records
           if r.getMessage().startswith("Sending a request") and "chat.postMessage" in
           r.getMessage()]
    assert any("token=[redacted]" in line for line in sdk), sdk
    assert token not in caplog.text
    logging.getLogger("slack_sdk.web.base_client").debug(
        "Sending a request - body: {'text': 'Your board: <https://k.example/login?token=%s|open>'}",
        token)
    assert token not in caplog.text


@pytest.mark.parametrize("text", [
    "https://k.example/login?token={t}", "<https://k.example/login?token={t}|open the board>",
    "{{'text': 'https://k.example/login?token={t}'}}", "login%3Ftoken%3D{t}",
    "Cookie: kaizen_session={t}; other=1", "bare {t} in a sentence",
    '{{"url": "/login?token={t}"}}',
])
def test_redact_removes_a_token_wherever_it_sits(text: str) -> None:
    token = TokenSigner(KEY).sign(Scope("teams", "72f988bf-86f1", "aad-object-id"))
    cleaned = redact(text.format(t=token))
    assert token not in cleaned and token.split(".")[0] not in cleaned
    assert "[redacted]" in cleaned


def test_redaction_covers_exceptions_and_leaves_other_records_alone() -> None:
    token = TokenSigner(KEY).sign(Scope("slack", "T1", "ana"))
    record = logging.LogRecord("slack_sdk", logging.ERROR, __file__, 1, "post failed: %s",
                               ("rate limited",), None)
    assert RedactTokens().filter(record) and record.getMessage() == "post failed: rate limited"
    try:
        raise RuntimeError(f"body was /login?token={token}")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert RedactTokens().filter(record) and token not in (record.exc_text or "")


def test_kaizen_serve_logs_no_token_even_at_debug(cli_env: dict[str, str]) -> None:
    """The real command: access log without query strings, every handler redacting."""
    port = free_port()
    env = {**cli_env, "KAIZEN_PORT": str(port), "KAIZEN_SECRET_KEY": KEY,
           "KAIZEN_LOG_LEVEL": "DEBUG", "KAIZEN_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    token = TokenSigner(KEY).sign(Scope("console", "local", "ana"))
    process = subprocess.Popen([KAIZEN, "serve", "--no-scheduler"], env=env,
                               start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline and process.poll() is None, "serve never came up"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(f"http://127.0.0.1:{port}/login?token={token}", timeout=10) as page:
            assert page.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(f"http://127.0.0.1:{port}/login?token={token}%C3%A9", timeout=10)
        assert refused.value.code == 401
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert '"GET /login HTTP/1.1" 303' in output and '"GET /login HTTP/1.1" 401' in output
    assert "board session started for console:local (ana)" in output
    assert "kaizen board-link --user NAME" in output  # the way in, instead of a logged link
    assert token not in output and token.split(".")[0] not in output
    assert "token=" not in output.replace("token=[redacted]", "")
