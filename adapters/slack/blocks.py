"""Block Kit for the core's replies and for idea posts, always with a plain-text fallback.

Every user string goes through :func:`adapters.slack.text.mrkdwn` (escaped, cut to the block's
limit) or into a ``plain_text`` object; nothing here can produce a live mention.
"""

from __future__ import annotations

from typing import Any

from adapters.slack.text import cut, escape, mrkdwn
from bot.digest import DigestView, render_plain
from bot.lifecycle import status_label
from bot.model import Idea
from bot.replies import Reply
from bot.text_input import one_line

SECTION_TEXT_LIMIT = 3000
FIELD_LIMIT = 2000
FIELDS_PER_SECTION = 10
HEADER_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
FALLBACK_LIMIT = 3000
MAX_BLOCKS = 50
BUTTON_ACTION_PREFIX = "kaizen_button_"

Blocks = list[dict[str, Any]]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _field_sections(fields: tuple[tuple[str, str], ...]) -> Blocks:
    blocks: Blocks = []
    for start in range(0, len(fields), FIELDS_PER_SECTION):
        chunk = fields[start : start + FIELDS_PER_SECTION]
        blocks.append({
            "type": "section",
            "fields": [
                {"type": "mrkdwn",
                 "text": cut(f"*{escape(label)}*\n{escape(value)}" if label else escape(value),
                             FIELD_LIMIT)}
                for label, value in chunk
            ],
        })
    return blocks


def render_reply(reply: Reply) -> tuple[str, Blocks]:
    """A core reply as (fallback text, blocks)."""
    blocks: Blocks = [_section(mrkdwn(reply.text, SECTION_TEXT_LIMIT))]
    long_fields = tuple(f for f in reply.fields if len(f[1]) > 300)
    short_fields = tuple(f for f in reply.fields if len(f[1]) <= 300)
    blocks += _field_sections(short_fields)
    for label, value in long_fields:  # long texts read better as their own section
        blocks.append(_section(cut(f"*{escape(label)}*\n{escape(value)}", SECTION_TEXT_LIMIT)))
    if reply.link:  # our own address: the one live link a message may carry
        label, url = reply.link
        blocks.append(_section(f"<{escape(url)}|{escape(label)}>"))
    if reply.buttons:
        blocks.append({
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": cut(b.label, BUTTON_TEXT_LIMIT)},
                    "value": b.value,
                    "action_id": f"{BUTTON_ACTION_PREFIX}{i}",
                }
                for i, b in enumerate(reply.buttons)
            ],
        })
    fallback = cut(escape(reply.text), FALLBACK_LIMIT)
    if reply.link:
        fallback += f" <{escape(reply.link[1])}|{escape(reply.link[0])}>"
    return fallback, blocks[:MAX_BLOCKS]


def _inert(text: str) -> str:
    """A one-line preview for a ``plain_text`` header: Slack does not parse those, and angle
    brackets become look-alikes anyway, so no control sequence can be formed."""
    return one_line(text, 140).replace("<", "\u2039").replace(">", "\u203a")


def render_idea(idea: Idea, approve_hint: str, reject_hint: str) -> tuple[str, Blocks]:
    """The post in the ideas channel: who, what, where it stands, how to decide."""
    fields = (
        ("Author", idea.author_name),
        ("Area", idea.area or "not set"),
        ("Process", idea.process or "not set"),
        ("Status", status_label(idea.status)),
        ("Support", str(idea.support)),
    )
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "emoji": False,
                                    "text": cut(f"{idea.key} · {_inert(idea.proposal)}",
                                                HEADER_LIMIT)}},
        *_field_sections(fields),
        _section(cut(f"*Standard (today)*\n{escape(idea.standard)}", SECTION_TEXT_LIMIT)),
        _section(cut(f"*Problem*\n{escape(idea.problem)}", SECTION_TEXT_LIMIT)),
        _section(cut(f"*Proposal*\n{escape(idea.proposal)}", SECTION_TEXT_LIMIT)),
    ]
    if idea.decision_reason and idea.status in {"rejected", "duplicate"}:
        blocks.append(_section(cut(f"*Reason*\n{escape(idea.decision_reason)}",
                                   SECTION_TEXT_LIMIT)))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
        f"Managers: react with :{approve_hint}: to approve or :{reject_hint}: to reject. "
        "Everyone else: any reaction adds your support."
    )}]})
    fallback = (f"{idea.key} by {idea.author_name} ({status_label(idea.status)}): "
                f"{one_line(idea.proposal, 200)}")
    return cut(escape(fallback), FALLBACK_LIMIT), blocks


def render_digest(view: DigestView) -> tuple[str, Blocks]:
    """The stand-up digest as Block Kit; every line escaped and cut to the section limit."""
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "emoji": False,
                                    "text": cut(view.title, HEADER_LIMIT)}},
        _section(mrkdwn(view.summary, SECTION_TEXT_LIMIT)),
    ]
    for section in view.sections:
        body = "\n".join(f"• {escape(line)}" for line in section.lines)
        blocks.append(_section(cut(f"*{escape(section.title)}*\n{body}", SECTION_TEXT_LIMIT)))
    blocks.append({"type": "context",
                   "elements": [{"type": "mrkdwn", "text": mrkdwn(view.footer, 300)}]})
    return cut(escape(render_plain(view)), FALLBACK_LIMIT), blocks[:MAX_BLOCKS]
