"""Teams local mode (``KAIZEN_TEAMS_LOCAL=true``): who may talk to an unauthenticated endpoint.

Without Bot Framework credentials nothing in a request can be verified, so the only thing we
trust is the network: the TCP peer must be this machine, nothing may have relayed the request
(a reverse proxy on this machine would make every outside client look local, so any forwarding
header is refused), and replies go only to a ``serviceUrl`` on this machine (anything else would
let a request make the bot POST wherever it says: SSRF).

A web page open in the developer's browser is on this machine too: it can POST to loopback
(a ``text/plain`` body needs no CORS preflight) or reach us through DNS rebinding. So a request
a browser made (it carries ``Origin`` or ``Sec-Fetch-*``), or one addressed to a ``Host`` that is
not loopback, is refused as well; the Agents Playground posts from its own server process.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Host", "Via")
BROWSER_HEADERS = ("Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest")


def is_loopback_host(host: str | None) -> bool:
    """``127.0.0.0/8``, ``::1``, ``::ffff:127.x`` or ``localhost``; nothing else (no DNS)."""
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def is_loopback_url(url: str | None) -> bool:
    """An ``http(s)`` URL whose host is on this machine."""
    try:
        parts = urlsplit(url or "")
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and is_loopback_host(host)


def local_refusal(peer: str | None, headers: Mapping[str, str],
                  service_url: str | None) -> str | None:
    """Why a local-mode request must be refused, or None when it comes from this machine."""
    if not is_loopback_host(peer):
        return f"peer {peer or 'unknown'} is not on this machine"
    relayed = [name for name in FORWARDING_HEADERS if name in headers]
    if relayed:
        return f"request was relayed ({', '.join(relayed)} header)"
    browser = [name for name in BROWSER_HEADERS if name in headers]
    if browser:
        return f"request came from a web browser ({', '.join(browser)} header)"
    if not is_loopback_url(f"http://{headers.get('Host', '')}/"):
        return f"Host {headers.get('Host', '')!r} is not this machine"
    if not is_loopback_url(service_url):
        return f"serviceUrl {service_url!r} is not on this machine"
    return None
