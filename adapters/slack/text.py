"""Slack text in and out.

In: Slack sends user text already formatted: ``&``, ``<``, ``>`` as entities and real mentions
as live tokens (``<!channel>``, ``<@U123>``, ``<!subteam^S1>``, ``<https://x|label>``). We turn it
into plain text once, at the door, so the core and the database hold what the person meant.

Out: plain text is escaped (``&``, ``<``, ``>`` → entities, Slack's only control characters), so a
stored ``<!channel>`` can only ever render as text, and we never send ``link_names``.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"

_TOKEN_RE = re.compile(r"<([^<>]*)>")


def _plain_token(inner: str) -> str:
    """One ``<…>`` control sequence as the inert text a reader would expect."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):  # user: <@U123> or <@U123|ana>
        return f"@{label or target[1:]}"
    if target.startswith("#"):  # channel: <#C123|general>
        return f"#{label or target[1:]}"
    if target.startswith("!"):  # <!channel>, <!here>, <!subteam^S1|@team>, <!date^…|fallback>
        special = target[1:]
        if special.startswith("subteam^"):
            return label or "@team"
        if special.startswith("date^"):
            return label
        return f"@{special}"
    return f"{label} ({target})" if label and label != target else target


def slack_to_plain(text: str) -> str:
    """Slack-formatted text → plain text with no live mentions (``<!here>`` → ``@here``)."""
    plain = _TOKEN_RE.sub(lambda m: _plain_token(m.group(1)), text)
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape(text: str) -> str:
    """Plain text → Slack mrkdwn that shows exactly that text (no mentions, no links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in "…" when cut (never splitting an entity)."""
    if len(text) <= limit:
        return text
    shortened = text[: limit - 1]
    amp = shortened.rfind("&")
    if amp != -1 and ";" not in shortened[amp:]:
        shortened = shortened[:amp]  # don't leave half an "&amp;"
    return shortened.rstrip() + ELLIPSIS


def mrkdwn(text: str, limit: int) -> str:
    """Escape, then cut to a Block Kit limit (the limit counts the escaped characters)."""
    return cut(escape(text), limit)
