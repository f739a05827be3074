"""When digests are due: parsing, weekdays, DST in Europe/Berlin, catching up after downtime."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.schedule import (
    DAILY,
    WEEKDAYS,
    Schedule,
    ScheduleError,
    decide,
    next_run,
    parse_subscription,
)

BERLIN = ZoneInfo("Europe/Berlin")
NINE_BERLIN = Schedule(time(9, 0), "Europe/Berlin", WEEKDAYS)


def test_defaults_and_every_form() -> None:
    default = parse_subscription("", "09:00", "UTC")
    assert (default.schedule.at, default.schedule.zone, default.schedule.days) == (
        time(9), "UTC", WEEKDAYS)
    full = parse_subscription("7:45 europe/berlin mon,wed,fri #Finance #sales", "09:00", "UTC")
    assert full.schedule == Schedule(time(7, 45), "Europe/Berlin", frozenset({0, 2, 4}))
    assert full.areas == ("finance", "sales")
    assert parse_subscription("daily UTC", "09:00", "UTC").schedule.days == DAILY


@pytest.mark.parametrize(("args", "says"), [
    ("25:00", "not a time"),
    ("Mars/Olympus", "not a time zone I know"),
    ("sometimes", "I don't understand"),
])
def test_bad_arguments_list_the_accepted_forms(args: str, says: str) -> None:
    with pytest.raises(ScheduleError, match=says) as error:
        parse_subscription(args, "09:00", "UTC")
    assert "HH:MM" in str(error.value) and "Europe/Berlin" in str(error.value)


def simulate(schedule: Schedule, start: datetime, end: datetime,
             step: timedelta = timedelta(minutes=10),
             down: tuple[datetime, datetime] | None = None,
             last: date | None = None) -> tuple[list[datetime], list[date]]:
    """Tick like the scheduler (every ``step``, not while ``down``); returns run instants."""
    runs, skipped = [], []
    now, created = start, start
    while now <= end:
        if down is None or not (down[0] <= now < down[1]):
            decision = decide(schedule, now, last, not_before=created if last is None else None)
            for missed_day, _ in decision.skips:
                skipped.append(missed_day)
                last = missed_day
            if decision.run:
                runs.append(now)
                last = decision.run[0]
        now += step
    return runs, skipped


@pytest.mark.parametrize("first_day", [date(2026, 3, 23), date(2026, 10, 19)])
def test_nine_berlin_posts_once_per_weekday_at_nine_local_across_dst(first_day: date) -> None:
    start = datetime.combine(first_day, time(0), BERLIN)
    runs, skipped = simulate(NINE_BERLIN, start, start + timedelta(days=14))
    local = [r.astimezone(BERLIN) for r in runs]
    assert [(r.hour, r.minute) for r in local] == [(9, 0)] * 10  # ten weekdays, on the dot
    assert [r.weekday() for r in local] == [0, 1, 2, 3, 4] * 2
    assert len({r.date() for r in local}) == 10 and skipped == []
    offsets = {r.utcoffset() for r in local}
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}  # both sides of the change


def test_daily_runs_on_weekends_too() -> None:
    start = datetime(2026, 3, 27, tzinfo=BERLIN)  # Friday, DST starts Sunday
    schedule = Schedule(time(9), "Europe/Berlin", DAILY)
    runs, _ = simulate(schedule, start, start + timedelta(days=3, hours=12))
    assert [r.astimezone(BERLIN).strftime("%a %H:%M") for r in runs] == [
        "Fri 09:00", "Sat 09:00", "Sun 09:00", "Mon 09:00"]


def test_a_time_inside_the_spring_gap_still_runs_once() -> None:
    schedule = Schedule(time(2, 30), "Europe/Berlin", DAILY)  # 02:30 does not exist on Mar 29
    start = datetime(2026, 3, 28, tzinfo=BERLIN)
    runs, _ = simulate(schedule, start, start + timedelta(days=3))
    assert len(runs) == 3
    assert len({r.astimezone(BERLIN).date() for r in runs}) == 3


def test_catch_up_after_five_hours_down_posts_once() -> None:
    start = datetime(2026, 11, 2, 8, 0, tzinfo=BERLIN)  # Monday
    down = (datetime(2026, 11, 3, 7, 0, tzinfo=BERLIN), datetime(2026, 11, 3, 12, 0,
                                                                  tzinfo=BERLIN))
    runs, skipped = simulate(NINE_BERLIN, start, datetime(2026, 11, 3, 23, 0, tzinfo=BERLIN),
                             down=down)
    assert [r.astimezone(BERLIN).strftime("%a %H:%M") for r in runs] == ["Mon 09:00",
                                                                         "Tue 12:00"]
    assert skipped == []


def test_after_two_days_down_only_the_latest_is_posted_and_the_missed_one_recorded() -> None:
    start = datetime(2026, 11, 2, 8, 0, tzinfo=BERLIN)  # Monday
    down = (datetime(2026, 11, 2, 12, 0, tzinfo=BERLIN), datetime(2026, 11, 4, 10, 0,
                                                                   tzinfo=BERLIN))
    runs, skipped = simulate(NINE_BERLIN, start, datetime(2026, 11, 4, 23, 0, tzinfo=BERLIN),
                             down=down)
    assert [r.astimezone(BERLIN).strftime("%a %H:%M") for r in runs] == ["Mon 09:00",
                                                                         "Wed 10:00"]
    # Only the latest run is posted; Tuesday's, missed while down, is recorded as skipped
    # (and so logged once) instead of vanishing.
    assert skipped == [date(2026, 11, 3)]


def test_back_too_late_skips_and_waits_for_the_next() -> None:
    start = datetime(2026, 11, 4, 22, 0, tzinfo=BERLIN)  # Wed 22:00, 13 h after 09:00
    runs, skipped = simulate(NINE_BERLIN, start, datetime(2026, 11, 5, 12, 0, tzinfo=BERLIN),
                             last=date(2026, 11, 2))
    assert skipped == [date(2026, 11, 3), date(2026, 11, 4)]  # each missed run, once
    assert [r.astimezone(BERLIN).strftime("%a %H:%M") for r in runs] == ["Thu 09:00"]


def test_runs_due_before_the_subscription_existed_are_not_missed() -> None:
    monday_morning = datetime(2026, 11, 2, 8, 0, tzinfo=BERLIN)  # Friday 09:00 is 2 days ago
    assert decide(NINE_BERLIN, monday_morning, None, not_before=monday_morning).skip is None
    assert decide(NINE_BERLIN, monday_morning, None).skip is not None


def test_next_run_skips_weekends() -> None:
    friday_evening = datetime(2026, 11, 6, 18, 0, tzinfo=BERLIN)
    upcoming = next_run(NINE_BERLIN, friday_evening)
    assert upcoming is not None
    assert upcoming.astimezone(BERLIN).strftime("%a %d %H:%M") == "Mon 09 09:00"
    assert upcoming.tzinfo is not None and upcoming.astimezone(UTC).hour == 8
