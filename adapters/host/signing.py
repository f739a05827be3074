"""Signed, expiring, workspace-scoped board links: made by chat (``/kaizen board``) and the CLI
(``kaizen board-link``), checked by the board.

A token is ``base64url(json payload) + "." + base64url(HMAC-SHA256(secret, payload))`` with the
platform, workspace, user and expiry, compared in constant time. :meth:`TokenSigner.verify` is
total: any string at all, including non-ASCII text, lone surrogates or nonsense base64, gives
``None``, never an exception, so a hostile cookie or link is a 401 and never a 500.

Host-level (the runtime hands the core a link maker): the board imports it, not the reverse.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

TOKEN_TTL_SECONDS = 12 * 3600
MAX_TOKEN_CHARS = 2048
"""Far above any token we sign (about 200 characters); longer input is refused unread."""


@dataclass(frozen=True, slots=True)
class Scope:
    platform: str
    workspace: str
    user: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid token grants: a scope, until ``expires`` (Unix seconds)."""

    scope: Scope
    expires: int


class TokenSigner:
    def __init__(self, secret: str | None) -> None:
        # Without a configured key, links work until this process restarts (logged at start).
        self.ephemeral = not secret
        self._key = (secret or secrets.token_urlsafe(32)).encode()

    def sign(self, scope: Scope, ttl: int = TOKEN_TTL_SECONDS, now: float | None = None) -> str:
        """A token for ``scope`` valid for ``ttl`` seconds from ``now``."""
        return self.sign_until(scope, int((time.time() if now is None else now) + ttl))

    def sign_until(self, scope: Scope, expires: int) -> str:
        """A token for ``scope`` that expires at ``expires`` (Unix seconds), e.g. a link's own."""
        payload = json.dumps({"p": scope.platform, "w": scope.workspace, "u": scope.user,
                              "exp": int(expires)}, separators=(",", ":")).encode()
        body = _b64(payload)
        return f"{body}.{self._mac(body)}"

    def grant(self, token: str, now: float | None = None) -> Grant | None:
        """The token's scope and expiry if it is ours and not expired; None for anything else.

        Never raises: a token is ASCII by construction, so non-ASCII input (which
        ``hmac.compare_digest`` would refuse with TypeError) is rejected before any decoding,
        and the MAC is compared as bytes.
        """
        if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_CHARS:
            return None
        body, _, mac = token.partition(".")
        if not body or not mac or not hmac.compare_digest(mac.encode(),
                                                          self._mac(body).encode()):
            return None
        try:
            data = json.loads(_unb64(body))
            expires = int(data["exp"])
            scope = Scope(str(data["p"]), str(data["w"]), str(data["u"]))
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
            return None
        if expires <= (time.time() if now is None else now):
            return None
        return Grant(scope, expires)

    def verify(self, token: str, now: float | None = None) -> Scope | None:
        """The token's scope if it is ours and not expired; None otherwise (never raises)."""
        grant = self.grant(token, now)
        return grant.scope if grant else None

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())


def public_base(settings: object) -> str:
    """Where people reach this server (``KAIZEN_PUBLIC_URL``, else host and port)."""
    url = getattr(settings, "public_url", None)
    if url:
        return str(url).rstrip("/")
    host = str(getattr(settings, "host", "127.0.0.1"))
    host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host
    return f"http://{host}:{getattr(settings, 'port', 3978)}"


def login_link(signer: TokenSigner, base: str, scope: Scope) -> str:
    from urllib.parse import urlencode

    return f"{base}/login?{urlencode({'token': signer.sign(scope)})}"
