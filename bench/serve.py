"""The server process for benchmarks: our real app, or the 'ceiling' app, on a given port.

    python bench/serve.py app PORT        # kaizen's aiohttp app (settings from the environment)
    python bench/serve.py app-stock PORT  # the same without the msrest start-up fix (Teams stock)
    python bench/serve.py ceiling PORT    # bare aiohttp + one bolt ack dispatch + one commit
    python bench/serve.py teams-sdk PORT  # botbuilder alone: CloudAdapter + a bot that replies
    python bench/serve.py teams-sdk-stock PORT  # the same without our fixes
    python bench/serve.py teams-sdk-silent[-stock] PORT  # the same, the bot not replying

With KAIZEN_BENCH_PROFILE=FILE the server writes a cProfile of its event-loop thread to FILE.MODE
when it stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web

from adapters.host.runtime import Runtime
from adapters.host.server import build_app
from adapters.host.settings import Settings


def ceiling_app(settings: Settings) -> web.Application:
    """The unavoidable work of a Slack turn: parse, verify, dispatch to bolt, ack, commit."""
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from sqlalchemy import insert

    from bot.service import utcnow
    from storage.database import create_engine
    from storage.models import ProcessedEventRow

    engine = create_engine(settings.database_url)
    bolt = AsyncApp(token=settings.slack_bot_token.get_secret_value(),
                    signing_secret=settings.slack_signing_secret.get_secret_value(),
                    process_before_response=True)
    bolt.client.base_url = settings.slack_api_url

    @bolt.event("message")
    async def on_message(body: dict) -> None:
        async with engine.begin() as connection:
            await connection.execute(insert(ProcessedEventRow).values(
                platform="ceiling", event_id=body["event_id"], received_at=utcnow()))

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    return _bare_app("/slack/events", handle)


def _bare_app(path: str, handle: Any) -> web.Application:
    """One POST route and the ``/healthz`` the load generator waits for."""
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post(path, handle)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    if mode == "ceiling":
        app = ceiling_app(settings)
    elif mode.startswith("teams-sdk"):
        from bench.teams_measure import botbuilder_only_handler

        app = _bare_app("/api/messages", botbuilder_only_handler(
            settings, fixed=not mode.endswith("-stock"), reply="silent" not in mode))
    else:
        if mode == "app-stock":
            from bench.teams_measure import use_stock_botbuilder

            use_stock_botbuilder()
        app = build_app(Runtime.create(settings), scheduler=False)
    asyncio.set_event_loop(asyncio.new_event_loop())
    profile_to = os.environ.get("KAIZEN_BENCH_PROFILE")
    if not profile_to:
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
        return
    # Where the server's own CPU goes (the event loop's thread; SQLite's worker threads are not
    # in it): read with `python -m pstats FILE`.
    import cProfile
    import time

    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
    finally:
        profiler.disable()
        profiler.dump_stats(f"{profile_to}.{mode}")


if __name__ == "__main__":
    main()
