"""Slack end to end: real bolt, real HTTP into our server, signed requests, a fake Web API."""

from __future__ import annotations

import json
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from adapters.host.runtime import Runtime
from adapters.host.server import SLACK, build_app
from storage.models import IdeaPostRow, OutboxRow, PersonRow, ProcessedEventRow
from tests.conftest import MANAGER, all_ideas, get_idea
from tests.fake_slack import FakeSlack
from tests.slack_harness import AUTHOR, IDEAS_CHANNEL, SlackDriver, payload, slack_settings

LIVE_TOKENS = ("<!channel>", "<!here>", "<!everyone>", "<@U", "<!subteam", "link_names")
DM = f"D{AUTHOR}"


def texts_to(slack: SlackDriver, channel: str) -> list[str]:
    return [call.params.get("text", "") for call in slack.posts_to(channel)]


async def capture_one(slack: SlackDriver, proposal: str = "Use torque wrenches that log") -> None:
    """A one-shot capture, waited for until it is posted in the ideas channel."""
    before = len(slack.idea_posts())
    await slack.command(f"standard: by hand; problem: slow; proposal: {proposal}")
    await slack.wait_for(lambda: len(slack.idea_posts()) > before)
    await slack.idle()


async def idea_ts(slack: SlackDriver) -> str:
    """The stored ts of the (first) idea post, once the deliverer has recorded it."""
    await slack.idle()
    async with slack.runtime.sessions() as session:
        ts = await session.scalar(select(IdeaPostRow.message_id).order_by(IdeaPostRow.id))
    assert ts is not None, "the idea was never posted"
    return str(ts)


async def test_full_capture_in_the_dm_then_posted_to_the_ideas_channel(
    slack: SlackDriver,
) -> None:
    ack = await slack.command("")
    assert ack["text"] == "I've sent you a direct message to capture your idea there."
    await slack.wait_for(lambda: any("Question 1 of 3" in t for t in texts_to(slack, DM)))
    assert slack.fake.of("conversations.open")[0].params["users"] == AUTHOR

    assert await slack.dm("Today every torque setting is checked by hand &amp; logged") == 200
    await slack.wait_for(lambda: any("Question 2 of 3" in t for t in texts_to(slack, DM)))
    await slack.dm("It takes 20 minutes per shift")
    await slack.wait_for(lambda: any("Question 3 of 3" in t for t in texts_to(slack, DM)))
    await slack.dm("Use torque wrenches that log automatically")
    await slack.wait_for(lambda: len(slack.idea_posts()) == 1)

    [idea] = await all_ideas(slack.runtime)
    assert idea.standard == "Today every torque setting is checked by hand & logged"
    assert idea.author_name == "Steve"
    post = slack.idea_posts()[0]
    blocks = json.dumps(post.params["blocks"])
    for expected in ("KZ-1", "Steve", "by hand &amp; logged", "20 minutes", "submitted"):
        assert expected in blocks
    assert "KZ-1" in post.params["text"]
    assert any("saved as KZ-1" in t for t in texts_to(slack, DM))
    await slack.idle()  # the post's ts is saved once Slack has answered the post
    async with slack.runtime.sessions() as session:
        stored = (await session.execute(select(IdeaPostRow))).scalar_one()
    assert (stored.channel, stored.idea_id) == (IDEAS_CHANNEL, 1)


async def test_one_shot_capture_asks_nothing(slack: SlackDriver) -> None:
    await capture_one(slack)
    [idea] = await all_ideas(slack.runtime)
    assert (idea.standard, idea.problem) == ("by hand", "slow")
    assert not any("Question" in t for t in texts_to(slack, DM))


async def test_manager_reaction_approves_dms_the_author_and_updates_the_post(
    slack: SlackDriver,
) -> None:
    await capture_one(slack)
    ts = await idea_ts(slack)
    assert await slack.react("thumbsup", ts) == 200  # alias of +1, an approve reaction
    await slack.wait_for(lambda: bool(slack.fake.of("chat.update")))
    await slack.idle()
    assert (await get_idea(slack.runtime, 1)).status == "approved"
    update = slack.fake.of("chat.update")[-1]
    assert (update.params["channel"], update.params["ts"]) == (IDEAS_CHANNEL, ts)
    assert "approved" in json.dumps(update.params["blocks"])
    note = [t for t in texts_to(slack, DM) if "approved by Mia Manager" in t]
    assert len(note) == 1


