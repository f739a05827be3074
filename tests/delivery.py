"""Waiting for the outbox in tests: no fixed sleeps, just "until everything due was tried"."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from adapters.host.runtime import Runtime
from bot.service import utcnow
from storage.models import OutboxRow


async def drained(runtime: Runtime, timeout: float = 8.0) -> None:
    """Until no pending outbox row is due (or being delivered) now; rows waiting out a
    backoff or a deferral later than now do not count."""
    async def waiting() -> int:
        async with runtime.sessions() as session:
            return int(await session.scalar(
                select(func.count()).select_from(OutboxRow)
                .where(OutboxRow.status == "pending",
                       OutboxRow.next_attempt_at <= utcnow())) or 0)

    deadline = asyncio.get_running_loop().time() + timeout
    while await waiting():
        assert asyncio.get_running_loop().time() < deadline, "deliveries did not drain"
        await asyncio.sleep(0.02)
