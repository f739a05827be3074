"""When a digest is due: local times in IANA zones, weekdays, DST, and catching up after downtime.

Pure functions over aware datetimes. A run is identified by its *local date*: a 09:00
Europe/Berlin digest is due at 09:00 Berlin time on each scheduled day, whatever the UTC offset
that day, so it can never run twice or be skipped across a DST change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS = frozenset(range(5))
DAILY = frozenset(range(7))
CATCH_UP = timedelta(hours=12)
MISSED_LOOKBACK = timedelta(days=31)
"""How far back missed runs are recorded one by one after an outage."""
"""A run missed by downtime is still posted if we are back within this long; older ones skip."""

_TIME_RE = re.compile(r"^([01]?\d|2[0-3])[:.h]([0-5]\d)$")
_AREA_RE = re.compile(r"^#([A-Za-z][\w-]{0,39})$")


@dataclass(frozen=True, slots=True)
class Schedule:
    at: time
    zone: str
    days: frozenset[int] = WEEKDAYS  # 0 = Monday

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def describe(self) -> str:
        return f"{self.at:%H:%M} {self.zone}, {describe_days(self.days)}"


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """``digest here [HH:MM] [Zone] [weekdays|daily|mon,tue,…] [#area …]`` once parsed."""

    schedule: Schedule
    areas: tuple[str, ...] = field(default_factory=tuple)


class ScheduleError(ValueError):
    """Bad subscription arguments, with a message listing the accepted forms."""


ACCEPTED_FORMS = (
    "Use `/kaizen digest here [HH:MM] [Time/Zone] [weekdays|daily|mon,tue,…] [#area …]`, "
    "e.g. `/kaizen digest here 08:45 Europe/Berlin weekdays #finance`. Times are 24-hour "
    "HH:MM; zones are IANA names such as Europe/Berlin, America/New_York or UTC."
)


MAX_DIGEST_AREAS = 20
"""Areas one digest may follow: every digest query filters by them, so the list is bounded
(a message of #tags could otherwise name thousands)."""


def parse_subscription(args: str, default_time: str, default_zone: str) -> SubscriptionRequest:
    """Read the arguments after ``digest here``; anything not understood is an error."""
    at = _parse_time(default_time)
    zone, days, areas = default_zone, WEEKDAYS, []
    for token in args.split():
        lowered = token.lower()
        if (match := _TIME_RE.match(token)) is not None:
            at = time(int(match.group(1)), int(match.group(2)))
        elif (match := _AREA_RE.match(token)) is not None:
            areas.append(match.group(1).lower())
        elif lowered in {"weekdays", "workdays"}:
            days = WEEKDAYS
        elif lowered in {"daily", "everyday", "every-day"}:
            days = DAILY
        elif all(part in DAY_NAMES for part in lowered.split(",") if part) and lowered.strip(","):
            days = frozenset(DAY_NAMES.index(part) for part in lowered.split(",") if part)
        elif "/" in token or token.upper() in {"UTC", "GMT"}:
            zone = _valid_zone(token)
        elif re.match(r"^\d", token):
            raise ScheduleError(f"“{token}” is not a time I understand. {ACCEPTED_FORMS}")
        else:
            raise ScheduleError(f"I don't understand “{token}”. {ACCEPTED_FORMS}")
    unique_areas = tuple(dict.fromkeys(areas))
    if len(unique_areas) > MAX_DIGEST_AREAS:
        raise ScheduleError(f"A digest can follow up to {MAX_DIGEST_AREAS} areas; you named "
                            f"{len(unique_areas)}. Name fewer, or none for all areas.")
    return SubscriptionRequest(Schedule(at, zone, days), unique_areas)


def _parse_time(text: str) -> time:
    match = _TIME_RE.match(text.strip())
    if match is None:
        raise ScheduleError(f"“{text}” is not a time. {ACCEPTED_FORMS}")
    return time(int(match.group(1)), int(match.group(2)))


def _valid_zone(name: str) -> str:
    if name.upper() in {"UTC", "GMT"}:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = sorted(z for z in available_timezones() if z.lower() == name.lower())
        if close:
            return close[0]  # europe/berlin → Europe/Berlin
        raise ScheduleError(f"“{name}” is not a time zone I know. {ACCEPTED_FORMS}") from None
    return name


def describe_days(days: frozenset[int]) -> str:
    if days == WEEKDAYS:
        return "weekdays"
    if days == DAILY:
        return "daily"
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def days_from_text(text: str) -> frozenset[int]:
    if text == "weekdays":
        return WEEKDAYS
    if text == "daily":
        return DAILY
    return frozenset(DAY_NAMES.index(part) for part in text.split(",") if part)


def scheduled_at(schedule: Schedule, local_date: date) -> datetime:
    """The instant of the run on ``local_date`` (aware). A time that does not exist that day
    (inside a spring-forward gap) runs at the same wall-clock distance after the gap."""
    local = datetime.combine(local_date, schedule.at).replace(tzinfo=schedule.tz)
    # Round-trip through UTC normalises non-existent local times.
    return local.astimezone(ZoneInfo("UTC")).astimezone(schedule.tz)


def latest_due(schedule: Schedule, now: datetime) -> tuple[date, datetime] | None:
    """The most recent scheduled run at or before ``now`` (looking back a week)."""
    today = now.astimezone(schedule.tz).date()
    for back in range(8):
        day = today - timedelta(days=back)
        if day.weekday() not in schedule.days:
            continue
        at = scheduled_at(schedule, day)
        if at <= now:
            return day, at
    return None


def next_run(schedule: Schedule, after: datetime) -> datetime | None:
    """The first scheduled run strictly after ``after``."""
    start = after.astimezone(schedule.tz).date()
    for ahead in range(8):
        day = start + timedelta(days=ahead)
        if day.weekday() in schedule.days and (at := scheduled_at(schedule, day)) > after:
            return at
    return None


@dataclass(frozen=True, slots=True)
class Decision:
    """What a scheduler tick should do for one subscription."""

    run: tuple[date, datetime] | None = None
    skips: tuple[tuple[date, datetime], ...] = ()
    """Every missed run not posted (too late, or older than one that is), oldest first: each
    is recorded and logged once."""

    @property
    def skip(self) -> tuple[date, datetime] | None:
        """The newest missed run, if any."""
        return self.skips[-1] if self.skips else None


def decide(schedule: Schedule, now: datetime, last_local_date: date | None,
           not_before: datetime | None = None) -> Decision:
    """Run the latest due digest if it has not run and is recent enough; else skip it.

    Runs due before ``not_before`` (when the subscription was made or changed) are not missed
    runs: they never belonged to it.
    """
    due = latest_due(schedule, now)
    if due is None or (last_local_date is not None and due[0] <= last_local_date):
        return Decision()
    if not_before is not None and due[1] < not_before:
        return Decision()
    missed = _missed_before(schedule, due[0], last_local_date, not_before)
    if now - due[1] > CATCH_UP:
        return Decision(skips=(*missed, due))
    return Decision(run=due, skips=missed)


def _missed_before(schedule: Schedule, day: date, last_local_date: date | None,
                   not_before: datetime | None) -> tuple[tuple[date, datetime], ...]:
    """Scheduled runs before ``day`` that never ran: after the last one that did (or since
    the subscription began), at most :data:`MISSED_LOOKBACK` back."""
    if last_local_date is None and not_before is None:
        return ()
    found: list[tuple[date, datetime]] = []
    for back in range(1, MISSED_LOOKBACK.days + 1):
        earlier = day - timedelta(days=back)
        if last_local_date is not None and earlier <= last_local_date:
            break
        if earlier.weekday() not in schedule.days:
            continue
        at = scheduled_at(schedule, earlier)
        if not_before is not None and at < not_before:
            break
        found.append((earlier, at))
    return tuple(reversed(found))
