"""Who may see a workspace's board: the wall-screen password and the brake on guessing it.

Signed links are :mod:`adapters.host.signing`; visiting one sets a session cookie carrying a
token of the same scope *and the same expiry*, so a session never outlives the link that
started it.
:func:`password_matches` is total: any header at all gives True or False, never an exception,
so a hostile header is a 401 and never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


def password_matches(header: str | None, password: str) -> bool:
    """HTTP basic auth: any user name, the configured password, compared in constant time.

    Never raises: whatever the header holds (non-ASCII, bad base64, bytes that are not UTF-8,
    no colon) the answer is False. Both sides are hashed before the comparison so the time
    taken does not depend on the password's length either.
    """
    try:
        scheme, _, credentials = (header or "").partition(" ")
        if scheme.lower() != "basic" or not credentials.strip():
            return False
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        _, colon, given = decoded.partition(":")
        if not colon:
            return False
        expected = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
        return hmac.compare_digest(hashlib.sha256(given.encode("utf-8")).digest(), expected)
    except (ValueError, TypeError):  # binascii.Error and UnicodeError are ValueErrors
        return False


def client_key(address: str | None) -> str:
    """Whose password attempts these are: the peer address, an IPv6 client by its /64.

    One IPv6 subscriber usually holds a whole /64, so counting single IPv6 addresses would
    hand an attacker 2**64 fresh budgets. ``X-Forwarded-For`` is deliberately *not* read:
    anybody can send it, and trusting it would let every request claim a new address.
    """
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(slots=True)
class _Attempts:
    failures: int = 0
    lockouts: int = 0
    locked_until: float = 0.0
    last_seen: float = 0.0


@dataclass(frozen=True, slots=True)
class Lockout:
    """A client just crossed the limit: refuse its password attempts for ``seconds``."""

    client: str
    failures: int
    number: int
    seconds: int


class PasswordThrottle:
    """Slows down guessing the wall-screen password, per client (see :func:`client_key`).

    The first ``allowed`` wrong passwords are answered normally; the next one locks the client
    out for ``base_delay`` seconds, and every wrong password after a lockout ends locks it out
    again for twice as long, up to ``max_delay``. During a lockout the client's attempts are
    not checked at all (answered 429), so a right guess is not told apart from a wrong one. A
    right password after a lockout ends forgets the client.

    The state is per process and in memory, on purpose: it is a brake on guessing, not an
    account lock, and losing it on a restart (or having it once per worker) only gives a guesser
    a few more tries. It is bounded: at most ``max_clients`` entries, the least recently seen
    dropped first, and a client quiet for ``forget_after`` seconds starts afresh. Behind a
    reverse proxy every client has the proxy's address and shares one budget: a guesser there
    also slows down everyone else's password sign-in (not their personal links).
    """

    def __init__(self, *, allowed: int = 5, base_delay: float = 1.0, max_delay: float = 900.0,
                 max_clients: int = 10_000, forget_after: float = 24 * 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed = allowed
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_clients = max_clients
        self.forget_after = forget_after
        self.clock = clock
        self._clients: OrderedDict[str, _Attempts] = OrderedDict()

    def __len__(self) -> int:
        return len(self._clients)

    def retry_after(self, client: str) -> int:
        """Whole seconds until ``client`` may try a password again; 0 if it may now."""
        now = self.clock()
        self._forget_idle(now)
        entry = self._clients.get(client)
        if entry is None or entry.locked_until <= now:
            return 0
        return max(1, math.ceil(entry.locked_until - now))

    def failed(self, client: str) -> Lockout | None:
        """Count a wrong password; the :class:`Lockout` it starts, if it starts one."""
        now = self.clock()
        entry = self._clients.pop(client, None) or _Attempts()
        entry.failures += 1
        entry.last_seen = now
        self._clients[client] = entry  # most recently seen last
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)
        if entry.failures < self.allowed:
            return None
        entry.lockouts += 1
        seconds = min(self.base_delay * 2 ** min(entry.lockouts - 1, 62), self.max_delay)
        entry.locked_until = now + seconds
        return Lockout(client, entry.failures, entry.lockouts, math.ceil(seconds))

    def succeeded(self, client: str) -> None:
        """The right password: the client's count starts again from zero."""
        self._clients.pop(client, None)

    def _forget_idle(self, now: float) -> None:
        while self._clients:
            oldest = next(iter(self._clients.values()))
            if now - oldest.last_seen < self.forget_after or oldest.locked_until > now:
                break
            self._clients.popitem(last=False)