async def test_a_deleted_idea_post_is_recorded_as_gone_not_retried(slack: SlackDriver) -> None:
    """chat.update answers message_not_found when someone deleted the post: no day of
    retries, no new post; the decision itself stands."""
    await capture_one(slack)
    ts = await idea_ts(slack)
    slack.fake.fail_next("chat.update", status=200, error="message_not_found")
    assert await slack.react("white_check_mark", ts) == 200
    await slack.wait_for(lambda: bool(slack.fake.of("chat.update")))
    await slack.idle()
    assert (await get_idea(slack.runtime, 1)).status == "approved"
    async with slack.runtime.sessions() as session:
        assert await session.scalar(select(IdeaPostRow.message_id)) == f"gone:{ts}"
        assert await session.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.status != "sent")) == 0
    await slack.command("start KZ-1", user=MANAGER)  # another change: nothing is updated
    await slack.idle()
    assert (await get_idea(slack.runtime, 1)).status == "in_progress"
    assert len(slack.fake.of("chat.update")) == 1 and len(slack.idea_posts()) == 1


async def test_skin_tone_forms_normalise(slack: SlackDriver) -> None:
    await capture_one(slack)
    await slack.react("white_check_mark::skin-tone-2", await idea_ts(slack))
    await slack.wait_for(lambda: bool(slack.fake.of("chat.update")))
    assert (await get_idea(slack.runtime, 1)).status == "approved"


async def test_non_manager_reaction_only_adds_support(slack: SlackDriver) -> None:
    await capture_one(slack)
    await slack.react("white_check_mark", await idea_ts(slack), user="U_COLLEAGUE")
    await slack.wait_for(lambda: bool(slack.fake.of("chat.update")))
    await slack.idle()
    idea = await get_idea(slack.runtime, 1)
    assert (idea.status, idea.support) == ("submitted", 1)
    blocks = json.dumps(slack.fake.of("chat.update")[-1].params["blocks"])
    assert "*Support*\\n1" in blocks
    assert not [t for t in texts_to(slack, DM) if "approved" in t]


async def test_an_answer_sent_as_a_file_is_read_or_asked_again(slack: SlackDriver) -> None:
    """A file with a comment (subtype file_share) answers with its comment; a file alone is
    an empty answer, and the bot says so instead of staying silent."""
    photo = {"subtype": "file_share", "files": [{"id": "F1", "name": "jam.jpg"}]}
    await slack.dm("/kaizen")
    await slack.dm("", **photo)
    await slack.wait_for(lambda: any("can't be empty" in t for t in texts_to(slack, DM)))
    await slack.dm("Paper tray filled by hand", **photo)
    await slack.wait_for(lambda: any("Question 2 of 3" in t for t in texts_to(slack, DM)))


async def test_a_reaction_on_another_message_costs_nothing(slack: SlackDriver) -> None:
    """The bot hears reactions on every message in its channels: only one on an idea's post
    is a turn. Others store no person and spend no Web API call (not even users.info)."""
    await slack.react("white_check_mark", "1700000000.000100", user="U_COLLEAGUE")
    await slack.react("tada", "1700000000.000100", user="U_OTHER")
    await slack.idle()
    assert slack.fake.of("users.info") == []
    assert [c.method for c in slack.fake.calls
            if c.method not in {"auth.test", "bots.info"}] == []
    async with slack.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(PersonRow)) == 0


async def test_a_retried_event_is_a_no_op(slack: SlackDriver) -> None:
    await slack.command("")
    await slack.wait_for(lambda: any("Question 1" in t for t in texts_to(slack, DM)))
    retry = payload("slack_event_retry_headers")
    assert await slack.dm("by hand", event_id="Ev0PV52K21") == 200
    assert await slack.dm("by hand", event_id="Ev0PV52K21", headers=retry) == 200
    await slack.dm("slow", event_id="Ev0PV52K22")
    await slack.dm("slow", event_id="Ev0PV52K22", headers={**retry, "X-Slack-Retry-Num": "2"})
    await slack.dm("logging wrenches", event_id="Ev0PV52K23")
    await slack.dm("logging wrenches", event_id="Ev0PV52K23", headers=retry)
    await slack.wait_for(lambda: len(slack.idea_posts()) == 1)
    await slack.idle()
    [idea] = await all_ideas(slack.runtime)
    assert (idea.standard, idea.problem, idea.proposal) == ("by hand", "slow",
                                                            "logging wrenches")
    questions = [t for t in texts_to(slack, DM) if t.startswith("Question")]
    assert len(questions) == 3  # one per unique event, none for the retries
    assert len(slack.idea_posts()) == 1


async def test_a_retried_reaction_is_one_decision(slack: SlackDriver) -> None:
    await capture_one(slack)
    ts = await idea_ts(slack)
    await slack.react("+1", ts, event_id="Ev0PV52K25")
    await slack.react("+1", ts, event_id="Ev0PV52K25",
                      headers=payload("slack_event_retry_headers"))
    await slack.wait_for(lambda: bool(slack.fake.of("chat.update")))
    await slack.idle()
    assert len([t for t in texts_to(slack, DM) if "approved" in t]) == 1


