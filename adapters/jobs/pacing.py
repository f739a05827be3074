"""Pacing sends into one conversation: platforms throttle a bot that writes faster."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque


class ConversationPacer:
    """At most ``rate`` sends per ``period`` into one conversation (platforms throttle beyond
    that: Teams 7/s per conversation, Slack about 1/s per channel)."""

    def __init__(self, rate: int, period: float = 1.0) -> None:
        self._rate, self._period = rate, period
        self._sent: dict[str, deque[float]] = defaultdict(deque)

    async def wait(self, conversation_id: str) -> None:
        window = self._sent[conversation_id]
        now = time.monotonic()
        while window and now - window[0] >= self._period:
            window.popleft()
        if len(window) >= self._rate:
            await asyncio.sleep(self._period - (now - window[0]))
            window.popleft()
        window.append(time.monotonic())
