"""The board's pages: `/`, `/ideas/KZ-n`, `/standards[/<process>]`, `/insights`, `/export.csv`,
`/api/ideas`, plus `/login` (a signed link sets the session) and `/static/*`.

Never open by default: a page needs a session from a personal link (``/kaizen board`` or
``kaizen board-link``) or, if ``KAIZEN_BOARD_PASSWORD`` is set, HTTP basic auth for a wall screen,
which shows exactly ``KAIZEN_BOARD_WORKSPACE`` and is throttled per client
(:class:`~adapters.web.auth.PasswordThrottle`). A session lasts as long as the link that started
it, no longer. Every page is autoescaped and sent with a strict Content-Security-Policy (no inline
script or style).
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
import math
import time
import unicodedata
from collections.abc import Awaitable, Callable
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from adapters.host.runtime import Runtime
from adapters.host.settings import BOARD_WORKSPACE_FORM
from adapters.host.signing import Scope, login_link, public_base
from adapters.web.auth import PasswordThrottle, client_key, password_matches
from adapters.web.export import COLUMNS, csv_safe, idea_record
from bot.identity import parse_identity
from bot.lifecycle import status_label
from bot.model import IDEA_KEY_PREFIX
from bot.references import parse_idea_key
from bot.text_input import one_line
from storage.board import BOARD_COLUMNS, FOLDED, Filters, SqlBoard

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COOKIE = "kaizen_session"
SCOPE = web.RequestKey("board_scope", Scope)
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
PUBLIC_PREFIXES = ("/healthz", "/readyz", "/slack/", "/api/messages", "/static/", "/login")
API_PAGE_MAX = 200
API_OFFSET_MAX = 1_000_000
"""Deeper pages are refused: paging a board, not the whole history (that is /export.csv)."""

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
)
_templates.filters["status"] = status_label
_templates.filters["one_line"] = one_line


@jinja2.pass_context
def _age(context: jinja2.runtime.Context, moment: datetime) -> str:
    """How long ago, by the page's own clock (``now`` in the template's context)."""
    days = (context["now"] - moment).days
    return "today" if days < 1 else ("1 day" if days == 1 else f"{days} days")


_templates.filters["age"] = _age


class BoardAccess:
    """Decides who sees which workspace, with the runtime's token signer."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.signer = runtime.signer
        self.password = (settings.board_password.get_secret_value()
                         if settings.board_password else None)
        self.public_url = public_base(settings)
        self.wall = wall_scope(settings.board_workspace) if self.password else None
        self.throttle = PasswordThrottle()
        # Served over https (the address people use says so): the session cookie must never
        # travel in clear, even when a TLS-terminating proxy talks plain http to us.
        self.https = self.public_url.lower().startswith("https://")

    def now(self) -> float:
        """The runtime's clock as a Unix time, what tokens carry."""
        return self.runtime.clock().timestamp()

    def link(self, platform: str, workspace: str, user: str) -> str:
        return login_link(self.signer, self.public_url, Scope(platform, workspace, user))


def wall_scope(configured: str | None) -> Scope:
    """The one workspace a password-protected wall screen shows: ``KAIZEN_BOARD_WORKSPACE``.

    Settings require and validate it whenever the password is set, so there is no fallback:
    choosing, say, the workspace with the most ideas would let anyone who can post ideas
    decide what the wall shows.
    """
    parsed = parse_identity(configured or "")
    if parsed is None:
        raise ValueError(f"{BOARD_WORKSPACE_FORM} (required with KAIZEN_BOARD_PASSWORD)")
    return Scope(*parsed, "wall")


ACCESS = web.AppKey("board_access", BoardAccess)


@web.middleware
async def security_headers(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                           ) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    if not request.path.startswith(("/slack/", "/api/messages")):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    if isinstance(response, web.HTTPException):
        raise response
    return response


