"""Hostile input, generated: arbitrary Unicode, control characters, huge strings, mention
tokens, markdown and HTML. Never a crash, never a live mention or broken markup, lengths bounded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.slack.blocks import render_digest, render_idea, render_reply
from adapters.slack.text import slack_to_plain
from adapters.teams.cards import form_card, idea_card
from bot import commands, flow
from bot.digest import DigestFacts, DigestIdea, compose
from bot.model import Idea
from bot.text_input import MAX_ANSWER_CHARS, answer_problem

NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)
NASTY = st.sampled_from([
    "<!channel>", "<!here>", "<!everyone>", "<@U123ABC456>", "<!subteam^S1|@team>",
    "<https://evil.example|click>", "<script>alert(1)</script>", "*bold* _it_ ~s~ `code`",
    "[link](https://evil.example)", "<at>Megan</at>", "&amp;", "&lt;!channel&gt;", "\x00",
    "\u202e", "\x1b[31m", "standard:", "problem:", "proposal:", "process:", "#area", "\n", ";",
    "{{DATE(2026-01-01T00:00:00Z)}}", "@channel",
])
TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(NASTY, st.text(max_size=20)), max_size=30).map("".join),
    st.text(min_size=2001, max_size=2100),
)
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(first=TEXT, second=TEXT, third=TEXT)
def test_the_flow_never_breaks_and_stores_only_valid_answers(first: str, second: str,
                                                             third: str) -> None:
    outcome = flow.advance(None, flow.Start(first), NOW)
    for text in (second, third):
        if outcome.draft is None:
            break
        intent = flow.intent_of(text)
        action = flow.Intent(intent) if intent else flow.Answer(text)
        outcome = flow.advance(outcome.draft, action, NOW)
    for draft in (outcome.draft, outcome.completed):
        if draft is not None:
            for name, value in draft.answers.items():
                if name != "process":
                    assert answer_problem(value) is None
                    assert len(value) <= MAX_ANSWER_CHARS
    assert all(reply.text for reply in outcome.replies)


@SETTINGS
@given(text=TEXT)
def test_commands_parse_anything(text: str) -> None:
    parsed = commands.parse(text, draft_open=True, known_words=frozenset({"help"}))
    assert isinstance(parsed.word, str) and parsed.word == parsed.word.lower()


def _mrkdwn_strings(blocks: list[dict]) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") in {"mrkdwn", "plain_text"} and "text" in node:
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def _idea(text: str) -> Idea:
    return Idea(7, "T0001", "slack", 1, text[:200] or "x", "U1", "finance", text, text, text,
                "rejected", NOW, NOW, process=text[:120], decision_reason=text)


@SETTINGS
@given(text=TEXT)
def test_slack_posts_never_carry_a_control_sequence(text: str) -> None:
    plain = slack_to_plain(text)  # what the core would have stored from Slack
    for fallback, blocks in (render_idea(_idea(plain), "white_check_mark", "x"),
                             render_reply(flow.advance(None, flow.Start(plain), NOW).replies[0])):
        assert len(blocks) <= 50 and len(fallback) <= 3000
        for string in [fallback, *_mrkdwn_strings(blocks)]:
            assert "<" not in string and ">" not in string  # Slack's only control characters
            assert len(string) <= 3000


@SETTINGS
@given(text=TEXT)
def test_digests_render_safely(text: str) -> None:
    idea = DigestIdea("KZ-1", text[:50], text[:40] or None, text, NOW, reason=text,
                      process=text[:120], version=2)
    view = compose(DigestFacts(NOW, NOW, "UTC", captured=[idea] * 3, rejected=[idea],
                               implemented=[idea], waiting=[idea], waiting_total=1))
    fallback, blocks = render_digest(view)
    for string in [fallback, *_mrkdwn_strings(blocks)]:
        assert "<" not in string and ">" not in string
        assert len(string) <= 3000


CARD_LABELS = frozenset({"Author", "Area", "Process", "Status", "Support", "Standard (today)",
                         "Problem", "Proposal", "Reason", "KZ-7 · rejected"})


@SETTINGS
@given(text=TEXT)
def test_teams_cards_keep_user_text_literal_and_small(text: str) -> None:
    card = idea_card(_idea(text))
    encoded = json.dumps(card)
    assert len(encoded.encode()) < 80_000
    user_strings = {text, text[:200] or "x", text[:120]}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") in {"TextBlock", "Fact"}:
                # The card's own labels may happen to equal generated text ("Author"): only
                # text that is not one of them proves user text reached a TextBlock.
                text_here = node.get("text")
                assert text_here not in user_strings or text_here in CARD_LABELS
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    if text.strip():
        walk(card)
    form = form_card({"standard": text, "problem": text}, [text])
    assert len(json.dumps(form).encode()) < 80_000
