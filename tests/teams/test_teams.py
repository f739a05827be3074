"""Teams end to end: real CloudAdapter over HTTP (local mode), a fake Bot Connector."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import IdeaPostRow
from tests.conftest import all_ideas, get_idea
from tests.teams_harness import (
    CHANNEL,
    MEGAN,
    PERSONAL,
    TEAMS_MANAGER,
    TeamsDriver,
)


async def set_ideas_channel(teams: TeamsDriver) -> None:
    assert await teams.channel("ideas here", user=TEAMS_MANAGER) == 201
    await teams.wait_for(lambda: any("posted in this channel" in s.text
                                     for s in teams.fake.to(CHANNEL)))


async def test_personal_chat_capture_end_to_end(teams: TeamsDriver) -> None:
    await set_ideas_channel(teams)
    assert await teams.personal("kaizen") == 201
    await teams.wait_for(lambda: any("Question 1 of 3" in t for t in teams.texts()))
    await teams.personal("Torque is checked by hand")
    await teams.wait_for(lambda: any("Question 2 of 3" in t for t in teams.texts()))
    await teams.personal("It takes 4 minutes per unit")
    await teams.wait_for(lambda: any("Question 3 of 3" in t for t in teams.texts()))
    await teams.personal("Click-type wrenches")
    await teams.wait_for(lambda: any("saved as KZ-1" in t for t in teams.texts()))
    await teams.wait_for(lambda: len(teams.cards()) == 1)
    await teams.idle()
    [idea] = await all_ideas(teams.runtime)
    assert (idea.standard, idea.author_name) == ("Torque is checked by hand", "Megan Bowen")
    card = teams.cards()[0].card
    assert card["version"] == "1.5"
    assert "KZ-1" in str(card) and "Click-type wrenches" in str(card)
    async with teams.runtime.sessions() as session:
        post = (await session.execute(select(IdeaPostRow))).scalar_one()
    assert (post.platform, post.channel) == ("teams", CHANNEL)
    assert all(s.activity.get("textFormat") == "xml" for s in teams.fake.to(PERSONAL))


async def idea_activity_id(teams: TeamsDriver) -> str:
    await teams.idle()
    async with teams.runtime.sessions() as session:
        post = (await session.execute(select(IdeaPostRow))).scalar_one()
    return post.message_id


async def capture_in_channel(teams: TeamsDriver) -> str:
    """One-shot capture by a channel mention; returns the idea card's activity id."""
    await set_ideas_channel(teams)
    await teams.personal("hello")  # Megan's personal chat exists: notifications can reach her
    status = await teams.channel(
        "kaizen standard: checked by hand; problem: 4 minutes per unit; proposal: click wrenches")
    assert status == 201
    await teams.wait_for(lambda: len(teams.cards()) == 1)
    return await idea_activity_id(teams)


async def test_channel_mention_captures_in_one_shot(teams: TeamsDriver) -> None:
    await capture_in_channel(teams)
    [idea] = await all_ideas(teams.runtime)
    assert (idea.standard, idea.problem, idea.proposal) == (
        "checked by hand", "4 minutes per unit", "click wrenches")
    thread_replies = [s for s in teams.fake.to(CHANNEL) if "saved as KZ-1" in s.text]
    assert thread_replies and thread_replies[0].conversation_id.endswith(";messageid=1481567603816")


async def test_mention_without_all_labels_replies_with_a_form_and_the_submit_captures(
    teams: TeamsDriver,
) -> None:
    await set_ideas_channel(teams)
    await teams.channel("KAIZEN   Reduce changeover time on line 3", id="form-request")
    await teams.channel("KAIZEN   Reduce changeover time on line 3", id="form-request")  # retry
    await teams.wait_for(lambda: any(s.card and "Share a kaizen idea" in str(s.card)
                                     for s in teams.fake.to(CHANNEL)))
    await teams.idle()
    forms = [s for s in teams.fake.to(CHANNEL) if s.card and "Input.Text" in str(s.card)]
    assert len(forms) == 1
    inputs = {i["id"]: i.get("value") for i in forms[0].card["body"] if i["type"] == "Input.Text"}
    assert inputs["problem"] == "Reduce changeover time on line 3"

    incomplete = {"kaizen": "capture", "standard": "", "problem": "changeover", "proposal": ""}
    await teams.submit(incomplete)
    await teams.wait_for(lambda: len([s for s in teams.fake.to(CHANNEL)
                                      if s.card and "Input.Text" in str(s.card)]) == 2)
    assert await all_ideas(teams.runtime) == []

    complete = {"kaizen": "capture", "standard": "Changeover by hand",
                "problem": "problem: 40 minutes", "proposal": "SMED: prepare dies offline",
                "area": "Operations", "process": "Die changeover"}
    await teams.submit(complete, id="submit-1", replyToId="form-message-1")
    await teams.submit(complete, id="submit-1", replyToId="form-message-1")  # delivered twice
    await teams.wait_for(lambda: len(teams.cards()) >= 3)
    await teams.idle()
    # The sent form is replaced by what became of it: it cannot be sent a second time.
    replaced = [s for s in teams.fake.ok() if s.method == "PUT"
                and s.activity_id == "form-message-1"]
    assert len(replaced) == 1 and "This form was sent: the idea is KZ-1." in replaced[0].text
    assert not replaced[0].card
    [idea] = await all_ideas(teams.runtime)
    assert (idea.problem, idea.area, idea.process) == ("problem: 40 minutes", "operations",
                                                       "Die changeover")


