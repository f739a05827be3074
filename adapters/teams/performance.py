"""A start-up fix for msrest 0.7.1, which botbuilder's connector client uses.

``ClientRetryPolicy`` is built on every outbound call and computes its retry codes with
``[i for i in range(999) if i not in self.safe_codes]``, where ``safe_codes`` is a *list* of
~500 ints: about 500,000 comparisons, twice per Teams turn (~7.7 ms of CPU, measured in
shared/performance-notes.md). Making ``safe_codes`` a frozenset keeps the same codes and makes
each lookup O(1); the behaviour (which codes are retried) is unchanged.
"""

from __future__ import annotations

from msrest.universal_http.requests import ClientRetryPolicy

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
