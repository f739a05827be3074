"""No markup from users in Teams: Teams renders HTML even in ``textFormat: plain`` messages, so
every Teams text message escapes ``&``, ``<`` and ``>`` (ideas, reasons, names, process and
area names), and cards carry user text only in ``TextRun`` inlines."""

from __future__ import annotations

import re
from typing import Any

from adapters.teams.text import teams_text
from tests.teams_harness import CHANNEL, PERSONAL, TEAMS_MANAGER, TeamsDriver

LINK = '<a href="https://example.com">click here to approve</a>'
TAG = re.compile(r"<\s*/?\s*(a|b|i|h1|img|table|at|script)\b", re.IGNORECASE)
MARKDOWN_LINK = "[approve](https://example.com/x)"


def elements(card: Any, types: set[str]) -> list[dict[str, Any]]:
    """Every element of one of ``types`` anywhere in a card."""
    found: list[dict[str, Any]] = []
    if isinstance(card, dict):
        if card.get("type") in types:
            found.append(card)
        for value in card.values():
            found += elements(value, types)
    elif isinstance(card, list):
        for value in card:
            found += elements(value, types)
    return found


def text_runs(card: Any) -> list[str]:
    """Every TextRun's text in a card (where user text belongs)."""
    return [str(run.get("text")) for run in elements(card, {"TextRun"})]


def text_blocks(card: Any) -> list[str]:
    """What TextBlocks and FactSets show (markdown-rendered: no user text belongs there)."""
    return [str(block.get("text", block.get("facts")))
            for block in elements(card, {"TextBlock", "FactSet"})]


async def test_user_html_is_escaped_in_every_teams_message(teams: TeamsDriver) -> None:
    assert await teams.channel("ideas here", user=TEAMS_MANAGER) == 201
    name = "<b>Megan</b> & co"  # a display name is user text too
    await teams.personal("hello", name=name)
    await teams.personal(
        f"/kaizen standard: <h1>big</h1> paper **bold** `code`; problem: <i>slow & <b>unclosed; "
        f"proposal: {LINK} or {MARKDOWN_LINK}; process: <b>claims</b>", name=name)
    await teams.wait_for(lambda: any("saved as KZ-1" in t for t in teams.texts()))
    await teams.personal("/kaizen show KZ-1", name=name)
    await teams.wait_for(lambda: any("History" in t or "submit" in t.lower()
                                     for t in teams.texts() if "KZ-1" in t and "show" not in t))
    await teams.personal("/kaizen mine", name=name)
    await teams.wait_for(lambda: any("newest first" in t for t in teams.texts()))
    # A manager rejects with a reason that tries markup too; the author is told privately.
    assert await teams.personal("/kaizen reject KZ-1 <a href='https://evil.example'>why</a>",
                                user=TEAMS_MANAGER, name="Mia") == 201
    await teams.wait_for(lambda: any("rejected" in t for t in teams.texts(PERSONAL[:6])
                                     if "evil" in t))
    await teams.idle()

    sent = [s for s in teams.fake.sent if s.text]
    assert sent, "the bot sent no text messages"
    assert {s.activity.get("textFormat") for s in sent} == {"xml"}
    texts = [s.text for s in sent]
    for text in texts:
        # Our own structure: line breaks, code for our `command` hints, bold field labels.
        ours = re.sub(r"(^|<br>)<b>[^<]*</b>:", r"\1", text.replace("<code>", "")
                      .replace("</code>", ""))
        assert not TAG.search(ours), text  # no other tag Teams would render
        assert not re.search(r"[*_~`\[\]#]", re.sub(r"&#\d+;", "", text)), text  # nor markdown
    joined = "\n".join(texts)
    assert "&lt;a href=&quot;" not in joined  # quotes need no escaping outside tags
    # Shown as typed (the zero-width space keeps the renderer from linking the address).
    assert ('&lt;a href="https:&#8203;//example.com"&gt;click here to approve&lt;/a&gt;'
            in joined)
    assert "&lt;i&gt;slow &amp; &lt;b&gt;unclosed" in joined
    assert "&#91;approve&#93;(https:&#8203;//example.com/x)" in joined
    # No address the renderer would link by itself.
    assert "://" not in joined and not re.search(r"(?<!&#8203;)@", joined)
    assert "&#42;&#42;bold&#42;&#42; &#96;code&#96;" in joined
    assert "&lt;b&gt;Megan&lt;/b&gt; &amp; co" in joined  # the display name, in show

    cards = [s.card for s in teams.fake.to(CHANNEL) if s.card]
    assert cards, "the idea card was not posted"
    for card in cards:
        assert LINK in text_runs(card) or any(LINK in run for run in text_runs(card))
        for block in text_blocks(card):
            assert "click here" not in block and "<" not in block, block


def test_teams_text_escapes_html_and_markdown_and_keeps_line_breaks() -> None:
    assert teams_text("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert teams_text("it's \"quoted\"") == "it's \"quoted\""
    assert teams_text("&lt;") == "&amp;lt;"  # an entity typed by a person shows as typed
    assert teams_text("*a* _b_ ~c~ `d` [e](f) # g | h \\") == (
        "&#42;a&#42; &#95;b&#95; &#126;c&#126; &#96;d&#96; &#91;e&#93;(f) &#35; g &#124; h "
        "&#92;")
    assert teams_text("one\ntwo\n\nthree") == "one<br>two<br><br>three"
    assert teams_text("see http://x.example, WWW.y.example, a@b.example") == (
        "see http:&#8203;//x.example, WWW&#8203;.y.example, a&#8203;@b.example")
