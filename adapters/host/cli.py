"""The ``kaizen`` command: serve, db, chat, ideas. Every subcommand has ``--help``."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters import console
from adapters.host.runtime import DatabaseNotReady, Runtime
from adapters.host.settings import Settings
from adapters.teams.local import is_loopback_host
from adapters.web import export as idea_export
from bot.events import UserRef

log = logging.getLogger("kaizen")

STATUSES = ("submitted", "approved", "in_progress", "implemented", "rejected", "duplicate",
            "withdrawn")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kaizen",
        description="kaizen-bot: capture small improvement ideas in Slack, Teams and the console.",
        epilog="Configuration comes from environment variables and a .env file; see README.md.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server (Slack, Teams, health checks)")
    serve.add_argument("--host", help="address to bind (default: KAIZEN_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="port (default: KAIZEN_PORT or 3978)")
    serve.add_argument("--no-scheduler", action="store_true",
                       help="do not run the daily digest scheduler in this process")
    serve.add_argument("--local-if-unconfigured", action="store_true",
                       help="when neither Slack nor Teams is configured, turn on Teams local "
                       "mode (KAIZEN_TEAMS_LOCAL) on 127.0.0.1 for the Microsoft 365 Agents "
                       "Playground (`make run` does this)")

    db = commands.add_parser("db", help="database migrations (Alembic)")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="migrate the database to the latest revision")
    db_commands.add_parser("current", help="show the database's revision and the latest one")

    chat = commands.add_parser("chat", help="talk to the bot in this terminal (reads stdin)")
    chat.add_argument("--user", help="your user name (default: your login name)")
    chat.add_argument("--manager", action="store_true",
                      help="act as a manager (may decide on ideas)")

    ideas = commands.add_parser("ideas", help="list or export ideas")
    ideas.add_argument("--status", choices=STATUSES, help="only ideas with this status")
    ideas.add_argument("--format", choices=idea_export.FORMATS, default="table",
                       help="output format (default: table)")
    ideas.add_argument("--history", action="store_true",
                       help="include each idea's audit trail (JSON format)")
    digest = commands.add_parser(
        "digest", help="daily stand-up digests: list, print, or post now",
        description="Without options: queue today's digest for every subscription now (once "
        "per local day; a running `kaizen serve` posts it within seconds).")
    digest.add_argument("--list", action="store_true",
                        help="subscriptions, next run and last result")
    digest.add_argument("--print", action="store_true", dest="print_only",
                        help="render to the terminal and post nothing")
    digest.add_argument("--channel", help="only this channel (its id)")
    digest.add_argument("--date", help="with --print: the digest of this local date "
                        "(YYYY-MM-DD)")
    digest.add_argument("--force", action="store_true",
                        help="post even if today's digest was already posted")

    board_link = commands.add_parser("board-link",
                                     help="print a personal 12-hour link to the board")
    board_link.add_argument("--user", required=True, help="who the link is for")
    board_link.add_argument("--platform", default="console",
                            help="platform of the workspace (console, slack, teams)")
    board_link.add_argument("--workspace", default="local",
                            help="workspace id (Slack team id, Teams tenant id)")

    teams = commands.add_parser("teams", help="Microsoft Teams helpers")
    teams_commands = teams.add_subparsers(dest="teams_command", metavar="ACTION", required=True)
    package = teams_commands.add_parser(
        "package", help="build the Teams app package (zip) to upload in Teams")
    package.add_argument("--app-id", required=True,
                         help="the bot's Microsoft App ID (MICROSOFT_APP_ID)")
    package.add_argument("--out", default="kaizen-teams.zip", help="zip file to write")
    package.add_argument("--version", default="1.0.0",
                         help="app version; bump it for every re-upload (default 1.0.0)")
    package.add_argument("--developer", help="developer name shown in Teams (max 32)")
    package.add_argument("--website", help="https:// address for developer, privacy and terms")
    return parser


def _port(text: str) -> int:
    """``--port``: checked like KAIZEN_PORT, so 70000 is a usage error, not a traceback."""
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, not {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(_settings_errors(exc), file=sys.stderr)
        return 2
    # The server logs at KAIZEN_LOG_LEVEL; interactive commands only show warnings and worse.
    configure_logging(settings.log_level.upper() if args.command == "serve" else "WARNING")
    handler = _HANDLERS[args.command]
    try:
        return handler(args, settings)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped early (`kaizen ideas | head`): what it read is all it wanted.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def configure_logging(level: str | int) -> None:
    """Log to stderr, with every handler redacting sign-in tokens (adapters/web/logs.py).

    The filter goes on the handlers, so it also covers what libraries log at DEBUG (the Slack
    SDK writes whole request bodies, board links included).
    """
    from adapters.web.logs import install_redaction

    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    install_redaction()


def _settings_errors(exc: ValidationError) -> str:
    """One line per problem, each naming the environment variable to fix."""
    lines = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            field = str(error["loc"][0])
            info = Settings.model_fields.get(field)
            variable = str(info.validation_alias) if info and isinstance(
                info.validation_alias, str) else field
            if variable not in message:
                message = f"{variable}: {message}"
        lines.append(f"kaizen: invalid configuration: {message}")
    return "\n".join(lines)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from adapters.host.server import build_app, first_run_sign_in
    from adapters.web.logs import server_logging

    host = args.host or settings.host
    port = args.port or settings.port
    if args.local_if_unconfigured and not settings.platform_configured \
            and not settings.teams_local:
        if is_loopback_host(host):
            settings = settings.model_copy(update={"teams_local": True})
            log.info("no Slack or Teams credentials: Teams local mode turned on for the "
                     "Microsoft 365 Agents Playground (only this machine may connect)")
        else:
            log.info("no Slack or Teams credentials, but %s is not a loopback address: Teams "
                     "local mode stays off (set KAIZEN_TEAMS_LOCAL=true to force it)", host)
    runtime = Runtime.create(settings)
    log.info("database: %s", runtime.safe_database_url)
    if args.no_scheduler:
        log.info("digest scheduler disabled (--no-scheduler)")
    log.info("kaizen-bot serving on http://%s:%d (health: /healthz, readiness: /readyz)",
             host, port)
    app = build_app(runtime, scheduler=not args.no_scheduler)
    first_run_sign_in(app)
    # The access log writes paths without query strings: /login?token=… never reaches it.
    try:
        web.run_app(app, host=host, port=port, print=None, **server_logging())
    except OSError as exc:
        if exc.errno not in {errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL}:
            raise
        what, why = {errno.EADDRINUSE: ("port", "is already in use (another server?)"),
                     errno.EACCES: ("port", "needs privileges this user does not have"),
                     errno.EADDRNOTAVAIL: ("host", "is not an address of this machine")
                     }[exc.errno]
        print(f"kaizen: cannot serve on {host}:{port}: that {what} {why}; choose another with "
              "--port / KAIZEN_PORT (or --host / KAIZEN_HOST)", file=sys.stderr)
        return 2
    return 0


def _db(args: argparse.Namespace, settings: Settings) -> int:
    unusable = sqlite_folder_problem(settings.database_url)
    if unusable:  # said before the driver's thread gets to fail noisily
        print(f"kaizen: {unusable}", file=sys.stderr)
        return 2
    try:
        return _db_command(args, settings)
    except Exception as exc:  # the driver's many ways of saying "no": one line that says which
        print(f"kaizen: {database_problem(exc, settings.database_url)}", file=sys.stderr)
        return 2


def sqlite_folder_problem(url: str) -> str | None:
    """For an SQLite file whose folder is missing or not writable: what to fix."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or \
            parsed.database == ":memory:":
        return None
    folder = Path(parsed.database).expanduser().resolve().parent
    if folder.is_dir() and os.access(folder, os.W_OK):
        return None
    return (f"cannot open the SQLite file of {url}: its folder {folder} "
            f"{'is not writable' if folder.is_dir() else 'does not exist'} (DATABASE_URL)")


