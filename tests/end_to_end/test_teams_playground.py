"""What a person sees in Teams: ``kaizen serve`` in local mode, the Microsoft 365 Agents
Playground (Teams' own client code rendering messages and Adaptive Cards) pointed at it, and
headless Chromium driving the Playground as a person would. Assertions are on the rendered page,
never on JSON; screenshots go to ``test-output/``.

CI installs the Playground (``npm ci --prefix tests/playground``) and Chromium and runs this with
CI=true, where a missing piece is a failure; elsewhere it is skipped, saying how to install.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MigratedTemplates
from tests.machine import CHROMIUM, CHROMIUM_FLAGS, KAIZEN, free_port
from tests.paths import OUTPUT, TESTS

PLAYGROUND = TESTS / "playground" / "node_modules" / ".bin" / "agentsplayground"
PLAYGROUND_USER = "teams:00000000-0000-0000-0000-0000000000020"
"""The Playground's signed-in person (Alex Wilber), made a manager here."""
COMPOSE = '[role="textbox"][data-lexical-editor="true"]'
MESSAGE = ".fai-OutputCard"
"""A bot message in a chat as the Playground renders it (text and Adaptive Cards alike)."""
THREAD = ".fui-Card"
"""A channel post with its replies."""
CARD = ".ac-adaptiveCard"


def _missing() -> str | None:
    if not PLAYGROUND.exists():
        return "the Agents Playground is not installed: npm ci --prefix tests/playground"
    if CHROMIUM is None:
        return "Chromium is not installed (apt-get install chromium)"
    return None


def _wait_http(url: str, process: subprocess.Popen[str], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, f"{what} exited: {log.read_text()}"
        assert time.monotonic() < deadline, f"{what} never came up: {log.read_text()}"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)


def _start(command: list[str], env: dict[str, str], folder: Path,
           name: str) -> tuple[subprocess.Popen[str], Path]:
    """Run ``command`` in ``folder`` (the Playground writes its devTools/ log where it runs),
    its output in a log file there (a pipe nobody reads would fill and stall it)."""
    log = folder / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return process, log


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def serve_env(tmp_path: Path, migrated_templates: MigratedTemplates) -> dict[str, str]:
    """The environment of the bot under test (a fresh migrated SQLite database)."""
    database = tmp_path / "kaizen.db"
    shutil.copyfile(migrated_templates.get("sqlite"), database)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_"))}
    env.update(DATABASE_URL=f"sqlite:///{database}", KAIZEN_TEAMS_LOCAL="true",
               KAIZEN_MANAGERS=PLAYGROUND_USER, KAIZEN_SECRET_KEY="k" * 40,
               TEAMSAPPTESTER_BROWSER="none")
    return env


