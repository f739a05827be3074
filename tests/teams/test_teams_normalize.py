"""Teams activities → bot events: one test per activity payload file (the table's rows)."""

from __future__ import annotations

import json
from typing import Any

from botbuilder.schema import Activity

from adapters.teams.normalize import ACTIVITIES, normalize
from bot.events import (
    ConversationEvent,
    DecisionEvent,
    FormEvent,
    MessageEvent,
    PostRef,
    ReactionEvent,
)
from bot.replies import PROBLEMS, ReplyKind
from bot.targets import ToReference, ToUser
from tests.paths import PAYLOADS

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CHANNEL = "19:3629591d4b774aa08cb0887902eee7c1@thread.skype"
MEGAN = "29:1XJKJMvc5GBtc2JwZq0oj8tHZmzrQgFmB39ATiQWA85gQtHieVkKilBZ9XHoq9j7Zaqt7CZ-NJWi7me2kHTL3Bw"


def activity(name: str, **changes: Any) -> Activity:
    data = {**json.loads((PAYLOADS / f"teams_{name}.json").read_text()), **changes}
    return Activity().deserialize(data)


def test_a_personal_message_remembers_the_chat_then_runs_the_text() -> None:
    joined, said = normalize(activity("message_activity"))
    assert isinstance(joined.event, ConversationEvent)
    assert joined.event.joined and joined.event.personal and joined.route is None
    assert joined.event.user.user_id == MEGAN
    reference = joined.event.place.reference
    assert reference is not None and reference["serviceUrl"] == (
        "https://smba.trafficmanager.net/amer/")
    assert isinstance(said.event, MessageEvent)
    assert said.event.text == "kaizen" and said.event.place.direct
    assert said.event.user.directory_id == "7faf8ab2-3d56-4244-b585-20c8a42ed2b8"
    assert said.event.event_id == "1485983408511"
    assert said.route is not None and said.route.to == ToReference(reference)


def test_a_channel_mention_is_a_command_that_may_get_the_form() -> None:
    (said,) = normalize(activity("message_activity_channel_mention"))
    assert isinstance(said.event, MessageEvent)
    assert said.event.text == "/kaizen Reduce changeover time on line 3"
    assert said.event.offers_form  # an incomplete capture gets the form, not questions
    assert said.event.place.channel_id == CHANNEL and not said.event.place.direct
    stored = said.event.place.reference
    assert stored is not None and stored["conversation"]["id"] == CHANNEL  # type: ignore[index]
    assert said.event.user.workspace == TENANT
    assert said.route is not None and isinstance(said.route.to, ToReference)
    # Replies go to the thread the mention is in.
    assert said.route.to.reference["conversation"]["id"].endswith(  # type: ignore[index]
        ";messageid=1481567603816")


def test_card_buttons_are_typed_events() -> None:
    form = {"kaizen": "capture", "standard": "by hand", "problem": "slow",
            "proposal": "a jig", "other": "dropped"}
    (submitted,) = normalize(activity("message_activity_channel_mention", text=None,
                                      value=form))
    assert isinstance(submitted.event, FormEvent)
    assert submitted.event.values == {"standard": "by hand", "problem": "slow",
                                      "proposal": "a jig"}
    assert submitted.route is not None and ReplyKind.FORM_ERROR in submitted.route.skip
    (clicked,) = normalize(activity("message_activity_channel_mention", text=None,
                                    value={"kaizen": "reject", "idea_id": 7,
                                           "reason": " too costly "}))
    assert isinstance(clicked.event, DecisionEvent)
    assert (clicked.event.idea_id, clicked.event.decision, clicked.event.reason) == (
        7, "reject", "too costly")
    assert clicked.route is not None and isinstance(clicked.route.to, ToUser)
    assert isinstance(clicked.route.to.fallback, ToReference)  # else in the thread
    (unclear,) = normalize(activity("message_activity_channel_mention", text=None,
                                    value={"kaizen": "approve", "idea_id": "KZ-x"}))
    assert isinstance(unclear.event, DecisionEvent) and unclear.event.idea_id is None


def test_a_reaction_names_the_post_and_only_problems_are_told() -> None:
    (liked,) = normalize(activity("message_reaction_activity"))
    assert isinstance(liked.event, ReactionEvent)
    assert liked.event.post == PostRef(CHANNEL, "1575667808184")
    assert liked.event.reaction == "+1" and liked.event.added
    assert liked.event.user.workspace == TENANT
    assert liked.route is not None and liked.route.only == PROBLEMS
    assert liked.route.to == ToUser(liked.event.user.user_id, wait=False)


def test_being_added_to_a_channel_keeps_the_way_in() -> None:
    (added,) = normalize(activity("conversation_update_activity"))
    assert isinstance(added.event, ConversationEvent)
    assert added.event.joined and not added.event.personal
    assert added.event.place.channel_id == CHANNEL
    bot = "28:c9e8c047-2a74-40a2-b28a-b162d5f5327c"
    (removed,) = normalize(activity("conversation_update_activity", membersAdded=None,
                                    membersRemoved=[{"id": bot}]))
    assert isinstance(removed.event, ConversationEvent) and not removed.event.joined
    assert normalize(activity("conversation_update_activity",
                              membersAdded=[{"id": "29:someone-else"}])) == []


def test_installation_updates_add_and_remove() -> None:
    (installed,) = normalize(activity("installation_update_activity"))
    assert isinstance(installed.event, ConversationEvent) and installed.event.joined
    (removed,) = normalize(activity("installation_update_activity", action="remove"))
    assert isinstance(removed.event, ConversationEvent) and not removed.event.joined


def test_other_activity_types_give_nothing() -> None:
    assert set(ACTIVITIES) == {"message", "messageReaction", "conversationUpdate",
                               "installationUpdate"}
    assert normalize(activity("message_activity", type="typing")) == []
