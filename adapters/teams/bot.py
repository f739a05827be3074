"""The botbuilder activity handler: routes Teams activities to :class:`TeamsAdapter`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import ChannelAccount, MessageReaction
from botbuilder.schema.teams import TeamInfo, TeamsChannelAccount

if TYPE_CHECKING:
    from adapters.teams.app import TeamsAdapter


class KaizenTeamsBot(TeamsActivityHandler):
    def __init__(self, adapter: TeamsAdapter) -> None:
        self._adapter = adapter

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await self._adapter.on_message(turn_context)

    async def on_reactions_added(self, message_reactions: list[MessageReaction],
                                 turn_context: TurnContext) -> None:
        await self._adapter.on_reactions(turn_context, message_reactions, added=True)

    async def on_reactions_removed(self, message_reactions: list[MessageReaction],
                                   turn_context: TurnContext) -> None:
        await self._adapter.on_reactions(turn_context, message_reactions, added=False)

    async def on_teams_members_added(self, teams_members_added: list[TeamsChannelAccount],
                                     team_info: TeamInfo, turn_context: TurnContext) -> None:
        if any(m.id == turn_context.activity.recipient.id for m in teams_members_added):
            await self._adapter.remember(turn_context)

    async def on_members_added_activity(self, members_added: list[ChannelAccount],
                                        turn_context: TurnContext) -> None:
        if any(m.id == turn_context.activity.recipient.id for m in members_added):
            await self._adapter.remember(turn_context)

    async def on_teams_members_removed(self, teams_members_removed: list[TeamsChannelAccount],
                                       team_info: TeamInfo, turn_context: TurnContext) -> None:
        if any(m.id == turn_context.activity.recipient.id for m in teams_members_removed):
            await self._adapter.forget(turn_context)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._adapter.remember(turn_context)

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        await self._adapter.forget(turn_context)
