"""The board over HTTP on a seeded database: access, escaping, filters, pages, export."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.host.runtime import Runtime
from adapters.host.server import build_app
from adapters.host.settings import Settings
from adapters.host.signing import Scope
from bot.events import MessageEvent, Place, UserRef
from tests.conftest import MANAGER, POLICY

WS = ("slack", "T0001")


async def seed(runtime: Runtime) -> None:
    from bot.service import KaizenService

    service = KaizenService(runtime.unit_of_work, policy=POLICY)
    n = 0

    async def say(user: str, text: str, workspace: str = "T0001") -> None:
        nonlocal n
        n += 1
        await service.handle_message(MessageEvent(
            f"seed-{n}", UserRef("slack", workspace, user, user.title()), text, Place("C1")))

    await say("ana", "/kaizen process: Expense claims; standard: Claims are printed and "
                     "signed by hand; problem: slow; proposal: Approve claims in the app #finance")
    await say("ben", "/kaizen standard: s; problem: p; proposal: <script>alert(1)</script> "
                     "& label shelves #ops")
    await say("cleo", "/kaizen standard: s; problem: p; proposal: Shorter stand-ups #sales")
    await say("dan", "/kaizen standard: s; problem: p; proposal: Weekly 1:1 notes #hr")
    await say(MANAGER, "/kaizen approve KZ-1")
    await say(MANAGER, "/kaizen implemented KZ-1 Claims are approved in the app within two days")
    await say(MANAGER, "/kaizen reject KZ-4 not now")
    await say("zed", "/kaizen standard: s; problem: p; proposal: other workspace idea",
              workspace="T_OTHER")


@pytest.fixture
async def board(database_url: str) -> AsyncIterator[TestClient]:
    settings = Settings(database_url=database_url, secret_key="test-secret-key",
                        board_password="wall-pass", board_workspace="slack:T0001",
                        managers=[f"slack:{MANAGER}"])
    runtime = Runtime.create(settings)
    await seed(runtime)
    async with TestClient(TestServer(build_app(runtime))) as client:
        client.runtime = runtime  # type: ignore[attr-defined]
        yield client


def token(client: TestClient, platform: str = "slack", workspace: str = "T0001",
          ttl: int = 3600) -> str:
    return client.runtime.signer.sign(Scope(platform, workspace, "ana"), ttl=ttl)  # type: ignore[attr-defined]


async def signed_in(client: TestClient, **scope: Any) -> TestClient:
    response = await client.get(f"/login?token={token(client, **scope)}",
                                allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    return client


async def test_everything_is_private_without_a_session(board: TestClient) -> None:
    for path in ("/", "/ideas/KZ-1", "/standards", "/insights", "/export.csv", "/api/ideas"):
        response = await board.get(path)
        assert response.status == 401, path
    page = await (await board.get("/")).text()
    assert "/kaizen board" in page and "kaizen board-link" in page


@pytest.mark.parametrize("bad", ["expired", "forged", "garbage"])
async def test_expired_and_forged_links_are_refused(board: TestClient, bad: str) -> None:
    good = token(board)
    link = {"expired": token(board, ttl=-10),
            "forged": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
            "garbage": "not-a-token"}[bad]
    response = await board.get(f"/login?token={link}", allow_redirects=False)
    assert response.status == 401
    board.session.cookie_jar.update_cookies({"kaizen_session": link})
    assert (await board.get("/")).status == 401


async def test_a_token_shows_only_its_own_workspace(board: TestClient) -> None:
    await signed_in(board, workspace="T_OTHER")
    page = await (await board.get("/")).text()
    assert "other workspace idea" in page and "Approve claims" not in page
    assert (await board.get("/ideas/KZ-1")).status == 404


async def test_board_columns_waiting_and_escaping(board: TestClient) -> None:
    await signed_in(board)
    response = await board.get("/")
    assert response.status == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    page = await response.text()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; label shelves" in page
    assert "2 waiting for a decision" in page
    waiting = page[page.index("waiting-title"):page.index("</section>", page.index(
        "waiting-title"))]
    assert waiting.index("KZ-2") < waiting.index("KZ-3")  # oldest first
    implemented = page[page.index('id="col-implemented"'):]
    assert "KZ-1" in implemented[:implemented.index("</section>")]
    assert re.search(r"Rejected <span class=\"count\">1</span>", page)


@pytest.mark.parametrize(("query", "shown", "hidden"), [
    ("area=finance", ["KZ-1"], ["KZ-2", "KZ-3"]),
    ("status=submitted", ["KZ-2", "KZ-3"], ["Approve claims"]),
    ("process=expense+claims", ["KZ-1"], ["KZ-3"]),
    ("q=STAND-UPS", ["KZ-3"], ["KZ-2"]),
])
async def test_filters(board: TestClient, query: str, shown: list[str],
                       hidden: list[str]) -> None:
    await signed_in(board)
    page = await (await board.get(f"/?{query}")).text()
    cards = page[page.index('class="columns"'):page.index('class="folded"')]
    for text in shown:
        assert text in cards, (query, text)
    for text in hidden:
        assert text not in cards, (query, text)


async def test_idea_page_has_history(board: TestClient) -> None:
    await signed_in(board)
    page = await (await board.get("/ideas/KZ-1")).text()
    for expected in ("implemented", "Expense claims", "Claims are printed and signed by hand",
                     "submit", "approve", "implement", "U123Abc456"):
        assert expected in page, expected


async def test_standards_show_versions_and_a_readable_diff(board: TestClient) -> None:
    await signed_in(board)
    listing = await (await board.get("/standards")).text()
    assert "Expense claims" in listing and "improved by 1 kaizen" in listing
    page = await (await board.get("/standards/expense%20claims")).text()
    assert "Version 2" in page and "Version 1" in page
    assert "<del>printed and signed by hand</del>" in page
    assert "<ins>approved in the app within two days</ins>" in page
    assert (await board.get("/standards/nothing")).status == 404


async def test_insights_have_charts_and_tables(board: TestClient) -> None:
    await signed_in(board)
    page = await (await board.get("/insights")).text()
    assert '<script src="/static/chart.umd.min.js"></script>' in page
    data = json.loads(page.split('id="chart-data">')[1].split("</script>")[0])
    assert sum(sum(week) for week in data["perWeekByArea"].values()) == 4
    assert data["implemented"][-1] == 1
    assert page.count("<table>") == 5
    assert "No ideas in the last 7 days" not in page or "hr" not in page.split(
        "No ideas in the last 7 days")[1][:40]
    static = await board.get("/static/chart.umd.min.js")
    assert static.status == 200 and len(await static.read()) > 100_000


async def test_export_and_api(board: TestClient) -> None:
    await signed_in(board)
    rows = list(csv.DictReader(io.StringIO(await (await board.get("/export.csv")).text())))
    assert sorted(r["key"] for r in rows) == ["KZ-1", "KZ-2", "KZ-3", "KZ-4"]
    first = await (await board.get("/api/ideas?limit=3")).json()
    assert (first["total"], len(first["ideas"]), first["next_offset"]) == (4, 3, 3)
    second = await (await board.get("/api/ideas?limit=3&offset=3")).json()
    assert len(second["ideas"]) == 1 and second["next_offset"] is None
    keys = [i["key"] for i in first["ideas"] + second["ideas"]]
    assert sorted(keys) == ["KZ-1", "KZ-2", "KZ-3", "KZ-4"]
    filtered = await (await board.get("/api/ideas?area=ops")).json()
    assert [i["key"] for i in filtered["ideas"]] == ["KZ-2"]
    assert (await board.get("/api/ideas?limit=x")).status == 400


async def test_wall_screen_password(board: TestClient) -> None:
    bad = base64.b64encode(b"wall:nope").decode()
    good = base64.b64encode(b"wall:wall-pass").decode()
    refused = await board.get("/", headers={"Authorization": f"Basic {bad}"})
    assert refused.status == 401 and "Basic" in refused.headers["WWW-Authenticate"]
    page = await board.get("/", headers={"Authorization": f"Basic {good}"})
    assert page.status == 200 and "Approve claims" in await page.text()


async def test_chat_gives_a_personal_link_that_works(board: TestClient) -> None:
    runtime = board.runtime  # type: ignore[attr-defined]
    result = await runtime.service.handle_message(MessageEvent(
        "board-1", UserRef(*WS, "ana", "Ana"), "/kaizen board", Place("C1")))
    reply = result.replies[0]
    assert reply.link is not None and reply.link[0] == "Open the kaizen board"
    assert "/login" not in reply.text  # the address is a link of its own, never in the text
    link = reply.link[1]
    path = link[link.index("/login"):]
    assert (await board.get(path, allow_redirects=False)).status == 303
    assert (await board.get("/")).status == 200


@pytest.mark.parametrize("path", [
    "/api/ideas?q=%00", "/api/ideas?area=%00", "/api/ideas?process=a%00b", "/?q=%00",
    "/export.csv?q=%07", "/standards/a%00b",
])
async def test_control_characters_in_filters_are_400_not_500(board: TestClient,
                                                           path: str) -> None:
    """A NUL made PostgreSQL fail the query (500 and a traceback): refused before it."""
    client = await signed_in(board)
    response = await client.get(path)
    assert response.status == 400
    assert "control characters" in await response.text()