@pytest.fixture
def playground_url(serve_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """``kaizen serve`` (local mode, a fresh migrated SQLite database) and the Playground
    pointed at it; the Playground's address."""
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Teams renderer test: {missing}")
        pytest.skip(missing)
    bot_port, ui_port = free_port(), free_port()
    server, server_log = _start(
        [KAIZEN, "serve", "--host", "127.0.0.1", "--port", str(bot_port), "--no-scheduler"],
        serve_env, tmp_path, "serve")
    playground: subprocess.Popen[str] | None = None
    try:
        _wait_http(f"http://127.0.0.1:{bot_port}/healthz", server, "kaizen serve", server_log)
        playground, playground_log = _start(
            [str(PLAYGROUND), "-e", f"http://127.0.0.1:{bot_port}/api/messages",
             "-c", "msteams", "-p", str(ui_port)], serve_env, tmp_path, "playground")
        _wait_http(f"http://127.0.0.1:{ui_port}/", playground, "the Agents Playground",
                   playground_log)
        yield f"http://127.0.0.1:{ui_port}/"
    finally:
        if playground is not None:
            _stop(playground)
        _stop(server)


@pytest.fixture
async def page(playground_url: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            tab = await browser.new_page(viewport={"width": 1280, "height": 1600})
            await tab.goto(playground_url, wait_until="networkidle")
            yield tab
        finally:
            await browser.close()


class Teams:
    """A person in the Playground: one tab (it delivers the bot's messages to the newest)."""

    def __init__(self, page: Any) -> None:
        self.page = page

    async def say(self, text: str, expect: str) -> Any:
        """Send ``text`` in the open chat; the newest rendered bot message holding ``expect``."""
        box = self.page.locator(COMPOSE).first
        await box.click()
        await self.page.keyboard.type(text)
        await self.page.keyboard.press("Enter")
        return await self.seen(expect)

    async def mention(self, text: str, expect: str | None) -> Any:
        """``@Test Bot text`` posted in the open channel (the mention picked from the menu);
        the thread showing ``expect``, if given."""
        await self.page.locator(COMPOSE).first.click()
        await self.page.keyboard.type("@")
        await self.page.locator("[role=menuitem]").filter(has_text="Test Bot").first.click()
        await self.page.keyboard.type(" " + text)
        await self.page.get_by_role("button", name="Post").click()
        return await self.seen(expect, THREAD) if expect is not None else None

    async def seen(self, expect: str, where: str = MESSAGE) -> Any:
        """The newest bot message (text or card) showing ``expect``: only the conversation
        counts, not the chat list's preview or the log panel (which show raw text)."""
        found = self.page.locator(where).filter(has_text=expect).last
        await found.wait_for(state="visible", timeout=20_000)
        return found

    async def react(self, database: str, idea_id: int, reaction: str = "like",
                    added: bool = True) -> None:
        """A reaction on an idea's card, sent through the Playground's "Mock an Activity →
        Custom activity" (its channel view has no reaction buttons)."""
        with contextlib.closing(sqlite3.connect(database)) as db:
            channel, message_id, tenant = db.execute(
                "SELECT p.channel, p.message_id, i.workspace FROM idea_posts p "
                "JOIN ideas i ON i.id = p.idea_id WHERE p.idea_id = ?", (idea_id,)).fetchone()
        port = self.page.url.split(":")[2].split("/")[0]
        activity = {
            "type": "messageReaction", "channelId": "msteams",
            "id": f"reaction-{idea_id}-{time.monotonic_ns()}",
            "serviceUrl": f"http://localhost:{port}/_connector", "replyToId": message_id,
            "reactionsAdded" if added else "reactionsRemoved": [{"type": reaction}],
            "from": {"id": "user-id-0", "name": "Alex Wilber",
                     "aadObjectId": PLAYGROUND_USER.split(":", 1)[1]},
            "recipient": {"id": "00000000-0000-0000-0000-00000000011", "name": "Test Bot"},
            "conversation": {"id": channel, "conversationType": "channel", "tenantId": tenant},
            "channelData": {"tenant": {"id": tenant}},
        }
        await self.page.get_by_text("Mock an Activity").click()
        await self.page.locator("[role=menuitem]").filter(has_text="Custom activity").click()
        await self.page.locator(".monaco-editor").first.click()
        await self.page.keyboard.press("Control+A")
        await self.page.keyboard.press("Delete")
        # One line: the editor's auto-indent and auto-close would garble several.
        await self.page.keyboard.insert_text(json.dumps(activity))
        await self.page.get_by_role("button", name="Send activity").click()

    async def shot(self, name: str) -> None:
        OUTPUT.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(OUTPUT / f"teams-{name}.png"), full_page=True)


async def _lines(element: Any) -> list[str]:
    """The rendered text of a message, line by line."""
    text = (await element.inner_text()).replace("\u200b", "")  # zero-width: not seen
    return [line.strip() for line in text.splitlines() if line.strip()]


async def test_a_capture_in_the_personal_chat_reads_right(page: Any) -> None:
    teams = Teams(page)
    await page.get_by_text("Personal Chat", exact=True).first.click()
    help_message = await teams.say("help", "Managers and admins")
    help_text = await _lines(help_message)
    # One line per command, not one run-on paragraph; no markdown or backtick shows raw, and
    # our command hints (`none`, `off`) are code.
    assert len([line for line in help_text if line.startswith("•")]) >= 15
    assert not any("**" in line or "`" in line for line in help_text)
    assert await help_message.locator("code").count() >= 3
    await teams.shot("help")

    await teams.say("kaizen", "Question 1 of 3")
    await teams.say("Claims are printed and signed by hand. process: Expense claims",
                    "Question 2 of 3")
    await teams.say("It takes *15 minutes* per claim, see [the form](http://evil.example)",
                    "Question 3 of 3")
    saved = await teams.say("Approve claims in the app", "saved as KZ-1")
    saved_lines = await _lines(saved)
    assert "Problem: It takes *15 minutes* per claim, see [the form](http://evil.example)" in (
        saved_lines)  # each answer on its own line, label beside it, as typed
    assert not any("`" in line for line in saved_lines)
    mine = await _lines(await teams.say("mine", "Your last 1 idea"))
    assert any(line.startswith("KZ-1") for line in mine), mine
    shown = await _lines(await teams.say("show KZ-1", "Problem"))
    # What the person typed shows exactly as typed: no emphasis, no link.
    assert any("*15 minutes*" in line and "[the form](http://evil.example)" in line
               for line in shown)
    links = page.locator(MESSAGE).locator("a[href*='evil.example']")
    assert await links.count() == 0, [await links.nth(i).inner_text()
                                      for i in range(await links.count())]
    assert "Process: Expense claims" in shown  # a process: label after the standard
    await teams.shot("capture")


async def test_the_channel_sees_the_form_the_idea_card_and_decisions(
        page: Any, serve_env: dict[str, str]) -> None:
    teams = Teams(page)
    await page.get_by_text("General", exact=True).first.click()
    await teams.mention("ideas here", "posted in this channel")
    await teams.mention("kaizen the printer jams daily #ops", "Share a kaizen idea")
    form = await teams.seen("Share a kaizen idea", CARD)
    inputs = form.locator("textarea, input")
    values = [await inputs.nth(i).input_value() for i in range(await inputs.count())]
    assert "the printer jams daily" in values and "ops" in values  # prefilled, #ops as area
    await teams.shot("form")
    await form.get_by_label("Standard", exact=False).fill("Paper tray filled by hand")
    await form.get_by_label("Proposal", exact=False).fill("A second tray")
    await form.get_by_role("button", name="Submit idea").click()
    await teams.seen("This form was sent: the idea is KZ-1.", THREAD)
    assert await page.locator(CARD).filter(has_text="Share a kaizen idea").count() == 0
    await teams.shot("form-sent")

    await teams.mention("kaizen standard: paper tray by hand; problem: jams daily; "
                        "proposal: a second tray #ops", "saved as KZ-2")
    card = await teams.seen("KZ-2 · submitted", CARD)
    rows = [line for line in (await card.inner_text()).splitlines() if line.strip()]
    # Each fact's label sits with its own value.
    for label, value in (("Area", "ops"), ("Status", "submitted"), ("Support", "0")):
        index = rows.index(label)
        assert rows[index + 1] == value, rows
    await teams.shot("idea-card")
    await (await teams.seen("KZ-1 · submitted", CARD)).get_by_role(
        "button", name="Approve").click()
    await teams.seen("KZ-1 · approved", CARD)  # the card itself shows the decision
    # A manager's 👍 on the card approves too.
    await teams.react(serve_env["DATABASE_URL"].removeprefix("sqlite:///"), 2)
    await teams.seen("KZ-2 · approved", CARD)
    await teams.shot("approved")
    # Rejecting needs a reason, which the card asks for and shows.
    card = await teams.seen("KZ-2 · approved", CARD)
    await card.get_by_role("button", name="Reject").click()
    await card.get_by_label("Why?", exact=False).fill("Not *this* quarter, see http://x.example")
    await card.get_by_role("button", name="Reject").last.click()
    rejected = await teams.seen("KZ-2 · rejected", CARD)
    assert "Not *this* quarter, see http://x.example" in (await rejected.inner_text()).replace(
        "\u200b", "")
    assert await rejected.locator("a").count() == 0
    await teams.shot("rejected")
    # The decider hears back privately, in their own chat with the bot.
    await page.get_by_text("Personal Chat", exact=True).first.click()
    await teams.seen("is now approved")
    await teams.seen("is now rejected")


async def test_a_private_draft_stays_private_and_the_digest_is_a_card(
        page: Any, serve_env: dict[str, str]) -> None:
    teams = Teams(page)
    await page.get_by_text("General", exact=True).first.click()
    await teams.mention("digest here 00:00 UTC daily", "stand-up digest")
    await teams.mention("kaizen standard: by hand; problem: slow; proposal: a *bold* jig #ops",
                        "saved as KZ-1")
    await page.get_by_text("Personal Chat", exact=True).first.click()
    await teams.say("kaizen", "Question 1 of 3")
    await teams.say("Stock is counted on paper in aisle 7", "Question 2 of 3")
    await page.get_by_text("General", exact=True).first.click()
    await teams.mention("kaizen back", None)
    await page.get_by_text("Personal Chat", exact=True).first.click()
    await teams.seen("Your answer so far: Stock is counted")  # where it belongs
    await teams.shot("private-draft")
    await page.get_by_text("General", exact=True).first.click()
    await page.locator(THREAD).filter(has_text="kaizen back").first.wait_for()
    channel = await page.locator(THREAD).all_inner_texts()
    assert not any("aisle 7" in text for text in channel)

    # Shared and withdrawn, approved and taken back: neither is news in the digest.
    await page.get_by_text("Personal Chat", exact=True).first.click()
    await teams.say("cancel", "dropped")  # (the private draft above)
    await teams.say("kaizen standard: s; problem: p; proposal: never mind", "saved as KZ-2")
    await teams.say("withdraw KZ-2", "withdrawn")
    await teams.say("kaizen standard: s; problem: p; proposal: maybe later", "saved as KZ-3")
    await page.get_by_text("General", exact=True).first.click()
    # Choosing the ideas channel posts the open ideas shared before (KZ-1 and KZ-3).
    await teams.mention("ideas here", "2 open ideas shared before")
    await teams.seen("KZ-1 · submitted", CARD)
    await teams.seen("KZ-3 · submitted", CARD)
    database = serve_env["DATABASE_URL"].removeprefix("sqlite:///")
    await teams.react(database, 3)
    await teams.seen("KZ-3 · approved", CARD)
    await teams.react(database, 3, added=False)
    await teams.seen("KZ-3 · submitted", CARD)
    # Today's digest, queued from the CLI and posted by the running server.
    posted = subprocess.run([KAIZEN, "digest"], env=serve_env, capture_output=True, text=True,
                            timeout=60)
    assert posted.returncode == 0, posted.stderr
    await page.get_by_text("General", exact=True).first.click()
    digest = await teams.seen("stand-up", CARD)
    lines = [line.strip() for line in (await digest.inner_text()).splitlines() if line.strip()]
    assert lines and "kaizen" in lines[0].lower()
    assert any("KZ-1" in line and "a *bold* jig" in line for line in lines), lines
    assert not any("KZ-2" in line for line in lines)  # withdrawn: not a new idea
    assert not any(line.startswith("Approved") for line in lines)  # taken back
    assert "Waiting for a decision (2)" in lines
    assert await digest.locator("em, strong, a").count() == 0  # "*bold*" stays as typed
    await teams.shot("digest")
