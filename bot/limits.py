"""Abuse limits the core enforces: ideas per person per hour, digest subscriptions per workspace.

A limit is a kindness to everyone else (a script or a stuck client must not bury the board or
make the scheduler post hundreds of digests), so each one answers with when the person can go
on, and never loses what they wrote. Both are counted in the database, so they hold however
many workers serve the workspace; two turns racing at the very edge may both pass (a soft
limit: no lock is worth making every capture wait for).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.turn import Turn

log = logging.getLogger(__name__)

CAPTURE_WINDOW = timedelta(hours=1)
"""The capture limit counts ideas created in this rolling window."""


async def next_capture_at(turn: Turn) -> datetime | None:
    """When this person may share their next idea, or None if they may right now.

    Reads at most ``limit`` creation times: with the newest ``limit`` ideas all inside the
    window, the next one is allowed once the oldest of them is an hour old.
    """
    limit = turn.policy.capture_limit_per_hour
    if limit <= 0:
        return None
    recent = await turn.uow.ideas.created_since(turn.person.id, turn.now - CAPTURE_WINDOW,
                                                limit)
    if len(recent) < limit:
        return None
    return min(recent) + CAPTURE_WINDOW


def log_capture_limited(turn: Turn, until: datetime, what: str) -> None:
    """One line an operator can grep for (``capture limit``) and act on."""
    user = turn.user
    log.warning("capture limit: %s:%s:%s reached %d ideas in an hour; %s until %s",
                user.platform, user.workspace, user.user_id,
                turn.policy.capture_limit_per_hour, what, until.isoformat(timespec="seconds"))
