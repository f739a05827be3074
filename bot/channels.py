"""``/kaizen ideas here``: a manager or admin picks the channel where ideas are posted."""

from __future__ import annotations

from bot.model import ChannelConfig
from bot.replies import Reply
from bot.turn import Turn

IDEAS = "ideas"


async def ideas_channel(turn: Turn) -> list[Reply]:
    argument = turn.argument.strip().lower()
    if argument != "here":
        current = await turn.uow.channels.get(turn.user.platform, turn.user.workspace, IDEAS)
        where = "a channel is set" if current else "no channel is set yet"
        return [Reply(
            f"New ideas are posted to the ideas channel ({where}). A manager or admin sets it "
            "by typing `/kaizen ideas here` in that channel.", kind="info")]
    if not turn.is_decider:
        return [Reply("Sorry, only managers and admins can choose the ideas channel.",
                      kind="refused")]
    if not turn.channel or turn.source.get("channel_type") == "im":
        return [Reply("Type `/kaizen ideas here` in the channel where ideas should be posted "
                      "(not in a direct message).", kind="error")]
    reference = dict(turn.source) or None
    await turn.uow.channels.set(
        ChannelConfig(turn.user.platform, turn.user.workspace, IDEAS, turn.channel, reference),
        turn.person.id, turn.now,
    )
    await turn.uow.idea_events.add(None, turn.person.id, "set_ideas_channel", None, None,
                                   turn.channel, turn.now, via="command")
    return [Reply("From now on, new ideas are posted in this channel. Managers approve them "
                  "by reacting.", kind="done")]
