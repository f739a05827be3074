"""The one aiohttp server every platform shares: health endpoints now, platform routes later."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from aiohttp import web

from adapters.host.request_limits import body_limits
from adapters.host.runtime import DatabaseNotReady, Runtime
from adapters.host.settings import Settings
from adapters.web.routes import ACCESS, mount_board

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
    mount_board(app, runtime)

    async def _close(_app: web.Application) -> None:
        await runtime.close()

    app.on_cleanup.append(_close)
    return app


def first_run_sign_in(app: web.Application) -> None:
    """First run (no chat platform yet): show the way into the board, and how to add ideas.

    Without ``KAIZEN_SECRET_KEY`` nobody else can make a link this process accepts, so the
    console workspace's sign-in link is written to the terminal (stderr) for whoever started
    ``kaizen serve``, and not to the log: a token in a log is a key in a file that is kept and
    shipped. It dies with the process. With a key set, ``kaizen board-link`` makes links.
    """
    settings = app[RUNTIME].settings
    if settings.platform_configured:
        return  # a chat platform is (being) configured: links come from `/kaizen board`
    access = app[ACCESS]
    if access.signer.ephemeral:
        print(f"Board: {access.public_url}/ (sign in with this link, valid 12 h: "
              f"{access.link('console', 'local', 'local-admin')}). Add ideas with "
              "`kaizen chat` and watch them appear.", file=sys.stderr, flush=True)
    else:
        log.info("Board: %s/ (sign in with a link from `kaizen board-link --user NAME`). Add "
                 "ideas with `kaizen chat` and watch them appear.", access.public_url)


def _start_housekeeping(app: web.Application) -> None:
    """Prune old event ids and delivered outbox rows (adapters/housekeeping.py), hourly."""
    from adapters.jobs.housekeeping import Housekeeper

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
    from adapters.jobs.scheduler import DigestScheduler

    platforms = {name: app[key].deliverer.kick for name, key in (("slack", SLACK),
                                                                  ("teams", TEAMS)) if key in app}
    app[SCHEDULER] = scheduler = DigestScheduler(runtime, platforms)
    _alongside(app, scheduler)
    log.info("digest scheduler on (platforms: %s)", ", ".join(sorted(platforms)) or "none")


def teams_credential_problems(settings: Settings) -> list[str]:
    """What is missing from a half-made Teams configuration, named (start-up warnings)."""
    problems = []
    app_type = (settings.microsoft_app_type or "MultiTenant").lower()
    if settings.microsoft_app_password and not settings.microsoft_app_id:
        problems.append("MICROSOFT_APP_PASSWORD is set but MICROSOFT_APP_ID is missing: Teams "
                        "is not served")
    if settings.microsoft_app_id and not settings.microsoft_app_password \
            and app_type != "userassignedmsi":
        problems.append("MICROSOFT_APP_PASSWORD is missing (MICROSOFT_APP_ID is set): replies "
                        "to Teams will fail to authenticate")
    if settings.microsoft_app_id and app_type == "singletenant" \
            and not settings.microsoft_app_tenant_id:
        problems.append("MICROSOFT_APP_TENANT_ID is missing (MICROSOFT_APP_TYPE=SingleTenant "
                        "needs it)")
    return problems


def _mount_teams(app: web.Application, runtime: Runtime) -> None:
    """Teams at ``POST /api/messages``: JWT-validated with an app id; local mode (loopback
    peers only) when ``KAIZEN_TEAMS_LOCAL=true``; otherwise not mounted at all (404)."""
    settings = runtime.settings
    for problem in teams_credential_problems(settings):
        log.warning("Microsoft Teams: %s", problem)
    if not settings.teams_enabled:
        log.info("Microsoft Teams: not mounted (set MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD "
                 "and MICROSOFT_APP_TENANT_ID to serve Teams, or KAIZEN_TEAMS_LOCAL=true to try "
                 "it with the Microsoft 365 Agents Playground on this machine)")
        return
    from adapters.teams.app import TeamsAdapter

    adapter = TeamsAdapter(runtime)
    app[TEAMS] = adapter
    app.router.add_post("/api/messages", adapter.handle_http)
    if adapter.config.local_mode:
        log.warning("Microsoft Teams: LOCAL MODE on POST /api/messages (KAIZEN_TEAMS_LOCAL=true, "
                    "no MICROSOFT_APP_ID): requests are NOT authenticated; only peers on this "
                    "machine are served (no X-Forwarded-For/Forwarded), replies go only to a "
                    "serviceUrl on this machine. For the Microsoft 365 Agents Playground; set "
                    "MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD to serve Teams.")
    else:
        if settings.teams_local:
            log.warning("KAIZEN_TEAMS_LOCAL is ignored: MICROSOFT_APP_ID is set, so every "
                        "request's token is validated")
        log.info("Microsoft Teams: mounted POST /api/messages (app %s, %s, every request's "
                 "token validated)", adapter.config.APP_ID, adapter.config.APP_TYPE)
    tenants = settings.allowed_teams_tenants
    if tenants:
        log.info("Microsoft Teams: serving tenant(s) %s only", ", ".join(sorted(tenants)))
    elif not adapter.config.local_mode:
        log.warning("Microsoft Teams: activities from ANY tenant are served (set "
                    "MICROSOFT_APP_TENANT_ID, or KAIZEN_TEAMS_TENANTS for several, to allow "
                    "only yours)")

    _alongside(app, adapter.deliverer)


def _mount_slack(app: web.Application, runtime: Runtime) -> None:
    """Slack over HTTP at ``POST /slack/events``, or Socket Mode with ``SLACK_APP_TOKEN``."""
    settings = runtime.settings
    if not settings.slack_enabled:
        missing = [name for name, value in (("SLACK_BOT_TOKEN", settings.slack_bot_token),
                                            ("SLACK_SIGNING_SECRET", settings.slack_signing_secret))
                   if not value]
        if len(missing) == 1:  # half configured: say which half is missing
            log.warning("Slack: not mounted: %s is missing (the other is set); Slack needs "
                        "both to serve POST /slack/events", missing[0])
        else:
            log.info("Slack: not mounted (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to "
                     "enable POST /slack/events)")
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