def database_problem(exc: BaseException, url: str) -> str:
    """What went wrong with the database, in a line an operator can act on."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    text = f"{exc} {exc.__cause__ or ''}"
    if "password authentication failed" in text or (
            'role "' in text and "does not exist" in text):
        return f"the database at {shown} refused the user or password: fix DATABASE_URL"
    if "does not exist" in text and parsed.database:
        return (f"database {parsed.database!r} does not exist on {parsed.host or 'localhost'}: "
                f"create it (e.g. `createdb {parsed.database}`) or fix DATABASE_URL")
    if "unable to open database file" in text:
        return (f"cannot open the SQLite file of {shown}: does its folder exist and may this "
                "user write there? (DATABASE_URL)")
    chain = [exc, exc.__cause__, exc.__context__]
    if any(isinstance(e, (ConnectionError, OSError, TimeoutError)) for e in chain if e):
        return (f"cannot reach the database at {shown} ({type(exc).__name__}): is it running "
                "and is DATABASE_URL right?")
    return f"the database at {shown} failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"


def _current_revision(settings: Settings) -> str | None:
    from storage import migrate

    runtime = Runtime.create(settings)

    async def _current() -> str | None:
        try:
            async with runtime.engine.connect() as connection:
                return await migrate.current_revision(connection)
        finally:
            await runtime.close()

    return asyncio.run(_current())


def _db_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage import migrate

    head = migrate.head_revision()
    current = _current_revision(settings)
    if args.db_command == "upgrade":
        if current == head:
            print(f"database already at {head}: nothing to migrate")
            return 0
        migrate.upgrade(settings.database_url)
        print(f"database migrated from {current or 'empty'} to {head}")
        return 0
    suffix = " (head)" if current == head else f" (latest is {head}: run `kaizen db upgrade`)"
    print(f"{current or 'not migrated'}{suffix}")
    return 0


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    name = (args.user or _login_name()).strip()
    if not name:
        print("kaizen chat: --user must not be empty", file=sys.stderr)
        return 2
    user = console.console_user(name)

    async def _run() -> int:
        runtime = Runtime.create(settings)
        try:
            await runtime.check_database()
            if args.manager:
                await _grant_manager(runtime, user)
            return await console.run_chat(runtime.service, user)
        finally:
            await runtime.close()

    return _with_ready_database(_run)


async def _grant_manager(runtime: Runtime, user: UserRef) -> None:

    async with runtime.unit_of_work() as uow:
        person = await uow.people.ensure(user, runtime.clock())
        if person.role == "member":
            await uow.people.set_role(person.id, "manager")
        await uow.commit()


def _ideas(args: argparse.Namespace, settings: Settings) -> int:
    async def _run() -> int:
        runtime = Runtime.create(settings)
        try:
            await runtime.check_database()
            if args.history and args.format != "json":
                print("kaizen ideas: --history needs --format json", file=sys.stderr)
                return 2
            async with runtime.unit_of_work() as uow:
                ideas = await uow.ideas.list(status=args.status)
                history = (
                    {idea.id: await uow.idea_events.history(idea.id) for idea in ideas}
                    if args.history else None
                )
            print(idea_export.render(ideas, args.format, history))
            return 0
        finally:
            await runtime.close()

    return _with_ready_database(_run)


def _with_ready_database(run: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(run())
    except DatabaseNotReady as exc:
        print(f"kaizen: {exc}", file=sys.stderr)
        return 2


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "console-user"


def _digest(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.host.digest_cli import run_digest_command

    async def _run() -> int:
        runtime = Runtime.create(settings)
        try:
            await runtime.check_database()
            return await run_digest_command(runtime, args)
        finally:
            await runtime.close()

    return _with_ready_database(_run)


def _board_link(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.host.signing import Scope, TokenSigner, login_link, public_base

    if not settings.secret_key:
        print("kaizen board-link: set KAIZEN_SECRET_KEY (the same as the server's) so the "
              "server can verify the link", file=sys.stderr)
        return 2
    signer = TokenSigner(settings.secret_key.get_secret_value())
    print(login_link(signer, public_base(settings),
                     Scope(args.platform, args.workspace, args.user)))
    return 0


def _teams(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from adapters.teams.package import PackageError, build_manifest, write_package

    try:
        manifest = build_manifest(args.app_id, args.version, args.developer, args.website)
    except PackageError as exc:
        print(f"kaizen teams package: {exc}", file=sys.stderr)
        return 2
    out = write_package(Path(args.out), manifest)
    print(f"wrote {out} (manifest {manifest['manifestVersion']}, app {args.app_id}, "
          f"version {manifest['version']}): upload it in Teams → Apps → Manage your apps → "
          "Upload an app")
    return 0


_HANDLERS = {"serve": _serve, "db": _db, "chat": _chat, "ideas": _ideas, "digest": _digest,
             "board-link": _board_link, "teams": _teams}

if __name__ == "__main__":
    raise SystemExit(main())
