"""The one aiohttp server every platform shares: health endpoints now, platform routes later."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from adapters.runtime import DatabaseNotReady, Runtime

log = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
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


def build_app(runtime: Runtime) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    _log_platforms(runtime)

    async def _close(_app: web.Application) -> None:
        await runtime.close()

    app.on_cleanup.append(_close)
    return app


def _log_platforms(runtime: Runtime) -> None:
    """One clear line per platform saying whether it is mounted and how to enable it."""
    settings = runtime.settings
    if settings.slack_enabled:
        log.warning("Slack credentials are set, but this build has no Slack adapter yet")
    else:
        log.info("Slack: not mounted (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to enable "
                 "POST /slack/events)")
    log.info("Microsoft Teams: not mounted yet (POST /api/messages arrives with the Teams "
             "adapter)")
