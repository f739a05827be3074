"""Two fixes for botbuilder's own CPU per Teams turn, measured in bench/bench_turns.py.

1. A start-up fix for msrest 0.7.1, which botbuilder's connector client uses.

``ClientRetryPolicy`` is built on every outbound call and computes its retry codes with
``[i for i in range(999) if i not in self.safe_codes]``, where ``safe_codes`` is a *list* of
~500 ints: about 500,000 comparisons, twice per Teams turn (~7.7 ms of CPU, measured in
shared/performance-notes.md). Making ``safe_codes`` a frozenset keeps the same codes and makes
each lookup O(1); the behaviour (which codes are retried) is unchanged.

2. :class:`CachedConnectorAuthentication`: one connector client per service URL instead of a
new client pipeline for every turn and every proactive message.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botframework.connector.auth import AuthenticationConstants
from botframework.connector.auth.connector_factory import ConnectorFactory
from msrest.universal_http.requests import ClientRetryPolicy

CACHED_CLIENTS = 32
"""Connector clients kept (one per service URL and audience: Teams uses a handful)."""

_applied = False


def apply_msrest_retry_policy_fix() -> None:
    """Idempotent; safe to call from every adapter construction."""
    global _applied
    if _applied:
        return
    safe = ClientRetryPolicy.safe_codes
    if not isinstance(safe, frozenset):
        ClientRetryPolicy.safe_codes = frozenset(safe)  # type: ignore[assignment]
    _applied = True


class CachedConnectorAuthentication(ConfigurationBotFrameworkAuthentication):
    """``ConfigurationBotFrameworkAuthentication`` that reuses connector clients.

    botbuilder builds a new ``ConnectorClient`` (an msrest pipeline, its configuration and
    user-agent policy) for every turn and every proactive message. A client holds no per-turn
    state (credentials fetch and cache their own tokens), so one per (app id, service URL,
    audience) serves every turn; the few kept are bounded (least recently used go first).
    """

    def __init__(self, configuration: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(configuration, *args, **kwargs)
        self._clients: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._token_clients: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    async def authenticate_request(self, activity: Any, auth_header: str) -> Any:
        """Inbound turns get their connector factory here (not from
        :meth:`create_connector_factory`): wrap it too."""
        result = await super().authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = _CachedConnectorFactory(result.connector_factory,
                                                               self._clients)
        return result

    def create_connector_factory(self, claims_identity: Any) -> ConnectorFactory:
        return _CachedConnectorFactory(super().create_connector_factory(claims_identity),
                                       self._clients)

    async def create_user_token_client(self, claims_identity: Any) -> Any:
        """Every turn also gets a user-token client (another msrest pipeline) that a bot
        without sign-in never uses: one per app id serves them all."""
        key = (_app_id(claims_identity),)
        client = self._token_clients.get(key)
        if client is None:
            client = await super().create_user_token_client(claims_identity)
            _remember(self._token_clients, key, client)
        return client


class _CachedConnectorFactory(ConnectorFactory):
    def __init__(self, inner: ConnectorFactory, clients: OrderedDict[tuple[Any, ...], Any]):
        self._inner = inner
        self._clients = clients

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        # The app id is the inner factory's own (it comes from the turn's claims).
        key = (getattr(self._inner, "_app_id", None), service_url, audience)
        client = self._clients.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            _remember(self._clients, key, client)
        else:
            self._clients.move_to_end(key)
        return client


def _remember(cache: OrderedDict[tuple[Any, ...], Any], key: tuple[Any, ...],
              client: Any) -> None:
    cache[key] = client
    while len(cache) > CACHED_CLIENTS:
        cache.popitem(last=False)  # the least recently used


def _app_id(claims_identity: Any) -> str | None:
    """The bot's app id in a turn's claims (audience from a channel, appid from the Emulator),
    as botbuilder reads it; None for local mode's anonymous claims."""
    return (claims_identity.get_claim_value(AuthenticationConstants.AUDIENCE_CLAIM)
            or claims_identity.get_claim_value(AuthenticationConstants.APP_ID_CLAIM))