async def test_manager_like_approves_and_the_author_is_told_privately(
    teams: TeamsDriver,
) -> None:
    card_id = await capture_in_channel(teams)
    assert await teams.react("like", card_id) == 201
    await teams.wait_for(lambda: any("approved by" in t for t in teams.texts()))
    await teams.wait_for(lambda: any(s.method == "PUT" for s in teams.fake.ok()))
    await teams.idle()
    assert (await get_idea(teams.runtime, 1)).status == "approved"
    update = [s for s in teams.fake.ok() if s.method == "PUT"][-1]
    assert update.activity_id == card_id and "approved" in str(update.card)
    notes = [s for s in teams.fake.to(PERSONAL) if "approved by" in s.text]
    assert len(notes) == 1


async def test_non_manager_reaction_is_support_only(teams: TeamsDriver) -> None:
    card_id = await capture_in_channel(teams)
    await teams.react("like", card_id, user="29:colleague")
    await teams.wait_for(lambda: any(s.method == "PUT" for s in teams.fake.ok()))
    await teams.idle()
    idea = await get_idea(teams.runtime, 1)
    assert (idea.status, idea.support) == ("submitted", 1)
    assert not any("approved" in t for t in teams.texts())


async def test_card_buttons_decide_for_managers_and_refuse_others(teams: TeamsDriver) -> None:
    await capture_in_channel(teams)
    assert await teams.submit({"kaizen": "approve", "idea_id": 1}, user=MEGAN) == 201
    await teams.wait_for(lambda: any("only managers and admins" in t for t in teams.texts()))
    assert (await get_idea(teams.runtime, 1)).status == "submitted"
    await teams.submit({"kaizen": "reject", "idea_id": 1, "reason": "not this year"},
                       user=TEAMS_MANAGER)
    await teams.wait_for(lambda: any("rejected it" in t for t in teams.texts()))
    idea = await get_idea(teams.runtime, 1)
    assert (idea.status, idea.decision_reason) == ("rejected", "not this year")
    # A card that lost its idea id (or a forged one) asks which idea, it is never silent.
    await teams.submit({"kaizen": "approve", "idea_id": "KZ-x"}, user=TEAMS_MANAGER)
    await teams.wait_for(lambda: any("Which idea?" in t for t in teams.texts(CHANNEL)))


async def test_a_duplicate_activity_id_is_a_no_op(teams: TeamsDriver) -> None:
    await teams.personal("kaizen", id="dup-1")
    await teams.personal("kaizen", id="dup-1")
    await teams.personal("by hand", id="dup-2")
    await teams.personal("by hand", id="dup-2")
    await teams.wait_for(lambda: any("Question 2 of 3" in t for t in teams.texts()))
    await teams.idle()
    questions = [t for t in teams.texts() if t.startswith("Question")]
    assert len(questions) == 2


async def test_a_403_disables_the_target_without_breaking_anything(teams: TeamsDriver) -> None:
    await teams.personal("hello")
    await teams.idle()
    teams.fake.fail_next(403)
    await teams.personal("/kaizen mine")
    await teams.wait_for(lambda: any(s.status == 403 for s in teams.fake.sent))
    await teams.idle()
    async with teams.runtime.unit_of_work() as uow:
        ref = await uow.conversation_refs.get("teams", "72f988bf-86f1-41af-91ab-2d7cd011db47",
                                              "personal", MEGAN)
        counts = await uow.outbox.counts("teams")
    assert ref is not None
    assert counts.get("failed") == 1
    # The server is fine and the person can talk again (which re-enables the chat).
    assert await teams.personal("/kaizen help") == 201
    await teams.wait_for(lambda: any("/kaizen mine" in t for t in teams.texts()))


