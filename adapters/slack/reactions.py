"""Slack reaction names as the core understands them: one name per emoji."""

from __future__ import annotations

_ALIASES = {
    "thumbsup": "+1",
    "thumbs_up": "+1",
    "thumbsdown": "-1",
    "thumbs_down": "-1",
    "heavy_check_mark": "heavy_check_mark",
    "white_check_mark": "white_check_mark",
    "x": "x",
}


def normalise(name: str) -> str:
    """``thumbsup`` → ``+1``, ``white_check_mark::skin-tone-2`` → ``white_check_mark``."""
    base = name.strip().strip(":").lower().split("::", 1)[0]
    return _ALIASES.get(base, base)
