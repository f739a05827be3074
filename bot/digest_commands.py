"""``/kaizen digest here …``, ``/kaizen digest off`` and ``/kaizen digest`` in a channel."""

from __future__ import annotations

import logging

from bot import texts
from bot.channels import stored_reference
from bot.references import split_first
from bot.replies import Reply, ReplyKind
from bot.schedule import ScheduleError, next_run, parse_subscription
from bot.turn import Turn

log = logging.getLogger(__name__)

USAGE = (
    "`/kaizen digest here [HH:MM] [Time/Zone] [weekdays|daily|mon,tue,…] [#area …]` subscribes "
    "this channel to the daily stand-up digest; `/kaizen digest off` stops it; `/kaizen digest` "
    "shows the schedule."
)


async def digest(turn: Turn) -> list[Reply]:
    verb, rest = split_first(turn.argument)
    verb = verb.lower()
    if turn.place.direct or not turn.channel:
        return [Reply("Digests go to channels: type this in the channel whose stand-up should "
                      f"get it. {USAGE}", kind=ReplyKind.ERROR)]
    if verb == "here":
        return await _subscribe(turn, rest)
    if verb == "off":
        return await _unsubscribe(turn)
    if verb in {"", "show", "status"}:
        return await _show(turn)
    return [Reply(f"I don't know `digest {verb}`. {USAGE}", kind=ReplyKind.ERROR)]


async def _subscribe(turn: Turn, args: str) -> list[Reply]:
    if not turn.is_decider:
        return [Reply("Sorry, only managers and admins can set up the digest.",
                      kind=ReplyKind.REFUSED)]
    try:
        request = parse_subscription(args, turn.policy.digest_time, turn.policy.timezone)
    except ScheduleError as exc:
        return [Reply(str(exc), kind=ReplyKind.ERROR)]
    if await _workspace_full(turn):
        return [texts.digest_subscriptions_full(turn.policy.digest_subscriptions_max)]
    reference = stored_reference(turn.place)
    await turn.uow.digests.subscribe(turn.user.platform, turn.user.workspace,
                                     turn.channel or "", reference, request.schedule,
                                     request.areas, turn.person.id, turn.now)
    upcoming = next_run(request.schedule, turn.now)
    areas = (" for " + ", ".join(f"#{a}" for a in request.areas)) if request.areas else ""
    when = f" The next one comes {upcoming:%A %d %B at %H:%M} ({request.schedule.zone})." if (
        upcoming) else ""
    return [Reply(f"This channel gets the kaizen stand-up digest at "
                  f"{request.schedule.describe()}{areas}.{when}", kind=ReplyKind.DONE)]


async def _workspace_full(turn: Turn) -> bool:
    """A new channel's subscription would pass KAIZEN_DIGEST_SUBSCRIPTIONS_MAX (each one is a
    daily query and post, so a workspace cannot ask for unbounded work). Changing an existing
    channel's subscription never counts as one more."""
    maximum = turn.policy.digest_subscriptions_max
    platform, workspace = turn.user.platform, turn.user.workspace
    if maximum <= 0 or await turn.uow.digests.get(platform, workspace, turn.channel or ""):
        return False
    count = await turn.uow.digests.count(platform, workspace)
    if count < maximum:
        return False
    log.warning("digest subscriptions: %s:%s has %d (max %d); %s refused for channel %s",
                platform, workspace, count, maximum, turn.user.user_id, turn.channel)
    return True


async def _unsubscribe(turn: Turn) -> list[Reply]:
    if not turn.is_decider:
        return [Reply("Sorry, only managers and admins can stop the digest.",
                      kind=ReplyKind.REFUSED)]
    removed = await turn.uow.digests.unsubscribe(turn.user.platform, turn.user.workspace,
                                                 turn.channel or "")
    return [Reply("The digest for this channel is off." if removed else
                  "This channel has no digest to turn off.",
                  kind=ReplyKind.DONE if removed else ReplyKind.INFO)]


async def _show(turn: Turn) -> list[Reply]:
    found = await turn.uow.digests.get(turn.user.platform, turn.user.workspace,
                                       turn.channel or "")
    if found is None:
        return [Reply(f"This channel has no digest yet. {USAGE}", kind=ReplyKind.INFO)]
    upcoming = next_run(found.schedule, turn.now)
    when = f"{upcoming:%A %d %B %H:%M} ({found.schedule.zone})" if upcoming else "not scheduled"
    fields = [("Schedule", found.describe()), ("Next digest", when)]
    if found.last_result:
        fields.append(("Last result", found.last_result))
    if found.failing:
        fields.append(("Problem", "posting here failed permanently; type `/kaizen digest here` "
                                  "again once the bot can post"))
    return [Reply("The kaizen stand-up digest for this channel:", fields=tuple(fields),
                  kind=ReplyKind.INFO)]
