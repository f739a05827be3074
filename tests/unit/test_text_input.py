"""Parsing rules for what people type: labels, #area tags, validation."""

from __future__ import annotations

import pytest

from bot.commands import parse
from bot.text_input import (
    MAX_ANSWER_CHARS,
    answer_problem,
    find_area_tag,
    normalise_area,
    split_labels,
    starts_with_label,
    strip_edge_area_tags,
)


def test_labels_any_order_any_case_with_semicolons() -> None:
    parsed = split_labels("PROPOSAL: use the app; standard: we print; Problem: slow")
    assert parsed.values == {"proposal": "use the app", "standard": "we print", "problem": "slow"}
    assert parsed.prefix == ""


def test_labels_separated_by_newlines_keep_inner_lines() -> None:
    parsed = split_labels("standard: step one\nstep two\nproblem: slow\nproposal: faster")
    assert parsed.values["standard"] == "step one\nstep two"
    assert parsed.values["problem"] == "slow"


def test_unlabelled_prefix_is_kept_apart() -> None:
    parsed = split_labels("printer jams daily proposal: buy a new one")
    assert parsed.prefix == "printer jams daily"
    assert parsed.values == {"proposal": "buy a new one"}


def test_label_inside_a_word_or_url_is_not_a_label() -> None:
    assert split_labels("see http://x/problem:1 and subproblem: none").values == {}


def test_repeated_label_keeps_both_values() -> None:
    assert split_labels("problem: a; problem: b").values == {"problem": "a\nb"}


def test_starts_with_label() -> None:
    assert starts_with_label("  problem: x")
    assert not starts_with_label("the problem: x")


@pytest.mark.parametrize(
    ("text", "area"),
    [
        ("#finance invoices", "finance"),
        ("invoices #Sales-EMEA", "sales-emea"),
        ("no tag here", None),
        ("<#C123|general> is busy", None),  # a Slack channel link is not a tag
        ("it&#39;s fine", None),  # an HTML entity is not a tag
        ("#1 priority", None),
    ],
)
def test_area_tags(text: str, area: str | None) -> None:
    assert find_area_tag(text) == area


def test_edge_tags_are_stripped_but_prose_tags_stay() -> None:
    assert strip_edge_area_tags("#finance Invoices are retyped #ops") == "Invoices are retyped"
    assert strip_edge_area_tags("ask the #sales team first") == "ask the #sales team first"


def test_area_names_normalise() -> None:
    assert normalise_area("Customer Service") == "customer-service"
    assert normalise_area("#Finance") == "finance"
    assert normalise_area("") is None
    assert normalise_area("x" * 41) is None
    assert normalise_area("<!channel>") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("fine", None),
        ("line one\nline two\twith tab", None),
        ("", "empty"),
        ("   \n ", "empty"),
        ("x" * MAX_ANSWER_CHARS, None),
        ("x" * (MAX_ANSWER_CHARS + 1), "too_long"),
        ("bell\x07", "control_chars"),
        ("nul\x00", "control_chars"),
        ("esc \x1b[31mred", "control_chars"),
        ("bidi \u202eevil", "control_chars"),
        ("émoji 🎉 and ünïcode", None),
    ],
)
def test_answer_validation(text: str, problem: str | None) -> None:
    assert answer_problem(text) == problem


def test_command_parsing() -> None:
    assert parse("/kaizen area Finance").word == "area"
    assert parse("/kaizen area Finance").argument == "Finance"
    assert parse("/KAIZEN mine").prefixed
    assert parse("kaizen").prefixed and parse("kaizen").body == ""
    assert not parse("kaizenize it").prefixed
    assert parse("hello").word == "hello" and not parse("hello").prefixed


def test_bare_kaizen_inside_a_draft_is_prose_unless_a_command_follows() -> None:
    words = frozenset({"help", "cancel"})
    assert not parse("kaizen is hard here", draft_open=True, known_words=words).prefixed
    assert parse("kaizen help", draft_open=True, known_words=words).prefixed
    assert parse("/kaizen is hard", draft_open=True, known_words=words).prefixed
    assert parse("kaizen is hard here", draft_open=False, known_words=words).prefixed
