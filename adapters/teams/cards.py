"""Adaptive Cards (schema 1.5) for idea posts and the capture form.

User text goes only into ``TextRun`` inlines (never markdown, never ``<at>`` mentions) or into
input values, so nothing a person typed can format, link or ping in a card. Our own labels are
``TextBlock``s.
"""

from __future__ import annotations

from typing import Any

from bot.digest import DigestView
from bot.lifecycle import status_label
from bot.model import Idea
from bot.text_input import MAX_ANSWER_CHARS, one_line

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
TEXT_LIMIT = 4000
Card = dict[str, Any]


def literal(text: str, **style: Any) -> dict[str, Any]:
    """User text rendered exactly as typed."""
    run = {"type": "TextRun", "text": text[:TEXT_LIMIT], **style}
    return {"type": "RichTextBlock", "inlines": [run]}


def label(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, "weight": "Bolder", **style}


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> Card:
    card: Card = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": "1.5", "body": body,
                  "msteams": {"width": "Full"}}
    if actions:
        card["actions"] = actions
    return card


def attachment(card: Card) -> dict[str, Any]:
    return {"contentType": CONTENT_TYPE, "content": card}


def fact_row(name: str, value: str) -> dict[str, Any]:
    """One fact, its label and its value on one row, so they can never drift apart (two
    columns of labels and values did, in Teams' renderer). Not a FactSet: Teams renders
    markdown in fact values, and a value here is user text."""
    return {"type": "ColumnSet", "spacing": "Small", "columns": [
        {"type": "Column", "width": "90px", "items": [label(name)]},
        {"type": "Column", "width": "stretch", "items": [literal(value)]},
    ]}


def idea_card(idea: Idea, approve_hint: str = "👍") -> Card:
    facts = [
        ("Author", idea.author_name),
        ("Area", idea.area or "not set"),
        ("Process", idea.process or "not set"),
        ("Status", status_label(idea.status)),
        ("Support", str(idea.support)),
    ]
    body: list[dict[str, Any]] = [
        label(f"{idea.key} · {status_label(idea.status)}", size="Medium"),
        literal(one_line(idea.proposal, 200), weight="Bolder"),
        *(fact_row(name, value) for name, value in facts),
    ]
    for title, text in (("Standard (today)", idea.standard), ("Problem", idea.problem),
                        ("Proposal", idea.proposal)):
        body += [label(title, spacing="Medium"), literal(text)]
    if idea.decision_reason and idea.status in {"rejected", "duplicate"}:
        body += [label("Reason", spacing="Medium"), literal(idea.decision_reason)]
    body.append({"type": "TextBlock", "isSubtle": True, "wrap": True, "text": (
        f"Managers: react {approve_hint} or use the buttons to decide. Everyone else: any "
        "reaction adds your support.")})
    actions: list[dict[str, Any]] = []
    if idea.status == "submitted":
        actions.append({"type": "Action.Submit", "title": "Approve",
                        "data": {"kaizen": "approve", "idea_id": idea.id}})
    if idea.status in {"submitted", "approved"}:
        actions.append({"type": "Action.ShowCard", "title": "Reject", "card": _card(
            [{"type": "Input.Text", "id": "reason", "isMultiline": True, "maxLength": 500,
              "label": "Why? (the author will be told)", "isRequired": True,
              "errorMessage": "Please give a reason."}],
            [{"type": "Action.Submit", "title": "Reject",
              "data": {"kaizen": "reject", "idea_id": idea.id}}],
        )})
    return _card(body, actions)


FORM_FIELDS = (
    ("standard", "Standard: how is this work done today?", True),
    ("problem", "Problem: what goes wrong, takes too long or annoys people?", True),
    ("proposal", "Proposal: what do you propose instead?", True),
    ("area", "Area (optional), e.g. finance", False),
    ("process", "Process (optional), e.g. expense claims", False),
)


def form_card(values: dict[str, str] | None = None, problems: list[str] | None = None) -> Card:
    """The capture form, filled in with what we already know; problems listed on top."""
    values = values or {}
    body: list[dict[str, Any]] = [label("Share a kaizen idea", size="Medium")]
    for problem in problems or []:
        body.append(literal(problem, color="Attention"))
    for field, title, required in FORM_FIELDS:
        body.append({
            "type": "Input.Text", "id": field, "label": title, "isRequired": required,
            "isMultiline": required, "maxLength": MAX_ANSWER_CHARS if required else 120,
            "value": values.get(field, ""),
            **({"errorMessage": "Please fill this in."} if required else {}),
        })
    return _card(body, [{"type": "Action.Submit", "title": "Submit idea",
                         "data": {"kaizen": "capture"}}])


def digest_card(view: DigestView) -> Card:
    """The stand-up digest: our headings as TextBlocks, every line (user text) literal."""
    body: list[dict[str, Any]] = [label(view.title, size="Medium"), literal(view.summary)]
    for section in view.sections:
        body.append(label(section.title, spacing="Medium"))
        body.append(literal("\n".join(f"• {line}" for line in section.lines)))
    body.append({"type": "TextBlock", "text": view.footer, "isSubtle": True, "wrap": True,
                 "spacing": "Medium"})
    return _card(body)
