"""Helpers for the background jobs inside ``kaizen serve`` (inbox, delivery, scheduler,
housekeeping): a task that runs until stopped, and a loop that survives its own failures."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


async def repeatedly(action: Callable[[], Awaitable[Any]], seconds: float, what: str) -> None:
    """Run ``action`` now and then every ``seconds``, until cancelled. A failure (the database
    may be down) is logged with its traceback and the action simply runs again next time."""
    while True:
        try:
            await action()
        except Exception as exc:  # CancelledError is not an Exception: cancelling still stops
            log.warning("%s failed, trying again in %.0f s: %s", what, seconds, exc,
                        exc_info=exc)
        await asyncio.sleep(seconds)


class BackgroundTask:
    """Owns one asyncio task that runs :meth:`_loop` from start until stop."""

    task_name = "background"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        raise NotImplementedError
