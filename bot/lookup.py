"""Finding the idea a command names (``KZ-12``), for every command that takes one.

Its own module so that decisions and standards both use it without importing each other.
"""

from __future__ import annotations

from bot import texts
from bot.model import Idea
from bot.references import parse_idea_key
from bot.replies import Reply, ReplyKind
from bot.turn import Turn


async def load_idea(turn: Turn, token: str) -> Idea | Reply:
    """The idea a key points at, in the speaker's workspace, or a reply saying what is wrong."""
    idea_id = parse_idea_key(token) if token else None
    if idea_id is None:
        return Reply(texts.IDEA_KEY_NEEDED, kind=ReplyKind.ERROR)
    idea = await turn.uow.ideas.get(idea_id)
    if idea is None or idea.workspace != turn.user.workspace or idea.platform != (
        turn.user.platform
    ):
        return Reply(f"I can't find an idea {token.upper()}. `/kaizen mine` lists yours.",
                     kind=ReplyKind.ERROR)
    return idea
