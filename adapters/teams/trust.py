"""What a Teams request must carry beyond botbuilder's own checks: a token that expires, and
a tenant this bot serves.

botbuilder validates the Bot Framework token's signature, issuer and audience, but PyJWT checks
``exp`` only when the claim is there: a token without one would never expire. And an Azure bot
registration accepts activities from any tenant that installs the app; a single-tenant
deployment (``MICROSOFT_APP_TENANT_ID``, or ``KAIZEN_TEAMS_TENANTS`` for several) must refuse the
rest before anything is stored.
"""

from __future__ import annotations

import jwt


def token_without_expiry(authorization: str) -> bool:
    """True when the bearer token has no ``exp`` claim (or is not a JWT at all: botbuilder
    then refuses it itself). Read unverified: this only ever adds a refusal."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    try:
        claims = jwt.decode(token.strip(), options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return not isinstance(claims, dict) or claims.get("exp") is None


def tenant_allowed(tenant: str | None, allowed: frozenset[str]) -> bool:
    """An empty allow-list admits every tenant (a multi-tenant bot, said in the start-up log)."""
    if not allowed:
        return True
    return tenant is not None and tenant.lower() in allowed