async def test_bad_or_stale_signature_is_401_and_stores_nothing(slack: SlackDriver) -> None:
    envelope = payload("event_message_im")
    assert await slack.event(envelope, signed_with="not-the-secret") == 401
    body = json.dumps(envelope)
    stale = slack._headers(body, "application/json", timestamp=1531420618)
    response = await slack.client.post("/slack/events", data=body, headers=stale)
    assert response.status == 401
    async with slack.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEventRow)) == 0
    assert slack.fake.calls == []


@pytest.mark.parametrize("change", [
    {"X-Slack-Signature": "v0=\u00e9\u00e9"},  # non-ASCII
    {"X-Slack-Request-Timestamp": "soon"},
    {"X-Slack-Request-Timestamp": "\u0661\u0662"},  # digits, but not ASCII ones
    {"X-Slack-Signature": "v1=abcdef"},
])
async def test_malformed_signature_headers_are_401_not_500(slack: SlackDriver,
                                                           change: dict[str, str]) -> None:
    body = json.dumps(payload("event_message_im"))
    headers = {**slack._headers(body, "application/json"), **change}
    encoded = {k: v.encode().decode("latin-1") for k, v in headers.items()}
    response = await slack.client.post("/slack/events", data=body, headers=encoded)
    assert response.status == 401
    assert slack.fake.calls == []


async def test_mentions_in_answers_never_go_live(slack: SlackDriver) -> None:
    injection = payload("event_message_im_mention_injection")["event"]["text"]
    await slack.command("")
    await slack.dm(injection)
    await slack.dm("<@U123ABC456> it is slow <!here>")
    await slack.dm("<!everyone> use <https://example.com|the app> & <!subteam^SAZ94GDB8>")
    await slack.wait_for(lambda: len(slack.idea_posts()) == 1)
    await slack.react("+1", await idea_ts(slack))
    await slack.wait_for(lambda: bool(slack.fake.of("chat.update")))
    await slack.idle()
    [idea] = await all_ideas(slack.runtime)
    assert idea.standard.startswith("@channel @here please look, cc @")
    assert "<b> & more" in idea.standard
    outgoing = [c for c in slack.fake.calls if c.method.startswith("chat.")]
    assert len(outgoing) >= 5
    for call in outgoing:
        for token in LIVE_TOKENS:
            assert token not in call.dump, (call.method, token)
    post = json.dumps(slack.idea_posts()[0].params["blocks"])
    assert "@channel @here" in post and "&lt;b&gt; &amp; more" in post


async def test_the_bot_ignores_its_own_and_other_bots_messages(slack: SlackDriver) -> None:
    assert await slack.event(payload("event_message_im_from_bot")) == 200
    other_bot = payload("event_message_im")
    other_bot["event"].update(bot_id="B999", event_id="x")
    other_bot["event_id"] = "EvOtherBot"
    assert await slack.event(other_bot) == 200
    edited = payload("event_message_im")
    edited["event_id"] = "EvEdit"
    edited["event"]["subtype"] = "message_changed"
    assert await slack.event(edited) == 200
    async with slack.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEventRow)) == 0
    assert [c for c in slack.fake.calls if c.method.startswith("chat.")] == []


async def test_a_429_from_the_web_api_is_retried(slack: SlackDriver) -> None:
    slack.fake.fail_next("chat.postMessage", status=429, times=2, retry_after="0")
    await slack.command("standard: a; problem: b; proposal: c")
    await slack.wait_for(lambda: len(slack.idea_posts()) >= 1)
    await slack.idle()
    assert len(slack.idea_posts()) == 1
    async with slack.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(IdeaPostRow)) == 1


async def test_a_failing_post_is_kept_and_delivered_later(slack: SlackDriver) -> None:
    """Past the client's own retries the outbox keeps it; the idea is saved regardless."""
    slack.fake.fail_next("chat.postMessage", status=500, times=6, error="internal_error")
    await slack.command("standard: a; problem: b; proposal: c")
    [idea] = await all_ideas(slack.runtime)  # saved before anything was posted
    assert idea.key == "KZ-1"
    await slack.wait_for(lambda: len(slack.idea_posts()) == 1, timeout=15)
    failed = [c for c in slack.fake.calls if c.method == "chat.postMessage" and c.status == 500]
    assert len(failed) == 6  # 3 tries by the client for each of the 2 messages, then backoff
    await slack.wait_for(lambda: any("saved as KZ-1" in t for t in texts_to(slack, DM)))
    await slack.idle()
    async with slack.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(IdeaPostRow)) == 1


