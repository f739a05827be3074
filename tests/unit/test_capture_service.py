"""Capture turns through the real service and real storage, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from adapters.host.runtime import Runtime
from bot.events import MessageEvent, Place
from bot.replies import ReplyKind
from bot.targets import Message, Route, ToReference, ToUser
from storage.models import ConversationRow, IdeaEventRow, ProcessedEventRow
from tests.conftest import Chat, Clock, all_ideas


async def test_three_answers_store_the_idea_exactly_as_typed(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/kaizen")
    await chat.say("Claims are printed & signed <by hand>")
    await chat.say("15 minutes per claim;\nscans get lost")
    reply = await chat.text("Approve in the app 🎉")
    [idea] = await all_ideas(runtime)
    assert (idea.standard, idea.problem, idea.proposal) == (
        "Claims are printed & signed <by hand>",
        "15 minutes per claim;\nscans get lost",
        "Approve in the app 🎉",
    )
    assert idea.status == "submitted"
    assert f"saved as {idea.key}" in reply


async def test_one_shot_with_all_labels_asks_nothing(chat: Chat, runtime: Runtime) -> None:
    result = await chat.say("/kaizen proposal: app; standard: paper; problem: slow #Finance")
    assert not [r for r in result.replies if r.kind == "question"]
    [idea] = await all_ideas(runtime)
    assert (idea.standard, idea.problem, idea.proposal, idea.area) == (
        "paper", "slow", "app", "finance"
    )


async def test_one_shot_with_two_labels_asks_only_the_missing_one(
    chat: Chat, runtime: Runtime
) -> None:
    result = await chat.say("/kaizen standard: paper\nproposal: app")
    questions = [r.text for r in result.replies if r.kind == "question"]
    assert len(questions) == 1 and "Problem" in questions[0]
    assert await all_ideas(runtime) == []
    await chat.say("slow")
    [idea] = await all_ideas(runtime)
    assert idea.problem == "slow"


async def test_back_cancel_and_validation_through_storage(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/kaizen")
    await chat.say("paper")
    assert "limit is 2,000" in await chat.text("x" * 2001)
    assert "can't be empty" in await chat.text(" ")
    assert "Your answer so far: paper" in await chat.text("back")
    await chat.say("paper forms")
    assert "Question 2 of 3" in await chat.text("help")
    await chat.say("slow")
    assert "nothing was saved" in await chat.text("cancel")
    assert await all_ideas(runtime) == []
    assert "isn't part of an idea" in await chat.text("more text")


async def test_validation_error_keeps_earlier_answers_in_the_database(
    chat: Chat, runtime: Runtime
) -> None:
    await chat.say("/kaizen")
    await chat.say("paper")
    await chat.say("slow")
    await chat.say("bad\x00answer")
    await chat.say("use the app")
    [idea] = await all_ideas(runtime)
    assert (idea.standard, idea.problem, idea.proposal) == ("paper", "slow", "use the app")


async def test_draft_expires_after_24_hours(chat: Chat, clock: Clock, runtime: Runtime) -> None:
    await chat.say("/kaizen")
    await chat.say("paper")
    clock.advance(hours=23)
    assert "Question 3 of 3" in await chat.text("slow")  # still alive: last touch 0 h ago
    clock.advance(hours=24, seconds=1)
    reply = await chat.text("use the app")
    assert "expired after 24 hours" in reply
    assert "Standard: paper" in reply and "Problem: slow" in reply
    assert await all_ideas(runtime) == []


async def test_same_event_id_twice_changes_state_once(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/kaizen", event_id="Ev1")
    first = await chat.say("paper", event_id="Ev2")
    retry = await chat.say("paper", event_id="Ev2")
    assert first.replies and not first.duplicate
    assert retry.duplicate and retry.replies == []
    await chat.say("slow", event_id="Ev3")
    await chat.say("app", event_id="Ev4")
    await chat.say("app", event_id="Ev4")
    ideas = await all_ideas(runtime)
    assert len(ideas) == 1 and ideas[0].standard == "paper" and ideas[0].problem == "slow"
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEventRow)) == 4
        version = await session.scalar(select(ConversationRow.version))
    assert version == 4  # start, standard, problem, done: the retries saved nothing


async def test_idea_history_starts_with_submission(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/kaizen standard: a; problem: b; proposal: c")
    async with runtime.sessions() as session:
        events = (await session.execute(select(IdeaEventRow))).scalars().all()
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("submit", None, "submitted")
    ]


async def test_default_area_applies_unless_tagged(
    make_chat: Callable[[str], Chat], runtime: Runtime
) -> None:
    ana = make_chat("U_ANA")
    assert "now finance" in await ana.text("/kaizen area Finance")
    assert "finance" in await ana.text("/kaizen area")
    await ana.say("/kaizen standard: a; problem: b; proposal: c")
    await ana.say("/kaizen standard: a; problem: b; proposal: c #sales")
    assert "can't be an area" in await ana.text("/kaizen area <!channel>")
    first, second = await all_ideas(runtime)
    assert (first.area, second.area) == ("finance", "sales")
    assert "cleared" in await ana.text("/kaizen area none")


async def test_mine_lists_my_ideas_newest_first(
    make_chat: Callable[[str], Chat], clock: Clock
) -> None:
    ana, bob = make_chat("U_ANA"), make_chat("U_BOB")
    assert "haven't shared an idea" in await ana.text("/kaizen mine")
    await ana.say("/kaizen standard: a; problem: b; proposal: first idea")
    clock.advance(minutes=1)
    await ana.say("/kaizen standard: a; problem: b; proposal: second idea")
    await bob.say("/kaizen standard: a; problem: b; proposal: bob's idea")
    mine = await ana.text("mine")  # a plain "mine" works when no draft is open
    assert mine.index("second idea") < mine.index("first idea")
    assert "bob's idea" not in mine and "submitted" in mine


async def test_mine_inside_a_draft_is_an_answer(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/kaizen")
    assert "Question 2 of 3" in await chat.text("mine")
    assert "Question 3 of 3" in await chat.text("kaizen is hard to do here")


async def test_help_lists_the_subcommands(chat: Chat) -> None:
    help_text = await chat.text("/kaizen help")
    for usage in ("/kaizen area NAME", "/kaizen mine", "problem:", "#area", "cancel"):
        assert usage in help_text


async def test_restart_while_a_draft_is_open(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/kaizen")
    await chat.say("old standard")
    result = await chat.say("/kaizen")
    assert [b.label for b in result.replies[0].buttons] == ["Continue", "Start over"]
    assert "Question 1 of 3" in await chat.text("start over")
    offered = await chat.say("/kaizen standard: new; problem: b")
    assert "already have an idea in progress" in offered.replies[0].text
    assert "Question 3 of 3" in await chat.text("start over")  # carries the one-shot text over
    await chat.say("new proposal")
    [idea] = await all_ideas(runtime)
    assert (idea.standard, idea.problem, idea.proposal) == ("new", "b", "new proposal")


async def test_overlong_message_is_refused_before_storage(chat: Chat, runtime: Runtime) -> None:
    reply = await chat.text("/kaizen " + "x" * 100_000)
    assert "too long" in reply
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEventRow)) == 0


async def test_a_mention_that_gets_the_form_leaves_the_persons_draft_alone(
        chat: Chat, runtime: Runtime, clock: Clock) -> None:
    """Where the front end can show a form (Teams), an incomplete capture gets the form,
    filled in with what was said (the #area too), and the person's own conversation is
    neither advanced nor expired, and nothing about it is said in the channel."""
    await chat.say("/kaizen")  # a draft waits in the person's DM for the standard
    clock.advance(hours=30)  # ... long enough to have expired
    result = await chat.service.handle_message(MessageEvent(
        "evt-mention", chat.user, "/kaizen the printer jams #Ops", Place("C1"),
        offers_form=True))
    [form] = result.replies
    assert form.kind == ReplyKind.FORM
    assert dict(form.fields) == {"problem": "the printer jams", "area": "ops"}
    async with runtime.sessions() as session:
        [row] = (await session.scalars(select(ConversationRow))).all()
    assert row.step == "standard"  # untouched: the DM still announces its expiry itself
    complete = await chat.service.handle_message(MessageEvent(
        "evt-mention-2", chat.user, "/kaizen standard: a; problem: b; proposal: c",
        Place("C1"), offers_form=True))
    assert "saved as KZ-1" in "\n".join(complete.texts)


async def test_a_private_draft_is_never_shown_in_a_channel(chat: Chat) -> None:
    """``back`` or a new capture said in a channel while a draft waits in the DM: the
    answers so far (or the continue / start-over choice) go to the person's own chat."""
    await chat.say("/kaizen")
    await chat.say("Claims are printed and signed by hand")  # the private draft's answer
    route = Route(ToReference({"conversation": {"id": "19:channel"}}),
                  private_to=ToUser(chat.user.user_id))
    for n, text in enumerate(["/kaizen back", "/kaizen the printer jams"]):
        result = await chat.service.handle_message(
            MessageEvent(f"evt-channel-{n}", chat.user, text, Place("C1")), route)
        assert result.private
        shown = [item for item in result.outbound if isinstance(item, Message)]
        assert shown and {item.to for item in shown} == {ToUser(chat.user.user_id)}
    # Without a draft, a capture said in a channel is answered there.
    await chat.say("cancel")
    result = await chat.service.handle_message(MessageEvent(
        "evt-channel-9", chat.user, "/kaizen standard: a; problem: b; proposal: c",
        Place("C1")), route)
    assert not result.private
    targets = [item.to for item in result.outbound if isinstance(item, Message)]
    assert targets and all(to == route.to for to in targets)


async def test_the_standard_answer_may_end_with_its_process(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/kaizen")
    await chat.say("Claims are printed and signed by hand. process: Expense claims")
    await chat.say("slow")
    await chat.say("an app")
    [idea] = await all_ideas(runtime)
    assert (idea.standard, idea.process) == ("Claims are printed and signed by hand.",
                                             "Expense claims")
