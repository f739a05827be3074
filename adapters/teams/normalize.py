"""Teams activities → bot events, by a table keyed by activity type.

Pure functions of the (already authenticated) activity: no storage, no sending. A message in
the person's own chat also says how to reach them later (a :class:`ConversationEvent`), so one
activity may give several events, run in order. Adding an activity type is one row in
:data:`ACTIVITIES` and one test in ``tests/test_teams_normalize.py``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity

import adapters.teams.schema  # noqa: F401  (tenantId, as the schema spells it)
from adapters.teams.text import bare_conversation_id, clean_text, normalise_reaction, tenant_of
from bot import commands
from bot.events import (
    ConversationEvent,
    DecisionEvent,
    FormEvent,
    MessageEvent,
    Place,
    PostRef,
    ReactionEvent,
    UserRef,
)
from bot.replies import PROBLEMS, ReplyKind
from bot.targets import InPlace, Route, ToReference, ToUser

log = logging.getLogger(__name__)

PLATFORM = "teams"
FORM_FIELDS = frozenset({"standard", "problem", "proposal", "area", "process"})

Event = MessageEvent | FormEvent | DecisionEvent | ReactionEvent | ConversationEvent


@dataclass(frozen=True, slots=True)
class Inbound:
    """One event of an activity and where its replies go (None: it has no replies)."""

    event: Event
    route: Route | None = None
    replace_when_saved: InPlace | None = None
    """A capture form's own message: once its idea is saved it says so instead (so the form
    cannot be sent twice)."""


Normalizer = Callable[[Activity], list[Inbound]]


def user_of(activity: Activity) -> UserRef:
    sender = activity.from_property
    return UserRef(PLATFORM, tenant_of(activity), sender.id, sender.name or None,
                   sender.aad_object_id or None)


def reference_of(activity: Activity, *, bare: bool = False) -> dict[str, Any]:
    """How to write into the activity's conversation later (JSON); ``bare``: into the channel
    itself rather than the thread the activity is in."""
    reference = TurnContext.get_conversation_reference(activity)
    reference.conversation.tenant_id = tenant_of(activity)
    if bare:
        reference.conversation.id = bare_conversation_id(reference.conversation.id)
    reference.activity_id = None
    return dict(reference.serialize())


def _is_personal(activity: Activity) -> bool:
    return (activity.conversation.conversation_type or "personal") == "personal"


def _event_id(activity: Activity) -> str:
    return activity.id or f"teams-{uuid.uuid4()}"


def message(activity: Activity) -> list[Inbound]:
    """Text in the person's chat or an ``@Kaizen`` mention in a channel, or a card's button."""
    user = user_of(activity)
    here = reference_of(activity)
    personal = _is_personal(activity)
    found: list[Inbound] = []
    if personal:
        found.append(Inbound(ConversationEvent(user, Place(activity.conversation.id, True,
                                                           here), joined=True, personal=True)))
    value = activity.value if isinstance(activity.value, dict) else None
    if value and value.get("kaizen"):
        card = _card_action(activity, user, value, here)
        return found + ([card] if card is not None else [])
    text = clean_text(activity)
    if personal:
        found.append(Inbound(
            MessageEvent(_event_id(activity), user, text,
                         Place(activity.conversation.id, direct=True)),
            Route(ToReference(here))))
        return found
    # A channel or group chat: commands and one-shot captures; anything else gets the form.
    place = Place(bare_conversation_id(activity.conversation.id), direct=False,
                  reference=reference_of(activity, bare=True))
    body = commands.parse(text).body
    found.append(Inbound(
        MessageEvent(_event_id(activity), user, f"/kaizen {body}".strip(), place,
                     offers_form=True),
        Route(ToReference(here), private_to=ToUser(user.user_id))))
    return found


def _card_action(activity: Activity, user: UserRef, value: Mapping[str, Any],
                 here: dict[str, Any]) -> Inbound | None:
    action = str(value.get("kaizen"))
    place = Place(bare_conversation_id(activity.conversation.id),
                  direct=_is_personal(activity))
    if action == "capture":
        values = {k: str(v) for k, v in value.items() if k in FORM_FIELDS}
        # A form's problems are shown on the form itself, not as a separate message.
        form = (InPlace(reference_of(activity), activity.reply_to_id)
                if activity.reply_to_id else None)
        return Inbound(FormEvent(_event_id(activity), user, values, place),
                       Route(ToReference(here), skip=frozenset({ReplyKind.FORM_ERROR})),
                       replace_when_saved=form)
    if action in {"approve", "reject"}:
        try:
            idea_id: int | None = int(str(value.get("idea_id")))
        except ValueError:
            idea_id = None  # the service asks which idea was meant
        # Answers go to the clicker privately when we can reach them, else in the thread.
        return Inbound(DecisionEvent(_event_id(activity), user, idea_id, action,
                                     str(value.get("reason") or "").strip(), place),
                       Route(ToUser(user.user_id, fallback=ToReference(here))))
    log.info("ignoring unknown card action %r", action)
    return None


def reactions(activity: Activity) -> list[Inbound]:
    """Reactions added to or removed from a message (the service knows if it is an idea's
    post); only refusals are told, privately, and only if we can reach the person."""
    user = user_of(activity)
    post = PostRef(bare_conversation_id(activity.conversation.id), activity.reply_to_id or "")
    route = Route(ToUser(user.user_id, wait=False), only=PROBLEMS)
    found = []
    for added, listed in ((True, activity.reactions_added), (False, activity.reactions_removed)):
        for reaction in listed or []:
            found.append(Inbound(ReactionEvent(
                event_id=f"{activity.id or uuid.uuid4()}:{reaction.type}:{int(added)}",
                user=user, idea_id=None, reaction=normalise_reaction(reaction.type or ""),
                added=added, post=post), route))
    return found


def _joined_or_left(activity: Activity, joined: bool) -> list[Inbound]:
    """The bot was added to (or removed from) a team, chat or personal scope."""
    personal = _is_personal(activity)
    place = (Place(activity.from_property.id, True, reference_of(activity)) if personal else
             Place(bare_conversation_id(activity.conversation.id), False,
                   reference_of(activity, bare=True)))
    user = UserRef(PLATFORM, tenant_of(activity), activity.from_property.id)
    return [Inbound(ConversationEvent(user, place, joined=joined, personal=personal))]


def conversation_update(activity: Activity) -> list[Inbound]:
    bot = activity.recipient.id if activity.recipient else None
    if any(member.id == bot for member in activity.members_added or []):
        return _joined_or_left(activity, True)
    if any(member.id == bot for member in activity.members_removed or []):
        return _joined_or_left(activity, False)
    return []


def installation_update(activity: Activity) -> list[Inbound]:
    action = (activity.action or "").lower()
    if action in {"add", "add-upgrade"}:
        return _joined_or_left(activity, True)
    if action in {"remove", "remove-upgrade"}:
        return _joined_or_left(activity, False)
    return []


ACTIVITIES: dict[str, Normalizer] = {
    "message": message,
    "messageReaction": reactions,
    "conversationUpdate": conversation_update,
    "installationUpdate": installation_update,
}


def normalize(activity: Activity) -> list[Inbound]:
    """The events of one activity; none for a type we do not handle."""
    normalizer = ACTIVITIES.get(activity.type or "")
    return normalizer(activity) if normalizer is not None else []