async def test_a_hanging_web_api_times_out_and_the_post_is_retried(
        database_url: str, fake_slack: FakeSlack) -> None:
    """Slack hangs on the first two posts: each call gives up after the configured timeout,
    the outbox retries with backoff, the idea was saved first and everything arrives once."""
    runtime = Runtime.create(slack_settings(database_url, fake_slack.url,
                                            platform_timeout_seconds=0.3))
    fake_slack.stall_next("chat.postMessage", seconds=5, times=2)
    async with TestClient(TestServer(build_app(runtime))) as client:
        slack = SlackDriver(client, fake_slack, runtime)
        started = time.monotonic()
        await slack.command("standard: a; problem: b; proposal: c")
        [idea] = await all_ideas(runtime)  # saved before anything was posted
        assert idea.key == "KZ-1"
        await slack.wait_for(lambda: len(slack.idea_posts()) == 1, timeout=15)
        await slack.wait_for(lambda: any("saved as KZ-1" in t for t in texts_to(slack, DM)))
        await slack.idle()
        stalled = [c for c in fake_slack.calls if c.method == "chat.postMessage" and not c.status]
        assert len(stalled) == 2
        assert len(slack.idea_posts()) == 1  # delivered once, not once per attempt
        assert time.monotonic() - started < 10  # the 5 s hangs were not waited out
        async with runtime.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(IdeaPostRow)) == 1
            errors = list(await session.scalars(select(OutboxRow.last_error)
                                                .where(OutboxRow.last_error.is_not(None))))
        assert errors and all("Timeout" in error for error in errors)
    await runtime.close()


async def test_manager_commands_by_slash_command(slack: SlackDriver) -> None:
    await capture_one(slack)
    ack = await slack.command("approve KZ-1", user=MANAGER)
    assert "KZ-1 is now approved" in ack["text"]
    ack = await slack.command("reject KZ-1 <!channel> too costly", user=MANAGER)
    assert "KZ-1 is now rejected" in ack["text"]
    await slack.wait_for(lambda: len([t for t in texts_to(slack, DM) if "rejected" in t]) == 1)
    await slack.idle()
    idea = await get_idea(slack.runtime, 1)
    assert idea.decision_reason == "@channel too costly"
    assert "<!channel>" not in slack.fake.of("chat.update")[-1].dump
    refused = await slack.command("approve KZ-1", user="U_COLLEAGUE")
    assert "only managers and admins" in refused["text"]


async def test_ideas_here_moves_the_ideas_channel(slack: SlackDriver) -> None:
    ack = await slack.command("ideas here", user=MANAGER, channel="C_NEWIDEAS")
    assert "posted in this channel" in ack["text"]
    refused = await slack.command("ideas here", channel="C_OTHER")
    assert "only managers and admins" in refused["text"]
    await slack.command("standard: a; problem: b; proposal: c")
    await slack.wait_for(lambda: len(slack.posts_to("C_NEWIDEAS")) == 1)
    assert slack.idea_posts() == []


async def test_help_and_mine_answer_in_the_slash_response(slack: SlackDriver) -> None:
    ack = await slack.command("help")
    assert "/kaizen mine" in ack["text"]
    assert ack.get("response_type", "ephemeral") == "ephemeral"
    assert any(block["type"] == "section" for block in ack["blocks"])


async def test_url_verification_and_unknown_dm_get_answers(slack: SlackDriver) -> None:
    response = await slack.client.post(
        "/slack/events", data=json.dumps(payload("url_verification")),
        headers=slack._headers(json.dumps(payload("url_verification")), "application/json"))
    assert response.status == 200
    assert (await response.json())["challenge"] == payload("url_verification")["challenge"]
    await slack.dm("hello there")
    await slack.wait_for(lambda: any("isn't part of an idea" in t for t in texts_to(slack, DM)))


async def test_app_mention_in_a_channel_continues_in_the_dm(slack: SlackDriver) -> None:
    mention = payload("event_app_mention")
    assert await slack.event(mention) == 200
    await slack.wait_for(lambda: any("Question 1 of 3" in t for t in texts_to(slack, DM)))
    async with slack.runtime.unit_of_work() as uow:
        from bot.events import UserRef

        stored = await uow.drafts.load(UserRef("slack", "T0001", AUTHOR), None)  # type: ignore[arg-type]
    assert stored.draft is not None
    assert stored.draft.answers == {"problem": "Reduce changeover time on line 3"}


async def test_a_post_and_its_update_in_one_delivery_round_make_one_post(
    slack: SlackDriver,
) -> None:
    """The post's ts is recorded with the round's closing transaction; an update of the same
    idea later in that round must still find it (one post, then an update, never two posts)."""
    deliverer = slack.client.app[SLACK].deliverer
    await deliverer.stop()
    await slack.command("standard: by hand; problem: slow; proposal: log torque")
    await slack.command("approve KZ-1", user=MANAGER)
    await deliverer.run_once()
    assert len(slack.idea_posts()) == 1
    [update] = slack.fake.of("chat.update")
    assert update.params["ts"] == await idea_ts(slack)  # the ts the post was given
    assert "approved" in json.dumps(update.params["blocks"]).lower()
