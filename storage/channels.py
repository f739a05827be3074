"""Where the bot speaks on each platform: the channel configured for each purpose."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.model import ChannelConfig
from storage.models import ChannelRow


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
