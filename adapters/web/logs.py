"""Keeping sign-in tokens out of every log: the access log and a redacting filter.

A board link is ``…/login?token=<signed token>``; whoever reads the token can open the board as
that person until it expires. Logs are read by more people, kept longer and shipped further than
links, so no token may reach one:

- :class:`AccessLogger` writes each request's path *without* its query string (aiohttp's
  default access log writes the whole request line, ``/login?token=…`` included);
- :class:`RedactTokens`, installed on the handlers by :func:`install_redaction` when ``kaizen``
  configures logging, rewrites any record that still carries one: ``token=`` query values
  (the Slack SDK logs every Web API request body at DEBUG, and the board link is in the text of
  the reply that hands it out) and anything shaped like a signed token or a JWT.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

REDACTED = "[redacted]"
ACCESS_LOG = "kaizen.access"

_QUERY_TOKEN = re.compile(r"(token(?:=|%3D))[A-Za-z0-9_.%~+/=-]+", re.IGNORECASE)
"""``token=`` (also ``access_token=``) and its URL-encoded form, up to the value's end."""
_SIGNED = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]+)+")
"""Our tokens and JWTs: base64url of JSON (``{"`` is ``eyJ``) followed by dotted parts."""


def redact(text: str) -> str:
    """``text`` with every sign-in token replaced by ``[redacted]``."""
    if "token" not in text.lower() and "eyJ" not in text:
        return text  # the common case, cheaply
    return _SIGNED.sub(REDACTED, _QUERY_TOKEN.sub(rf"\1{REDACTED}", text))


class RedactTokens(logging.Filter):
    """Rewrites a record that carries a token so no handler writes it (never drops a record).

    Installed on handlers rather than loggers: a logger's filters do not see records that
    propagate up from other loggers (``slack_sdk.web.async_base_client`` and friends), a
    handler's see them all.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_redaction(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Add :class:`RedactTokens` to ``handlers`` (default: the root logger's), once each."""
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        if not any(isinstance(f, RedactTokens) for f in handler.filters):
            handler.addFilter(RedactTokens())


class AccessLogger(AbstractAccessLogger):
    """One line per request, like aiohttp's default but with the path only, never the query.

    ``203.0.113.7 "GET /login HTTP/1.1" 303 0 0.004s "-" "Mozilla/5.0 …"``: the raw
    (percent-encoded) path, so a ``%0a`` in a URL cannot start a fake log line; the Referer
    without its query either.
    """

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        try:
            referer = request.headers.get("Referer", "-").split("?", 1)[0].split("#", 1)[0]
            self.logger.info(
                '%s "%s %s HTTP/%d.%d" %d %d %.3fs "%s" "%s"', request.remote or "-",
                request.method, request.rel_url.raw_path, request.version.major,
                request.version.minor, response.status, response.body_length, time,
                referer, request.headers.get("User-Agent", "-"))
        except Exception:
            self.logger.exception("access log line failed")

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def server_logging() -> dict[str, Any]:
    """The access-log arguments for ``web.run_app`` / ``AppRunner`` (and tests' servers)."""
    return {"access_log_class": AccessLogger, "access_log": logging.getLogger(ACCESS_LOG)}
