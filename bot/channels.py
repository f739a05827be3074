"""``/kaizen ideas here``: a manager or admin picks the channel where ideas are posted."""

from __future__ import annotations

from collections.abc import Mapping

from bot.events import Place
from bot.model import ChannelConfig
from bot.replies import Reply, ReplyKind
from bot.turn import Turn

IDEAS = "ideas"
BACKLOG_POSTED = 50
"""Open ideas from before the channel was chosen that are posted when it is (the newest)."""


def stored_reference(place: Place) -> dict[str, object] | None:
    """What is kept with a channel setting so the platform can write there later (Teams: its
    conversation reference, under ``reference``); None where the channel id is enough."""
    return {"reference": dict(place.reference)} if place.reference is not None else None


def way_in(stored: Mapping[str, object] | None) -> dict[str, object] | None:
    """The conversation reference :func:`stored_reference` kept with a setting, if any."""
    reference = stored.get("reference") if stored else None
    return dict(reference) if isinstance(reference, Mapping) else None


async def ideas_channel(turn: Turn) -> list[Reply]:
    argument = turn.argument.strip().lower()
    if argument != "here":
        current = await turn.uow.channels.get(turn.user.platform, turn.user.workspace, IDEAS)
        where = "a channel is set" if current else "no channel is set yet"
        return [Reply(
            f"New ideas are posted to the ideas channel ({where}). A manager or admin sets it "
            "by typing `/kaizen ideas here` in that channel.", kind=ReplyKind.INFO)]
    if not turn.is_decider:
        return [Reply("Sorry, only managers and admins can choose the ideas channel.",
                      kind=ReplyKind.REFUSED)]
    if not turn.channel or turn.place.direct:
        return [Reply("Type `/kaizen ideas here` in the channel where ideas should be posted "
                      "(not in a direct message).", kind=ReplyKind.ERROR)]
    reference = stored_reference(turn.place)
    await turn.uow.channels.set(
        ChannelConfig(turn.user.platform, turn.user.workspace, IDEAS, turn.channel, reference),
        turn.person.id, turn.now,
    )
    await turn.uow.idea_events.add(None, turn.person.id, "set_ideas_channel", None, None,
                                   turn.channel, turn.now, via="command")
    # Ideas shared before any channel was chosen are posted now, not left unseen.
    waiting, total = await turn.uow.ideas.open_unposted(turn.user.platform,
                                                         turn.user.workspace, BACKLOG_POSTED)
    for idea_id in waiting:
        turn.changed(idea_id)
    text = ("From now on, new ideas are posted in this channel. Managers approve them by "
            "reacting.")
    if total:
        some = (f"the newest {len(waiting)} of the {total} open ideas" if total > len(waiting)
                else f"the {total} open idea{'s' * (total != 1)}")
        text += f" I'm also posting {some} shared before a channel was chosen."
    return [Reply(text, kind=ReplyKind.DONE)]
