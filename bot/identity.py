"""How people are named in configuration: ``platform:id`` (``slack:U123``,
``teams:<Entra object id>``, ``console:ana``).

A bare id is never enough: a Slack team and a Teams tenant can have equal strings, and a role
given to ``U123`` must not be claimable by whoever calls themselves ``U123`` on another platform.
``/kaizen whoami`` prints the exact string to paste.
"""

from __future__ import annotations

import re

PLATFORMS = ("slack", "teams", "console")
_ID = re.compile(r"^[\w.:@\-]{1,255}$")


def identity(platform: str, user_id: str) -> str:
    """The configured form of a platform user id."""
    return f"{platform}:{user_id}"


def parse_identity(text: str) -> tuple[str, str] | None:
    """``slack:U123`` → ``("slack", "U123")``; None for a bare id, an unknown platform or
    characters no platform uses in its ids."""
    platform, sep, user_id = text.strip().partition(":")
    if not sep or platform.lower() not in PLATFORMS or not _ID.match(user_id):
        return None
    return platform.lower(), user_id


def identity_problem(text: str, variable: str) -> str | None:
    """Why ``text`` is not a usable identity in ``variable``, with the form to use instead."""
    if parse_identity(text) is not None:
        return None
    platform, sep, _ = text.strip().partition(":")
    if sep and platform.lower() not in PLATFORMS:
        return (f"{variable} entry {text!r} names an unknown platform {platform!r}: use one of "
                f"{', '.join(PLATFORMS)}, e.g. slack:U0123ABCD")
    return (f"{variable} entry {text!r} needs its platform: write slack:{text.strip()} for a "
            "Slack member id, teams:<Entra object id> for Teams or console:<name>; "
            "`/kaizen whoami` prints yours")
