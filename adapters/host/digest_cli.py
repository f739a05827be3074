"""``kaizen digest``: list subscriptions, print a digest, or queue one now."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from adapters.host.runtime import Runtime
from adapters.jobs.scheduler import FIRST_PERIOD, queue_digest
from bot.digest import compose, render_plain
from bot.schedule import latest_due, next_run, scheduled_at
from bot.subscriptions import Subscription


async def run_digest_command(runtime: Runtime, args: argparse.Namespace) -> int:
    async with runtime.unit_of_work() as uow:
        subscriptions = [s for s in await uow.digests.all()
                         if not args.channel or s.channel_id == args.channel]
    if args.channel and not subscriptions:
        print(f"kaizen digest: no subscription for channel {args.channel}", file=sys.stderr)
        return 2
    if args.list:
        return _list(subscriptions, runtime.clock())
    if args.print_only:
        return await _print(runtime, subscriptions, args.date)
    return await _post_now(runtime, subscriptions, args.force)


def _list(subscriptions: list[Subscription], now: datetime) -> int:
    if not subscriptions:
        print("No digest subscriptions. In a channel, a manager types `/kaizen digest here`.")
        return 0
    for sub in subscriptions:
        upcoming = next_run(sub.schedule, now)
        when = f"{upcoming:%Y-%m-%d %H:%M %Z}" if upcoming else "-"
        state = "FAILING" if sub.failing else "ok"
        print(f"{sub.platform:6} {sub.channel_id:30} {sub.describe():45} next {when:22} "
              f"{state:7} last: {sub.last_result or '-'}")
    return 0


async def _print(runtime: Runtime, subscriptions: list[Subscription],
                 day: str | None) -> int:
    now = runtime.clock()
    if not subscriptions:
        # Nothing subscribed yet (e.g. trying it with `kaizen chat`): the console workspace.
        zone = runtime.settings.timezone
        end = _end_of(day, zone) if day else now
        async with runtime.unit_of_work() as uow:
            facts = await uow.digests.facts("console", "local", (), end - FIRST_PERIOD, end,
                                            zone)
        print(render_plain(compose(facts)))
        return 0
    for sub in subscriptions:
        if day:
            at = scheduled_at(sub.schedule, _parse_date(day))
        else:
            due = latest_due(sub.schedule, now)
            at = due[1] if due else now
        async with runtime.unit_of_work() as uow:
            start = await uow.digests.previous_end(sub.id, at) or at - FIRST_PERIOD
            facts = await uow.digests.facts(sub.platform, sub.workspace, sub.areas, start, at,
                                            sub.schedule.zone)
        print(f"--- {sub.platform} {sub.channel_id} ---")
        print(render_plain(compose(facts)))
    return 0


async def _post_now(runtime: Runtime, subscriptions: list[Subscription], force: bool) -> int:
    if not subscriptions:
        print("No digest subscriptions. In a channel, a manager types `/kaizen digest here`.")
        return 0
    now = runtime.clock()
    for sub in subscriptions:
        today = now.astimezone(sub.schedule.tz).date()
        if await queue_digest(runtime, sub, today, now, now, claim=True):
            print(f"{sub.channel_id}: digest queued; a running `kaizen serve` posts it")
        elif force:
            await queue_digest(runtime, sub, today, now, now, claim=False)
            print(f"{sub.channel_id}: digest queued again (--force)")
        else:
            print(f"{sub.channel_id}: today's digest was already posted (use --force to post "
                  "again)")
    return 0


EARLIEST_DATE, LATEST_DATE = date(1970, 1, 1), date(2999, 12, 31)
"""``--date`` range: the digest looks back a year from its date, and date arithmetic near
year 1 or 9999 overflows (a traceback instead of a digest)."""


def _parse_date(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or not EARLIEST_DATE <= day <= LATEST_DATE:
        raise SystemExit(f"kaizen digest: --date must be YYYY-MM-DD from {EARLIEST_DATE} to "
                         f"{LATEST_DATE}, not {text!r}")
    return day


def _end_of(day: str, zone: str) -> datetime:
    start = datetime.combine(_parse_date(day), datetime.min.time(), ZoneInfo(zone))
    return start + timedelta(days=1)