@web.middleware
async def require_access(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
    if request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    access = request.app[ACCESS]
    token = request.cookies.get(COOKIE)
    scope = access.signer.verify(token, now=access.now()) if token else None
    authorization = request.headers.get("Authorization")
    if scope is None and access.wall is not None and authorization:
        client = client_key(request.remote)
        wait = access.throttle.retry_after(client)
        if wait:
            return _too_many_attempts(request, wait)
        if password_matches(authorization, access.password or ""):
            access.throttle.succeeded(client)
            scope = access.wall
        elif lockout := access.throttle.failed(client):
            log.warning("board password: %d wrong attempts from %s; its password sign-ins are "
                        "refused for %d s (lockout %d)", lockout.failures, lockout.client,
                        lockout.seconds, lockout.number)
    if scope is None:
        reason = ("password" if access.wall is not None and authorization
                  else "expired" if token else "missing")
        return _unauthorized(request, reason)
    request[SCOPE] = scope
    return await handler(request)


def _unauthorized(request: web.Request, reason: str) -> web.Response:
    access = request.app[ACCESS]
    headers = {"WWW-Authenticate": 'Basic realm="kaizen board", charset="UTF-8"'} if (
        access.password) else {}
    if request.path.startswith("/api/") or request.path.endswith(".csv"):
        return web.json_response({"error": "unauthorized",
                                  "how": "get a personal link with /kaizen board"},
                                 status=401, headers=headers)
    body = _templates.get_template("unauthorized.html").render(
        reason=reason, password=bool(access.password), retry_after=0)
    return web.Response(text=body, status=401, content_type="text/html", headers=headers)


def _too_many_attempts(request: web.Request, seconds: int) -> web.Response:
    """429 for a client locked out by the password throttle; no WWW-Authenticate (no prompt)."""
    headers = {"Retry-After": str(seconds)}
    if request.path.startswith("/api/") or request.path.endswith(".csv"):
        return web.json_response({"error": "too many wrong passwords", "retry_after": seconds},
                                 status=429, headers=headers)
    body = _templates.get_template("unauthorized.html").render(
        reason="throttled", password=True, retry_after=seconds)
    return web.Response(text=body, status=429, content_type="text/html", headers=headers)


def _render(name: str, **context: Any) -> web.Response:
    return web.Response(text=_templates.get_template(name).render(**context),
                        content_type="text/html", charset="utf-8")


def _filters(request: web.Request) -> Filters:
    def value(key: str) -> str | None:
        text = _printable(request.query.get(key, ""), key).strip()
        return text[:120] or None

    status = value("status")
    return Filters(area=value("area"), process=value("process"),
                   status=status if status in (*BOARD_COLUMNS, *FOLDED) else None,
                   q=value("q"))


def _printable(text: str, name: str) -> str:
    """Query and path values with control characters (a NUL, which PostgreSQL cannot even
    compare) are refused with a 400 instead of reaching a query."""
    if any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in text):
        raise web.HTTPBadRequest(text=f"{name} contains control characters")
    return text


def _board(request: web.Request, session: Any) -> SqlBoard:
    scope = request[SCOPE]
    return SqlBoard(session, scope.platform, scope.workspace)


