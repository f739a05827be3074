"""Reading references people type in commands: idea keys (``KZ-12``) and users (``<@U123>``)."""

from __future__ import annotations

import re

_IDEA_KEY_RE = re.compile(r"^(?:kz-?|#)?(\d{1,9})$", re.IGNORECASE)
# Slack: <@U123> or <@U123|name>; our Teams adapter rewrites its mentions to the same form.
_MENTION_RE = re.compile(r"^<@([^>|\s]+)(?:\|[^>]*)?>$")
_USER_ID_RE = re.compile(r"^@?([\w.:\-]{1,128})$")


def parse_idea_key(token: str) -> int | None:
    """``KZ-12``, ``kz12``, ``#12`` or ``12`` → 12; anything else → None."""
    match = _IDEA_KEY_RE.match(token.strip().rstrip(".,;:"))
    return int(match.group(1)) if match else None


def parse_user(token: str) -> str | None:
    """A platform user id from a mention (``<@U123|ana>``), ``@U123`` or a bare id."""
    token = token.strip()
    match = _MENTION_RE.match(token)
    if match:
        return match.group(1)
    match = _USER_ID_RE.match(token)
    return match.group(1) if match else None


def split_first(text: str) -> tuple[str, str]:
    """The first whitespace-separated token and the rest (both stripped)."""
    parts = text.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""
