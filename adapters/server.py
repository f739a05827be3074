"""The one aiohttp server every platform shares: health endpoints now, platform routes later."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from adapters.request_limits import body_limits
from adapters.runtime import DatabaseNotReady, Runtime
from adapters.web.routes import mount_board

log = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
SLACK: web.AppKey[Any] = web.AppKey("slack")
TEAMS: web.AppKey[Any] = web.AppKey("teams")
SCHEDULER: web.AppKey[Any] = web.AppKey("scheduler")
HOUSEKEEPER: web.AppKey[Any] = web.AppKey("housekeeper")
READY_TIMEOUT_S = 3.0


async def healthz(request: web.Request) -> web.Response:
    """The process is up and serving requests (no dependency checks: that is /readyz)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready to take traffic: the database answers and is migrated to this code's revision."""
    runtime = request.app[RUNTIME]
    try:
        revision = await asyncio.wait_for(runtime.check_database(), READY_TIMEOUT_S)
    except DatabaseNotReady as exc:
        return web.json_response({"status": "unavailable", "reason": str(exc)}, status=503)
    except TimeoutError:
        return web.json_response(
            {"status": "unavailable", "reason": "database did not answer in time"}, status=503
        )
    return web.json_response({"status": "ready", "revision": revision})


def build_app(runtime: Runtime, scheduler: bool = False) -> web.Application:
    # 1 MiB is far above any Slack or Teams payload and bounds what a client can make us read.
    # Every body arrives within KAIZEN_REQUEST_BODY_TIMEOUT_SECONDS and nests JSON sanely.
    app = web.Application(client_max_size=1024 * 1024, middlewares=[
        body_limits(runtime.settings.request_body_timeout_seconds)])
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    _mount_slack(app, runtime)
    _mount_teams(app, runtime)
    if scheduler:
        _start_scheduler(app, runtime)
    _start_housekeeping(app)
    access = mount_board(app, runtime)
    if not runtime.settings.slack_enabled and runtime.settings.teams_local_mode:
        # First run: no chat platform yet. Show the way in, and how to add ideas.
        log.info("Board: %s/ (sign in with this link, valid 12 h: %s). Add ideas with "
                 "`kaizen chat` and watch them appear.", access.public_url,
                 access.link("console", "local", "local-admin"))

    async def _close(_app: web.Application) -> None:
        await runtime.close()

    app.on_cleanup.append(_close)
    return app


def _start_housekeeping(app: web.Application) -> None:
    """Prune old event ids and delivered outbox rows (adapters/housekeeping.py), hourly."""
    from adapters.housekeeping import Housekeeper

    app[HOUSEKEEPER] = housekeeper = Housekeeper(app[RUNTIME])
    _alongside(app, housekeeper)


def _alongside(app: web.Application, task: Any) -> None:
    """Run a background task (``start()`` / ``await stop()``) for the server's lifetime."""
    async def _start(_app: web.Application) -> None:
        task.start()

    async def _stop(_app: web.Application) -> None:
        await task.stop()

    app.on_startup.append(_start)
    app.on_shutdown.append(_stop)


def _start_scheduler(app: web.Application, runtime: Runtime) -> None:
    """Daily digests for every mounted platform (``kaizen serve --no-scheduler`` skips it)."""
    from adapters.scheduler import DigestScheduler

    platforms = {name: app[key].deliverer.kick for name, key in (("slack", SLACK),
                                                                  ("teams", TEAMS)) if key in app}
    app[SCHEDULER] = scheduler = DigestScheduler(runtime, platforms)
    _alongside(app, scheduler)
    log.info("digest scheduler on (platforms: %s)", ", ".join(sorted(platforms)) or "none")


def _mount_teams(app: web.Application, runtime: Runtime) -> None:
    """Teams at ``POST /api/messages``: JWT-validated with an app id, local mode without."""
    from adapters.teams.app import TeamsAdapter

    adapter = TeamsAdapter(runtime)
    app[TEAMS] = adapter
    app.router.add_post("/api/messages", adapter.handle_http)
    if adapter.config.local_mode:
        log.warning("Microsoft Teams: LOCAL MODE on POST /api/messages (no MICROSOFT_APP_ID): "
                    "requests are not authenticated and only loopback serviceUrls (Bot Framework "
                    "Emulator, tests) are accepted. Set MICROSOFT_APP_ID and "
                    "MICROSOFT_APP_PASSWORD to serve Teams.")
    else:
        log.info("Microsoft Teams: mounted POST /api/messages (app %s, %s, every request's "
                 "token validated)", adapter.config.APP_ID, adapter.config.APP_TYPE)

    _alongside(app, adapter.deliverer)


def _mount_slack(app: web.Application, runtime: Runtime) -> None:
    """Slack over HTTP at ``POST /slack/events``, or Socket Mode with ``SLACK_APP_TOKEN``."""
    settings = runtime.settings
    if not settings.slack_enabled:
        log.info("Slack: not mounted (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to enable "
                 "POST /slack/events)")
        return
    from adapters.slack.app import SlackAdapter

    adapter = SlackAdapter(runtime)
    app[SLACK] = adapter
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    if app_token:
        log.info("Slack: Socket Mode (SLACK_APP_TOKEN is set); POST /slack/events not mounted")
    else:
        app.router.add_post("/slack/events", adapter.handle_http)
        log.info("Slack: mounted POST /slack/events (Web API at %s)", settings.slack_api_url)

    async def _start(_app: web.Application) -> None:
        await adapter.start(app_token)

    async def _stop(_app: web.Application) -> None:
        await adapter.stop()

    app.on_startup.append(_start)
    app.on_shutdown.append(_stop)
