"""The deliverer on Teams: rows an earlier version queued, and which conversation a 403 turns
off (the person's own chat, or the channel the message went to)."""

from __future__ import annotations

from typing import Any

from adapters.host.server import TEAMS
from adapters.teams.cards import form_card
from bot.events import MessageEvent, Place, UserRef
from bot.model import ChannelConfig
from bot.replies import Reply, ReplyKind
from bot.service import utcnow
from bot.targets import Message, RefreshIdea, ToReference, ToUser
from tests.teams_harness import CHANNEL, MEGAN, TENANT, TeamsDriver


def channel_reference(teams: TeamsDriver) -> dict[str, Any]:
    return {"serviceUrl": teams.fake.url, "channelId": "msteams",
            "conversation": {"id": CHANNEL, "conversationType": "channel",
                             "tenantId": TENANT},
            "bot": {"id": "28:c9e8c047-2a74-40a2-b28a-b162d5f5327c"}}


async def deliver(teams: TeamsDriver) -> None:
    teams.client.app[TEAMS].deliverer.kick()
    await teams.idle()


async def ideas_channel_and_an_idea(teams: TeamsDriver) -> dict[str, Any]:
    """The ideas channel chosen (and the bot installed there), and KZ-1 saved with nothing
    queued; the channel's reference."""
    reference = channel_reference(teams)
    async with teams.runtime.unit_of_work() as uow:
        await uow.channels.set(ChannelConfig("teams", TENANT, "ideas", CHANNEL,
                                             {"reference": reference}), None, utcnow())
        await uow.conversation_refs.save("teams", TENANT, "channel", CHANNEL, reference,
                                         utcnow())
        await uow.commit()
    await teams.runtime.service.handle_message(MessageEvent(
        "evt-1", UserRef("teams", TENANT, MEGAN, "Megan"),
        "/kaizen standard: by hand; problem: slow; proposal: a jig", Place("a:1", True)))
    return reference


async def statuses(teams: TeamsDriver) -> dict[str, int]:
    async with teams.runtime.unit_of_work() as uow:
        return await uow.outbox.counts("teams")


async def test_a_form_card_queued_by_the_previous_version_is_still_sent(
        teams: TeamsDriver) -> None:
    """Before the form was a reply kind, a row held the whole card (kind ``card``)."""
    card = form_card({"problem": "changeover takes 40 minutes", "area": "ops"},
                     ["Please fill in the standard."])
    async with teams.runtime.unit_of_work() as uow:
        await uow.outbox.add("teams", TENANT, "card", {"ref": channel_reference(teams)},
                             {"card": card}, utcnow())
        await uow.commit()
    await deliver(teams)
    [sent] = teams.cards()
    assert sent.card is not None
    inputs = {i["id"]: i.get("value") for i in sent.card["body"] if i["type"] == "Input.Text"}
    assert inputs["problem"] == "changeover takes 40 minutes" and inputs["area"] == "ops"
    assert "Please fill in the standard." in str(sent.card)
    assert await statuses(teams) == {"sent": 1}


async def test_a_403_on_an_idea_post_turns_the_channel_off(teams: TeamsDriver) -> None:
    reference = await ideas_channel_and_an_idea(teams)
    teams.fake.fail_next(403)
    async with teams.runtime.unit_of_work() as uow:
        await uow.outbox.queue("teams", [RefreshIdea(TENANT, 1)], utcnow())
        await uow.commit()
    await deliver(teams)
    async with teams.runtime.unit_of_work() as uow:
        assert await uow.conversation_refs.get("teams", TENANT, "channel", CHANNEL) == (
            reference, True)
    assert await statuses(teams) == {"failed": 1}


async def test_a_403_on_the_fallback_turns_off_that_channel_not_the_person(
        teams: TeamsDriver) -> None:
    """A card button's answer goes to the clicker's own chat, or (without one) to the
    thread: a 403 there says the bot left the channel, not that the person blocked it."""
    reference = channel_reference(teams)
    async with teams.runtime.unit_of_work() as uow:
        await uow.conversation_refs.save("teams", TENANT, "channel", CHANNEL, reference,
                                         utcnow())
        await uow.commit()
    teams.fake.fail_next(403)
    async with teams.runtime.unit_of_work() as uow:
        await uow.outbox.queue("teams", [Message(
            TENANT, ToUser("29:no-chat-yet", fallback=ToReference(reference)),
            Reply("Sorry, only managers and admins can decide.", kind=ReplyKind.REFUSED))],
            utcnow())
        await uow.commit()
    await deliver(teams)
    async with teams.runtime.unit_of_work() as uow:
        assert await uow.conversation_refs.get("teams", TENANT, "channel", CHANNEL) == (
            reference, True)
        assert await uow.conversation_refs.get("teams", TENANT, "personal",
                                               "29:no-chat-yet") is None
    assert await statuses(teams) == {"failed": 1}


async def test_a_deleted_idea_card_is_gone_and_the_channel_stays_on(teams: TeamsDriver) -> None:
    """A 404 on updating the card means the message was deleted, not that the bot left."""
    reference = await ideas_channel_and_an_idea(teams)
    async with teams.runtime.unit_of_work() as uow:
        await uow.idea_posts.save(1, "teams", CHANNEL, "1700000000001", utcnow())
        await uow.commit()
    teams.fake.fail_next(404)
    async with teams.runtime.unit_of_work() as uow:
        await uow.outbox.queue("teams", [RefreshIdea(TENANT, 1), RefreshIdea(TENANT, 1)],
                               utcnow())
        await uow.commit()
    await deliver(teams)
    assert [s.status for s in teams.fake.sent] == [404]  # tried once; then known to be gone
    async with teams.runtime.unit_of_work() as uow:
        assert await uow.conversation_refs.get("teams", TENANT, "channel", CHANNEL) == (
            reference, False)
        _, post = await uow.ideas.get_with_post(1, "teams")
    assert post == (CHANNEL, "gone:1700000000001")
    assert await statuses(teams) == {"sent": 2}


async def test_outgoing_conversations_spell_tenant_id_as_the_schema_does(
        teams: TeamsDriver) -> None:
    """The Bot Framework schema says ``tenantId``; botbuilder wrote ``tenantID``. References
    stored that way before are still delivered, spelled right."""
    await teams.personal("/kaizen help")
    await teams.wait_for(lambda: bool(teams.fake.ok()))
    conversation = teams.fake.ok()[0].activity["conversation"]
    assert conversation.get("tenantId") == TENANT and "tenantID" not in conversation
    stored_before = {**channel_reference(teams),
                     "conversation": {"id": CHANNEL, "tenantID": TENANT}}
    async with teams.runtime.unit_of_work() as uow:
        await uow.outbox.queue("teams", [Message(TENANT, ToReference(stored_before),
                                                 Reply("hello"))], utcnow())
        await uow.commit()
    await deliver(teams)
    channel = [s.activity["conversation"] for s in teams.fake.to(CHANNEL)]
    assert channel == [{"id": CHANNEL, "tenantId": TENANT}]
