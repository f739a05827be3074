"""What every request body must respect before a handler sees it: arrive in time, and not nest
absurdly deep. One aiohttp middleware applies both to every route (Slack, Teams, the board,
unknown paths), so no handler has to remember them.

Why:

- aiohttp waits for a body as long as the client likes: headers announcing 100 bytes followed
  by silence held a connection, and a handler, for minutes. Now the body is read once, under a
  deadline (``KAIZEN_REQUEST_BODY_TIMEOUT_SECONDS``), else 408 and the connection is closed.
  aiohttp keeps what was read, so ``read()``, ``text()`` and ``json()`` in the handlers (and in
  bolt and botbuilder) get it without waiting again.
- Python's json parses recursively. Past roughly 950 levels it raises RecursionError (a 500 and
  a traceback in the log); a little less parses, then fails later wherever the structure is
  walked again deeper in the stack (bolt's listener storing it: a 500 and a traceback again).
  No Slack or Teams payload nests more than a dozen levels, so a body nested deeper than
  :data:`MAX_JSON_DEPTH` is a 400 before anything parses it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

log = logging.getLogger(__name__)

MAX_JSON_DEPTH = 64
"""Far above any real payload (Slack's and Teams' nest under 10), far below json's limit."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_AS_PARENS = str.maketrans("[{]}", "(())")


def json_nesting_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON ``text`` nests arrays and objects more than ``limit`` deep, decided
    without parsing it (and so without recursion).

    Strings are dropped (brackets inside them do not nest), the rest reduced to its brackets,
    then innermost pairs are removed one level per pass: a structure ``d`` deep empties in
    ``d`` passes. Openers left unclosed (``[[[[``…, not JSON at all) count as depth too.
    Every step is a C-level string operation, and at most ``limit`` passes are made.
    """
    if text.count("[") + text.count("{") <= limit:
        return False  # cannot be deeper than it has openers: almost every real body
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).translate(_AS_PARENS)
    for _ in range(limit):
        shorter = brackets.replace("()", "")
        if shorter == brackets:
            break
        brackets = shorter
    else:
        if "()" in brackets:
            return True
    return brackets.count("(") > limit


def _json_in(request: web.Request, body: bytes) -> str | None:
    """The JSON text a handler will parse from this body, if any: a JSON body (bolt also takes
    any body starting with ``{`` as JSON), or the ``payload`` field of a Slack form (which bolt
    looks for in any other body that mentions ``payload``, whatever its content type)."""
    text = body.decode("utf-8", errors="replace")
    if "json" in request.content_type or text.lstrip().startswith(("{", "[")):
        return text
    if "payload" in text:
        return dict(parse_qsl(text, keep_blank_values=True)).get("payload")
    return None


def body_limits(timeout_seconds: float, max_json_depth: int = MAX_JSON_DEPTH) -> Any:
    """The middleware: the body arrives within ``timeout_seconds`` (else 408, connection
    closed) and any JSON in it nests at most ``max_json_depth`` levels (else 400)."""
    @web.middleware
    async def check_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(timeout_seconds):
                    body = await request.read()
            except TimeoutError:
                return await _body_too_slow(request, timeout_seconds)
            json_text = _json_in(request, body)
            if json_text is not None and json_nesting_exceeds(json_text, max_json_depth):
                log.warning("request body for %s %s from %s nests JSON deeper than %d levels: "
                            "400", request.method, request.path, request.remote,
                            max_json_depth)
                return web.json_response(
                    {"error": f"JSON nested deeper than {max_json_depth} levels"}, status=400)
        return await handler(request)

    return check_body


async def _body_too_slow(request: web.Request, seconds: float) -> web.StreamResponse:
    log.warning("request body for %s %s from %s did not arrive within %g s "
                "(KAIZEN_REQUEST_BODY_TIMEOUT_SECONDS): 408, connection closed",
                request.method, request.path, request.remote, seconds)
    response = web.json_response(
        {"error": f"request body did not arrive within {seconds:g} s"}, status=408)
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    # Close now: otherwise aiohttp lingers, reading the rest of the body, for another 10 s.
    request.protocol.force_close()
    return response
