"""Slack payloads → bot events: one test per payload file (the normalizer table's rows)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.slack.normalize import (
    CONTEXT_KEY,
    ENVELOPES,
    EVENTS,
    Inbound,
    Notice,
    normalize,
    slash_command,
)
from bot.events import MessageEvent, Place, PostRef, ReactionEvent, UserRef
from bot.replies import PROBLEMS
from bot.targets import Ephemeral, Route, ToChannel, ToUser
from storage.models import InboxRow
from tests.slack_harness import SlackDriver, payload


def _inbound(kind: str, body: dict[str, Any]) -> Inbound:
    found = normalize(kind, body)
    assert isinstance(found, Inbound), found
    return found


def test_a_direct_message_is_an_answer_in_that_dm() -> None:
    found = _inbound("message", payload("event_message_im"))
    assert found.event == MessageEvent(
        "Ev0PV52K21", UserRef("slack", "T0001", "U2147483697"),
        "Today every torque setting is checked by hand at each station & logged on paper",
        Place("D024BE91L", direct=True))
    assert found.route == Route(ToChannel("D024BE91L"))
    assert found.person_key == "T0001:U2147483697"


def test_a_file_with_a_comment_is_an_answer_and_edits_are_not() -> None:
    body = payload("event_message_im")
    body["event"].update(subtype="file_share", text="see the photo: the jam",
                         files=[{"id": "F1", "name": "jam.jpg"}])
    found = _inbound("message", body)
    assert isinstance(found.event, MessageEvent) and found.event.text == "see the photo: the jam"
    body["event"].update(text="")  # a file alone: an empty answer, which the flow asks again
    assert _inbound("message", body).event.text == ""  # type: ignore[union-attr]
    body["event"].update(subtype="message_changed")
    assert normalize("message", body) is None


def test_a_bots_own_message_is_no_answer() -> None:
    assert normalize("message", payload("event_message_im_from_bot")) is None


def test_mentions_in_a_dm_become_plain_text() -> None:
    found = _inbound("message", payload("event_message_im_mention_injection"))
    assert isinstance(found.event, MessageEvent)
    assert "<!channel>" not in found.event.text and "<@" not in found.event.text
    assert "<b> & more" in found.event.text


def test_a_mention_is_a_command_answered_privately_in_the_channel() -> None:
    body = {**payload("event_app_mention"), CONTEXT_KEY: {"bot_user_id": "U0LAN0Z89"}}
    found = _inbound("app_mention", body)
    assert found.event == MessageEvent(
        "Ev123ABC456", UserRef("slack", "T0001", "U2147483697"),
        "kaizen Reduce changeover time on line 3", Place("C2147483705"))
    assert found.route == Route(Ephemeral("C2147483705", "U2147483697"),
                                in_flow_to=ToUser("U2147483697"))


def test_a_reaction_names_the_post_and_only_problems_are_told() -> None:
    found = _inbound("reaction_added", payload("event_reaction_added"))
    assert found.event == ReactionEvent(
        "Ev0PV52K25", UserRef("slack", "T0001", "U123ABC456"), None, "+1", True,
        post=PostRef("C123ABC456", "1360782400.498405"))
    assert found.route == Route(Ephemeral("C123ABC456", "U123ABC456"), only=PROBLEMS)
    removed = _inbound("reaction_removed", payload("event_reaction_added"))
    assert isinstance(removed.event, ReactionEvent) and not removed.event.added


def test_a_button_is_its_value_typed_in_that_conversation() -> None:
    found = _inbound("button", payload("block_actions_button"))
    assert found.event == MessageEvent(
        "action-1548426417.840180-U2147483697", UserRef("slack", "T0001", "U2147483697"),
        "continue", Place("D024BE91L", direct=True))
    assert found.route == Route(ToChannel("D024BE91L"))


def test_the_slash_command_answers_in_its_response_unless_it_goes_on_in_the_dm() -> None:
    event, route = slash_command(payload("slash_command_kaizen"))
    assert event.text == "/kaizen Reduce changeover time on line 3"
    assert event.user == UserRef("slack", "T0001", "U2147483697", "Steve")
    assert event.place == Place("C2147483705", direct=False)
    assert route == Route(None, in_flow_to=ToUser("U2147483697"))
    in_dm, dm_route = slash_command({**payload("slash_command_kaizen"), "channel_id": "D1"})
    assert in_dm.place.direct and dm_route.to == ToUser("U2147483697")


def test_app_rate_limited_is_only_a_warning() -> None:
    notice = normalize("app_rate_limited", payload("app_rate_limited"))
    assert isinstance(notice, Notice) and notice.level == logging.WARNING
    assert "T0001" in notice.text and "1518467820" in notice.text


def test_every_row_has_a_payload_file_tested_here() -> None:
    assert set(EVENTS) == {"message", "app_mention", "reaction_added", "reaction_removed"}
    assert set(ENVELOPES) == {"app_rate_limited"}
    assert normalize("no_such_type", {}) is None


async def test_app_rate_limited_is_answered_200_and_logged(
        slack: SlackDriver, caplog: pytest.LogCaptureFixture) -> None:
    """Slack disables event subscriptions of apps that fail more than 5 % of deliveries in an
    hour: this notice must not be a 404. Nothing is stored or run for it."""
    with caplog.at_level(logging.WARNING, logger="adapters.slack.app"):
        status = await slack.event(payload("app_rate_limited"))
    assert status == 200
    assert any("rate-limited event deliveries for team T0001" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)
    async with slack.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(InboxRow)) == 0


async def test_app_rate_limited_must_be_signed(slack: SlackDriver) -> None:
    body = json.dumps(payload("app_rate_limited"))
    response = await slack.client.post("/slack/events", data=body,
                                       headers={"Content-Type": "application/json"})
    assert response.status == 401
