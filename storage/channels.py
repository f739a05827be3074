"""Where the bot speaks on each platform: the channel configured for each purpose, the
conversations it may write to later (Teams conversation references: a person's chat or a
channel), and the message that shows each idea (its post, updated in place).

The three are addresses on a platform rather than parts of an idea or a person, and the
configured channel already keeps a conversation reference of its own, so they read together.
Only :class:`SqlChannels` is one of the core's ports; the other two are the adapters'."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.model import ChannelConfig
from storage.dialect import insert_ignoring_conflicts
from storage.models import ChannelRow, ConversationRefRow, IdeaPostRow


class SqlChannels:
    """Implements :class:`bot.ports.Channels`: the channel set up for each purpose."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def set(self, config: ChannelConfig, set_by: int | None, now: datetime) -> None:
        where = (
            ChannelRow.platform == config.platform,
            ChannelRow.workspace == config.workspace,
            ChannelRow.purpose == config.purpose,
        )
        row = await self._session.scalar(select(ChannelRow).where(*where))
        if row is None:
            self._session.add(ChannelRow(
                platform=config.platform, workspace=config.workspace, purpose=config.purpose,
                channel_id=config.channel_id, reference=config.reference, set_by_id=set_by,
                updated_at=now,
            ))
        else:
            row.channel_id = config.channel_id
            row.reference = config.reference
            row.set_by_id = set_by
            row.updated_at = now
        await self._session.flush()

    async def get(self, platform: str, workspace: str, purpose: str) -> ChannelConfig | None:
        row = await self._session.scalar(select(ChannelRow).where(
            ChannelRow.platform == platform,
            ChannelRow.workspace == workspace,
            ChannelRow.purpose == purpose,
        ))
        if row is None:
            return None
        return ChannelConfig(row.platform, row.workspace, row.purpose, row.channel_id,
                             dict(row.reference) if row.reference else None)


class SqlConversationRefs:
    """How to write to a conversation later (proactive messages), disabled while the platform
    refuses the bot there."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def _where(self, platform: str, workspace: str, scope: str, key: str) -> tuple[Any, ...]:
        return (
            ConversationRefRow.platform == platform,
            ConversationRefRow.workspace == workspace,
            ConversationRefRow.scope == scope,
            ConversationRefRow.ref_key == key,
        )

    async def save(self, platform: str, workspace: str, scope: str, key: str,
                   reference: dict[str, Any], now: datetime) -> bool:
        """Store (or refresh, re-enabling) a reference; True if it was new or disabled."""
        row = await self._session.scalar(
            select(ConversationRefRow).where(*self._where(platform, workspace, scope, key)))
        if row is None:
            self._session.add(ConversationRefRow(
                platform=platform, workspace=workspace, scope=scope, ref_key=key,
                reference=reference, disabled=False, updated_at=now))
            await self._session.flush()
            return True
        was_disabled = row.disabled
        if row.reference != reference or was_disabled:
            row.reference = reference
            row.disabled = False
            row.disabled_reason = None
            row.updated_at = now
        return was_disabled

    async def get(self, platform: str, workspace: str, scope: str,
                  key: str) -> tuple[dict[str, Any], bool] | None:
        """The reference and whether it is disabled, or None."""
        row = await self._session.scalar(
            select(ConversationRefRow).where(*self._where(platform, workspace, scope, key)))
        return (dict(row.reference), row.disabled) if row else None

    async def disable(self, platform: str, workspace: str, scope: str, key: str,
                      reason: str, now: datetime) -> None:
        await self._session.execute(
            update(ConversationRefRow)
            .where(*self._where(platform, workspace, scope, key))
            .values(disabled=True, disabled_reason=reason[:300], updated_at=now))

    async def forget(self, platform: str, workspace: str, scope: str, key: str) -> None:
        await self._session.execute(
            delete(ConversationRefRow).where(*self._where(platform, workspace, scope, key)))


GONE = "gone:"
"""Prefix of the message id of an idea post someone deleted (the id stays unique)."""


class SqlIdeaPosts:
    """Which platform message shows an idea: reactions on it find their idea, and the
    deliverer updates it in place when the idea changes."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find_idea(self, platform: str, channel: str, message_id: str) -> int | None:
        return await self._session.scalar(
            select(IdeaPostRow.idea_id).where(
                IdeaPostRow.platform == platform,
                IdeaPostRow.channel == channel,
                IdeaPostRow.message_id == message_id,
            )
        )

    async def save(self, idea_id: int, platform: str, channel: str, message_id: str,
                   now: datetime) -> None:
        await self._session.execute(insert_ignoring_conflicts(
            self._session, IdeaPostRow.__table__,
            {"idea_id": idea_id, "platform": platform, "channel": channel,
             "message_id": message_id, "posted_at": now, "updated_at": now},
        ))

    async def mark_gone(self, idea_id: int, platform: str, now: datetime) -> None:
        """Someone deleted the post: remember it (its message id marked :data:`GONE`) so its
        updates stop and it is not posted again."""
        await self._session.execute(
            update(IdeaPostRow)
            .where(IdeaPostRow.idea_id == idea_id, IdeaPostRow.platform == platform,
                   ~IdeaPostRow.message_id.startswith(GONE))
            .values(message_id=GONE + IdeaPostRow.message_id, updated_at=now)
        )

    async def touch(self, idea_id: int, platform: str, now: datetime) -> None:
        await self._session.execute(
            update(IdeaPostRow)
            .where(IdeaPostRow.idea_id == idea_id, IdeaPostRow.platform == platform)
            .values(updated_at=now)
        )