async def test_a_429_is_retried_after_retry_after(teams: TeamsDriver) -> None:
    teams.fake.fail_next(429, times=1, retry_after="0")
    await teams.personal("/kaizen help")
    await teams.wait_for(lambda: any("/kaizen mine" in t for t in teams.texts()), timeout=10)
    assert [s.status for s in teams.fake.sent][:1] == [429]


async def test_notifications_wait_for_a_personal_chat(teams: TeamsDriver) -> None:
    """The author never talked to the bot in private: the notice is kept, then delivered."""
    await set_ideas_channel(teams)
    await teams.channel("kaizen standard: a; problem: b; proposal: c", user="29:newcomer")
    await teams.wait_for(lambda: len(teams.cards()) == 1)
    card_id = await idea_activity_id(teams)
    await teams.react("like", card_id)
    await teams.wait_for(lambda: any(s.method == "PUT" for s in teams.fake.ok()))
    await teams.idle()
    assert not [s for s in teams.fake.ok() if "approved by" in s.text]
    await teams.personal("hi", user="29:newcomer", name="Newcomer")
    await teams.wait_for(lambda: any("approved by" in s.text for s in teams.fake.ok()))


async def test_bad_requests_are_refused_with_4xx(teams: TeamsDriver) -> None:
    assert await teams.post({}, raw="{not json") == 400
    assert await teams.post({}, raw="[1, 2]") == 400
    assert await teams.post({"text": "no type"}) == 400
    response = await teams.client.post("/api/messages", data="x",
                                       headers={"Content-Type": "text/plain"})
    assert response.status == 415


async def test_installation_stores_the_channel_reference(teams: TeamsDriver) -> None:
    assert await teams.post(teams._activity("conversation_update_activity")) in {200, 201}
    assert await teams.post(teams._activity("installation_update_activity")) in {200, 201}
    async with teams.runtime.unit_of_work() as uow:
        found = await uow.conversation_refs.get("teams", "72f988bf-86f1-41af-91ab-2d7cd011db47",
                                                "channel", CHANNEL)
    assert found is not None and found[0]["conversation"]["id"] == CHANNEL
    assert found[0]["serviceUrl"] == teams.fake.url


async def test_a_private_draft_stays_in_the_personal_chat(teams: TeamsDriver) -> None:
    await teams.personal("kaizen")
    await teams.personal("Claims are signed by hand in secret room 4")
    await teams.wait_for(lambda: any("Question 2 of 3" in t for t in teams.texts()))
    assert await teams.channel("kaizen back") == 201
    await teams.wait_for(lambda: any("secret room 4" in t for t in teams.texts()[2:]))
    await teams.idle()
    assert not any("secret room 4" in s.text for s in teams.fake.to(CHANNEL))


async def test_ideas_shared_before_the_channel_was_chosen_are_posted_then(
        teams: TeamsDriver) -> None:
    await teams.personal("kaizen standard: by hand; problem: slow; proposal: a jig")
    await teams.personal("kaizen standard: paper; problem: lost; proposal: scan it",
                         id="second")
    await teams.wait_for(lambda: any("saved as KZ-2" in t for t in teams.texts()))
    await teams.idle()
    assert teams.cards() == []  # nowhere to post them yet
    assert await teams.channel("ideas here", user=TEAMS_MANAGER) == 201
    await teams.wait_for(lambda: len(teams.cards()) == 2)
    assert any("posting the 2 open ideas shared before" in s.text
               for s in teams.fake.to(CHANNEL))
    await teams.idle()
    async with teams.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(IdeaPostRow)) == 2


async def test_a_submit_naming_an_idea_card_never_replaces_it(teams: TeamsDriver) -> None:
    """Only the form a submit came from is replaced: a crafted submit naming an idea's card
    saves its idea and leaves that card alone."""
    card_id = await capture_in_channel(teams)
    await teams.idle()
    complete = {"kaizen": "capture", "standard": "a", "problem": "b", "proposal": "c"}
    await teams.submit(complete, id="crafted", replyToId=card_id)
    await teams.wait_for(lambda: len(teams.cards()) == 2)  # KZ-2 posted
    await teams.idle()
    assert len(await all_ideas(teams.runtime)) == 2
    assert not any("This form was sent" in s.text for s in teams.fake.ok())
