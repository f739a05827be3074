"""Only our own app and workspace: a signed Slack request for another app or workspace is
ignored (answered 200, so Slack does not retry it, with one log line).

The signing secret proves a request came from Slack for an app with that secret; it does not
prove which workspace. An app installed in several workspaces (or an Enterprise Grid org) gets
events from all of them with the same secret, while our bot token, roles and ideas channel
belong to one workspace: the one ``auth.test`` names for the token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PayloadScope:
    """Which app and workspace a Slack payload says it is for."""

    app_id: str | None
    team_id: str | None
    enterprise_id: str | None

    @classmethod
    def of(cls, body: dict[str, Any]) -> PayloadScope:
        team = body.get("team")
        enterprise = body.get("enterprise")
        user = body.get("user")
        return cls(
            app_id=_text(body.get("api_app_id")),
            team_id=_text(body.get("team_id")
                          or (team.get("id") if isinstance(team, dict) else None)
                          or (user.get("team_id") if isinstance(user, dict) else None)),
            enterprise_id=_text(body.get("enterprise_id")
                                or (enterprise.get("id") if isinstance(enterprise, dict)
                                    else None)),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def refusal(payload: PayloadScope, app_id: str | None, team_id: str | None,
            enterprise_id: str | None) -> str | None:
    """Why a payload is not for our app and workspace, or None when it is.

    ``team_id`` / ``enterprise_id`` are the bot token's (``auth.test``); an org-wide install
    has no team, and then the enterprise must match.
    """
    if app_id and payload.app_id and payload.app_id != app_id:
        return f"app {payload.app_id} (this bot is app {app_id})"
    if team_id:
        if payload.team_id != team_id:
            return f"workspace {payload.team_id or 'unknown'} (this bot's token is for {team_id})"
        return None
    if enterprise_id and payload.enterprise_id != enterprise_id:
        return (f"enterprise {payload.enterprise_id or 'unknown'} (this bot's token is for "
                f"{enterprise_id})")
    return None


class OwnWorkspaceOnly:
    """A bolt global middleware (runs after bolt verified the signature and authorized)."""

    def __init__(self) -> None:
        self._app_id: str | None = None
        self._app_looked_up = False

    async def __call__(self, body: dict[str, Any], context: Any, client: Any,
                       next: Any) -> Any:
        authorized = context.authorize_result
        team = getattr(authorized, "team_id", None) if authorized else None
        enterprise = getattr(authorized, "enterprise_id", None) if authorized else None
        app_id = await self._own_app(client, getattr(authorized, "bot_id", None))
        scope = PayloadScope.of(body)
        why = refusal(scope, app_id, team, enterprise)
        if why is None:
            return await next()
        from slack_bolt.response import BoltResponse

        if not (scope.team_id or scope.enterprise_id):
            log.warning("Slack: refusing a %s that names no workspace", _kind(body))
            return BoltResponse(status=400, body={"error": "no workspace in the payload"})
        log.warning("Slack: ignoring a %s for %s", _kind(body), why)
        return BoltResponse(status=200, body="")  # acknowledged, so Slack does not retry

    async def _own_app(self, client: Any, bot_id: str | None) -> str | None:
        """Our app id (``bots.info`` of the token's bot), looked up once; None if Slack can't
        say, and then only the workspace is checked (the signature already ties the request
        to our app's signing secret)."""
        if self._app_looked_up or not bot_id:
            return self._app_id
        try:
            response = await client.bots_info(bot=bot_id)
            self._app_id = _text((response.get("bot") or {}).get("app_id"))
            self._app_looked_up = True
        except Exception as exc:  # retried on the next request
            log.warning("Slack: bots.info failed (%s); checking the workspace only", exc)
        return self._app_id


def _kind(body: dict[str, Any]) -> str:
    event = body.get("event")
    if isinstance(event, dict) and event.get("type"):
        return f"{event['type']} event"
    if body.get("command"):
        return f"{body['command']} command"
    return f"{body.get('type') or 'request'}"
