"""A person's walk through the board in a real headless Chromium (Debian's, via Playwright).

CI installs Chromium (.ci/run) and runs this with CI=true, where a missing browser is a
failure. Screenshots land in test-output/ (the README's pictures come from here).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from adapters.host.runtime import Runtime
from adapters.host.server import build_app
from adapters.host.settings import Settings
from adapters.host.signing import Scope
from tests.conftest import MANAGER
from tests.machine import CHROMIUM, CHROMIUM_FLAGS
from tests.paths import OUTPUT
from tests.web.test_board import seed

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Chromium is not installed here (CI installs it and then requires it)",
)


DEMO_AREAS = ("finance", "operations", "sales", "hr", "logistics")
DEMO_PROPOSALS = (
    "Approve expense claims in the app", "Colour-code the torque wrenches",
    "Pre-fill the quote template from the CRM", "Shadow day for every new hire",
    "Label pallet bays by route", "Weekly 10-minute inventory walk",
    "Standard reply for delivery-date questions", "One checklist for month-end close",
)


async def seed_demo(runtime: Runtime) -> None:
    """Twelve weeks of a lively workspace (for the README's pictures)."""
    from datetime import timedelta

    from bot.events import MessageEvent, Place, UserRef
    from bot.service import KaizenService, utcnow
    from tests.conftest import POLICY

    now = utcnow()
    for n in range(60):
        when = now - timedelta(days=83 - n * 1.35, hours=n % 7)
        service = KaizenService(runtime.unit_of_work, clock=lambda w=when: w, policy=POLICY)
        area = DEMO_AREAS[(n * 3) % 5] if n < 52 or n % 5 else "finance"
        person = UserRef("slack", "T_DEMO", f"U{n % 9}", ["Ana", "Ben", "Cleo", "Dan", "Eve",
                                                         "Femi", "Gus", "Hana", "Ivo"][n % 9])
        text = (f"/kaizen process: {DEMO_PROPOSALS[n % 8].split()[1].title()} routine; "
                f"standard: The current way {n}; problem: It is slow; "
                f"proposal: {DEMO_PROPOSALS[n % 8]} #{area}")
        saved = await service.handle_message(MessageEvent(f"demo-{n}", person, text, Place("C1")))
        key = saved.replies[-1].text.split("saved as ")[1].split()[0]
        if n < 50 and n % 3 != 2:
            later = KaizenService(runtime.unit_of_work, policy=POLICY,
                                  clock=lambda w=when + timedelta(days=1 + n % 4): w)
            manager = UserRef("slack", "T_DEMO", MANAGER, "Mia")
            await later.handle_message(MessageEvent(f"demo-a{n}", manager,
                                                    f"/kaizen approve {key}", Place("C1")))
            if n % 2 == 0:
                await later.handle_message(MessageEvent(f"demo-i{n}", manager,
                                                        f"/kaizen implemented {key}", Place("C1")))


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[tuple[str, Runtime]]:
    runtime = Runtime.create(Settings(database_url=database_url, secret_key="browser-secret",
                                      managers=[f"slack:{MANAGER}"]))
    await seed(runtime)
    await seed_demo(runtime)
    test_server = TestServer(build_app(runtime), host="127.0.0.1")
    await test_server.start_server()
    try:
        yield str(test_server.make_url("")).rstrip("/"), runtime
    finally:
        await test_server.close()


async def test_login_board_filter_idea_standard_insights(
    server: tuple[str, Runtime], backend: str
) -> None:
    from playwright.async_api import async_playwright

    assert CHROMIUM is not None, "CI must have Chromium: .ci/run installs Debian's package"
    base, runtime = server
    token = runtime.signer.sign(Scope("slack", "T0001", "ana"))
    OUTPUT.mkdir(exist_ok=True)
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        await page.goto(f"{base}/login?token={token}")
        assert page.url == f"{base}/"
        assert await page.text_content("h1") == "Improvement board"
        assert await page.locator(".card").count() == 3  # KZ-1 implemented, KZ-2/3 waiting
        assert "2 waiting for a decision" in (await page.text_content("#waiting-title") or "")
        escaped = await page.locator(".card", has_text="KZ-2").inner_text()
        assert "<script>alert(1)</script> & label shelves" in escaped  # shown, not run
        await page.screenshot(path=str(OUTPUT / f"board-{backend}.png"), full_page=True)

        await page.select_option("select[name=area]", "finance")
        await page.click("button[type=submit]")
        await page.wait_for_url("**/?area=finance**")
        cards = await page.locator(".card h3 a").all_inner_texts()
        assert cards == ["KZ-1"]

        await page.click("text=KZ-1")
        await page.wait_for_url("**/ideas/KZ-1")
        assert "implemented" in (await page.text_content("h1") or "")
        history = await page.locator(".history li").all_inner_texts()
        assert any("implement" in line for line in history)

        await page.click("dd a")  # the process link
        await page.wait_for_url("**/standards/**")
        assert await page.text_content("h1") == "Expense claims"
        assert await page.locator(".diff del").first.inner_text() == "printed and signed by hand"
        assert "approved in the app" in await page.locator(".diff ins").first.inner_text()
        await page.screenshot(path=str(OUTPUT / f"standard-{backend}.png"), full_page=True)

        await page.click("nav >> text=Insights")
        await page.wait_for_url("**/insights")
        drawn = await page.evaluate(
            "['chart-ideas', 'chart-lead', 'chart-implemented', 'chart-people']"
            ".every(id => Chart.getChart(document.getElementById(id)) !== undefined)")
        assert drawn, "every chart was drawn (the script ran under the strict CSP)"
        assert await page.locator("figure table").count() == 5
        await page.screenshot(path=str(OUTPUT / f"insights-{backend}.png"), full_page=True)

        phone = await browser.new_page(viewport={"width": 390, "height": 844})
        await phone.context.add_cookies(await page.context.cookies())
        await phone.goto(f"{base}/")
        assert await phone.locator(".card").count() == 3
        await phone.screenshot(path=str(OUTPUT / f"board-phone-{backend}.png"), full_page=True)

        # The README's pictures: a workspace with twelve weeks of history.
        demo = runtime.signer.sign(Scope("slack", "T_DEMO", "ana"))
        wall = await browser.new_page(viewport={"width": 1440, "height": 900})
        await wall.goto(f"{base}/login?token={demo}")
        assert await wall.locator(".card").count() > 10
        await wall.screenshot(path=str(OUTPUT / f"readme-board-{backend}.png"))
        await wall.goto(f"{base}/insights")
        assert await wall.evaluate("Chart.getChart(document.getElementById('chart-ideas'))"
                                   ".data.datasets.length") == 5
        await wall.screenshot(path=str(OUTPUT / f"readme-insights-{backend}.png"),
                              full_page=True)
        await browser.close()
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    assert problems == []
