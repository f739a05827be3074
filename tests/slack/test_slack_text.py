"""Slack text in and out, and Block Kit limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.slack.blocks import render_idea, render_reply
from adapters.slack.reactions import normalise
from adapters.slack.text import cut, escape, slack_to_plain
from bot.model import Idea
from bot.replies import Button, Reply


@pytest.mark.parametrize(("slack", "plain"), [
    ("<!channel> <!here> <!everyone>", "@channel @here @everyone"),
    ("cc <@U123ABC456> and <@U42|ana>", "cc @U123ABC456 and @ana"),
    ("<!subteam^SAZ94GDB8|@ops> look", "@ops look"),
    ("see <https://x.example|the app> or <https://y.example>",
     "see the app (https://x.example) or https://y.example"),
    ("a &lt;b&gt; &amp;amp; c", "a <b> &amp; c"),
    ("in <#C123|general>", "in #general"),
])
def test_slack_text_becomes_plain_text(slack: str, plain: str) -> None:
    assert slack_to_plain(slack) == plain


def test_escape_and_cut() -> None:
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert cut("abcdef", 4) == "abc…"
    assert cut("ab&amp;cd", 5) == "ab…"  # never half an entity
    assert cut("short", 10) == "short"


@pytest.mark.parametrize(("name", "canonical"), [
    ("thumbsup", "+1"), ("+1", "+1"), ("white_check_mark::skin-tone-2", "white_check_mark"),
    (":X:", "x"), ("thumbsup::skin-tone-5", "+1"),
])
def test_reaction_aliases(name: str, canonical: str) -> None:
    assert normalise(name) == canonical


def test_long_texts_are_cut_to_block_limits_with_an_ellipsis() -> None:
    long = "<&>" * 700  # 2,100 characters that escape to 9,800
    now = datetime(2026, 11, 2, tzinfo=UTC)
    idea = Idea(12, "T0001", "slack", 1, "Ana" * 100, "U1", "finance", long, long, long,
                "rejected", now, now, decision_reason=long)
    text, blocks = render_idea(idea, "white_check_mark", "x")
    assert len(text) <= 3000
    assert len(blocks[0]["text"]["text"]) <= 150
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
            assert block["text"]["text"].endswith("…")
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
    assert "<&>" not in json.dumps(blocks)
    reply = Reply("x" * 5000, fields=tuple((f"f{i}", "v" * 2500) for i in range(12)),
                  buttons=(Button("Continue" * 20, "continue"),))
    text, blocks = render_reply(reply)
    assert len(blocks) <= 50 and len(text) <= 3000
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if "text" in b)
    assert len(blocks[-1]["elements"][0]["text"]["text"]) <= 75
