"""botbuilder measured on its own, for bench/bench_turns.py.

Benchmark-only: it patches production classes, so it lives here, not in ``adapters/``; it is
the one place outside ``adapters/teams/`` that imports botbuilder, and only for measuring it.

:func:`botbuilder_only_handler` is a ``POST /api/messages`` handler that runs a message activity
through ``CloudAdapter`` (local mode) to a bot that does nothing of ours: it replies once to the
(fake) Bot Connector, or not at all. :func:`use_stock_botbuilder` switches this process back to
botbuilder as shipped, so the fixes in :mod:`adapters.teams.performance` can be compared with
what they fix.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity

import adapters.teams.app as teams_app
import adapters.teams.performance as performance
from adapters.host.settings import Settings
from adapters.teams.config import BotConfig

Handler = Callable[[web.Request], Awaitable[web.Response]]


def botbuilder_only_handler(settings: Settings, fixed: bool, reply: bool) -> Handler:
    """CloudAdapter and a bot that replies once (``reply``) or not; stock, or with our fixes."""
    if fixed:
        performance.apply_msrest_retry_policy_fix()
        authentication = performance.CachedConnectorAuthentication
    else:
        authentication = ConfigurationBotFrameworkAuthentication
    adapter = CloudAdapter(authentication(BotConfig(settings)))

    async def bot(turn_context: TurnContext) -> None:
        if reply:
            await turn_context.send_activity("ok")

    async def handle(request: web.Request) -> web.Response:
        activity = Activity().deserialize(await request.json())
        await adapter.process_activity(request.headers.get("Authorization", ""), activity, bot)
        return web.Response(status=201)

    return handle


def use_stock_botbuilder() -> None:
    """For this process: msrest keeps its list scan and every turn builds new clients, as
    botbuilder ships (call before the Teams adapter is built)."""
    performance._applied = True  # the msrest fix counts as applied, so it never runs
    teams_app.CachedConnectorAuthentication = (  # type: ignore[attr-defined]
        ConfigurationBotFrameworkAuthentication)
