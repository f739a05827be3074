"""Typed targets (:mod:`bot.targets`) as the JSON kept in outbox rows, and back.

The shapes are the ones rows had before targets were typed (``{"user": …}``,
``{"channel": …}``, ``{"channel", "user", "ephemeral": true}``, ``{"ref": …}``), so rows
queued by an earlier version are still delivered after an upgrade.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.targets import Ephemeral, InPlace, Target, ToChannel, ToReference, ToUser


def target_to_json(target: Target) -> dict[str, Any]:
    match target:
        case ToUser(user_id, fallback, wait):
            data: dict[str, Any] = {"user": user_id}
            if fallback is not None:
                data["fallback"] = target_to_json(fallback)
            if not wait:
                data["wait"] = False
            return data
        case Ephemeral(channel_id, user_id):
            return {"channel": channel_id, "user": user_id, "ephemeral": True}
        case ToChannel(channel_id):
            return {"channel": channel_id}
        case ToReference(reference):
            return {"ref": dict(reference)}
        case InPlace(reference, message_id):
            return {"ref": dict(reference), "replace": message_id}
    raise TypeError(f"not a target: {target!r}")


def target_from_json(data: Mapping[str, Any]) -> Target:
    """The target a row names; a ``ValueError`` for a shape no version ever wrote."""
    if data.get("ref"):
        if data.get("replace"):
            return InPlace(dict(data["ref"]), str(data["replace"]))
        return ToReference(dict(data["ref"]))
    if data.get("ephemeral") and data.get("channel") and data.get("user"):
        return Ephemeral(str(data["channel"]), str(data["user"]))
    if data.get("channel"):
        return ToChannel(str(data["channel"]))
    if data.get("user"):
        fallback = data.get("fallback")
        return ToUser(str(data["user"]),
                      target_from_json(fallback) if isinstance(fallback, Mapping) else None,
                      wait=bool(data.get("wait", True)))
    raise ValueError(f"outbox target without a destination: {sorted(data)}")
