"""Digest subscriptions and their runs, as the core and the scheduler see them.

Records, not rows: storage returns them from ``uow.digests`` and the bot, the scheduler and
``kaizen digest`` read them, so they live in the core, free of any database library.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.schedule import Schedule


@dataclass(frozen=True, slots=True)
class Subscription:
    """A channel's digest: when it comes, which areas it covers, and how the last one went."""

    id: int
    platform: str
    workspace: str
    channel_id: str
    reference: dict[str, Any] | None
    schedule: Schedule
    areas: tuple[str, ...]
    last_local_date: date | None
    last_result: str | None
    failing: bool
    since: datetime | None = None  # created or last changed: runs due before are not missed

    def describe(self) -> str:
        areas = f", areas {', '.join('#' + a for a in self.areas)}" if self.areas else ""
        return f"{self.schedule.describe()}{areas}"


@dataclass(frozen=True, slots=True)
class DigestRun:
    """One subscription's digest for one local date: unique, which makes it exactly-once."""

    local_date: date
    status: str
    period_start: datetime
    period_end: datetime