async def login(request: web.Request) -> web.Response:
    """A personal link: verify its token, start a session that ends when the link would have
    expired (a copied cookie is worth no more than the link), drop the token from the URL."""
    access = request.app[ACCESS]
    now = access.now()
    grant = access.signer.grant(request.query.get("token", ""), now=now)
    if grant is None:
        return _unauthorized(request, "expired")
    response = web.HTTPSeeOther("/")
    secure = (access.https or request.secure
              or request.headers.get("X-Forwarded-Proto") == "https")
    remaining = max(1, math.ceil(grant.expires - now))
    response.set_cookie(COOKIE, access.signer.sign_until(grant.scope, grant.expires),
                        max_age=remaining, httponly=True, samesite="Lax", secure=secure,
                        path="/")
    scope = grant.scope
    log.info("board session started for %s:%s (%s), %d min left", scope.platform,
             scope.workspace, scope.user, remaining // 60)
    raise response


async def board_page(request: web.Request) -> web.Response:
    filters = _filters(request)
    async with request.app[ACCESS].runtime.sessions() as session:
        board = await _board(request, session).board(filters)
    return _render("board.html", board=board, filters=filters, columns=BOARD_COLUMNS,
                   folded=FOLDED, scope=request[SCOPE], page="board",
                   now=request.app[ACCESS].runtime.clock())


async def idea_page(request: web.Request) -> web.Response:
    idea_id = parse_idea_key(request.match_info["key"])
    runtime = request.app[ACCESS].runtime
    scope = request[SCOPE]
    async with runtime.unit_of_work() as uow:
        idea = await uow.ideas.get(idea_id) if idea_id else None
        if idea is None or (idea.platform, idea.workspace) != (scope.platform, scope.workspace):
            raise web.HTTPNotFound(text="No such idea on this board.")
        history = await uow.idea_events.history(idea.id)
    return _render("idea.html", idea=idea, history=history, scope=scope, page="board")


async def standards_page(request: web.Request) -> web.Response:
    scope = request[SCOPE]
    async with request.app[ACCESS].runtime.unit_of_work() as uow:
        processes = await uow.standards.all(scope.platform, scope.workspace)
        counts = {p.id: max(0, p.current_version - 1) for p in processes}
    return _render("standards.html", processes=processes, counts=counts, scope=scope,
                   page="standards")


async def standard_page(request: web.Request) -> web.Response:
    scope = request[SCOPE]
    async with request.app[ACCESS].runtime.unit_of_work() as uow:
        process = await uow.standards.find(
            scope.platform, scope.workspace, _printable(request.match_info["process"],
                                                        "process"))
        if process is None:
            raise web.HTTPNotFound(text="No such process.")
        versions = await uow.standards.versions(process.id)
    diffs = [word_diff(older.text, newer.text) for older, newer in pairwise(versions)]
    return _render("standard.html", process=process, versions=versions,
                   diffs=[None, *diffs], scope=scope, page="standards",
                   prefix=IDEA_KEY_PREFIX)


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Consecutive versions as (kind, text) runs: ``same``, ``del`` or ``ins`` words."""
    before, after = old.split(" "), new.split(" ")
    runs: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            runs.append(("same", " ".join(before[a1:a2])))
            continue
        if a2 > a1:
            runs.append(("del", " ".join(before[a1:a2])))
        if b2 > b1:
            runs.append(("ins", " ".join(after[b1:b2])))
    return runs


async def insights_page(request: web.Request) -> web.Response:
    async with request.app[ACCESS].runtime.sessions() as session:
        insights = await _board(request, session).insights(
            request.app[ACCESS].runtime.clock())
    chart_data = json.dumps({
        "weeks": insights.weeks, "perWeekByArea": insights.per_week_by_area,
        "leadTime": insights.lead_time_days, "implemented": insights.implemented_cumulative,
        "contributors": insights.contributors_per_week,
        "contributorsByArea": insights.contributors_by_area,
    }).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    # ^ area names are user text and this JSON sits inside <script>: no "</script>" escape.
    return _render("insights.html", insights=insights, chart_data=chart_data,
                   scope=request[SCOPE], page="insights")


async def export_csv(request: web.Request) -> web.Response:
    async with request.app[ACCESS].runtime.sessions() as session:
        ideas, _ = await _board(request, session).page(_filters(request), 0, 1_000_000)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for idea in ideas:
        writer.writerow({k: csv_safe(v) for k, v in idea_record(idea).items()})
    return web.Response(text=buffer.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="kaizen.csv"'})


def _page_parameter(request: web.Request, name: str, default: int, low: int,
                    high: int) -> int:
    """A paging parameter: ASCII digits within ``low``..``high``, else a 400 that names it and
    its range (clamping silently hid mistakes, and an OFFSET past bigint was a 500)."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw.isascii() and raw.isdigit() and len(raw) <= 9 and low <= int(raw) <= high:
        return int(raw)
    raise web.HTTPBadRequest(
        text=json.dumps({"error": f"{name} must be a whole number from {low} to {high}"}),
        content_type="application/json")


async def api_ideas(request: web.Request) -> web.Response:
    limit = _page_parameter(request, "limit", 50, 1, API_PAGE_MAX)
    offset = _page_parameter(request, "offset", 0, 0, API_OFFSET_MAX)
    async with request.app[ACCESS].runtime.sessions() as session:
        ideas, total = await _board(request, session).page(_filters(request), offset, limit)
    next_offset = offset + limit if offset + limit < total else None
    return web.json_response({"total": total, "offset": offset, "limit": limit,
                              "next_offset": next_offset,
                              "ideas": [idea_record(i) for i in ideas]})


def mount_board(app: web.Application, runtime: Runtime) -> BoardAccess:
    access = BoardAccess(runtime)
    app[ACCESS] = access
    app.middlewares.append(security_headers)
    app.middlewares.append(require_access)
    app.router.add_get("/", board_page)
    app.router.add_get("/login", login)
    app.router.add_get("/ideas/{key}", idea_page)
    app.router.add_get("/standards", standards_page)
    app.router.add_get("/standards/{process}", standard_page)
    app.router.add_get("/insights", insights_page)
    app.router.add_get("/export.csv", export_csv)
    app.router.add_get("/api/ideas", api_ideas)
    app.router.add_static("/static/", HERE / "static", show_index=False)
    if access.wall is not None:
        log.info("Board: wall-screen password sign-in on, showing %s:%s (KAIZEN_BOARD_WORKSPACE)",
                 access.wall.platform, access.wall.workspace)
    if access.signer.ephemeral:
        log.warning("KAIZEN_SECRET_KEY is not set: board links work until this process "
                    "restarts (set it to keep them valid, and the same on every worker)")
    return access
