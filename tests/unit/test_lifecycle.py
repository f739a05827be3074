"""Idea lifecycle, roles and closing the loop, through the real service and storage."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from sqlalchemy import update

from adapters.host.runtime import Runtime
from bot.lifecycle import Status
from bot.replies import TurnResult
from storage.models import IdeaRow
from tests.conftest import ADMIN, MANAGER, Chat, Clock, get_idea, history, reply_text

AUTHOR = "U2147483697"
MEMBER = "U_BOB"

# The specification, written out independently of bot/lifecycle.py: (from, action) → to.
ALLOWED: dict[tuple[str, str], str] = {
    ("submitted", "approve"): "approved",
    ("submitted", "reject"): "rejected",
    ("submitted", "duplicate"): "duplicate",
    ("approved", "start"): "in_progress",
    ("approved", "implemented"): "implemented",
    ("approved", "reject"): "rejected",
    ("in_progress", "implemented"): "implemented",
    ("submitted", "withdraw"): "withdrawn",
    ("approved", "withdraw"): "withdrawn",
    ("in_progress", "withdraw"): "withdrawn",
}
DECIDER_ACTIONS = {"approve", "reject", "duplicate", "start", "implemented"}
ACTORS = {"member": MEMBER, "author": AUTHOR, "manager": MANAGER, "admin": ADMIN}


def may(actor: str, action: str) -> bool:
    if action == "withdraw":
        return actor == "author"
    return actor in {"manager", "admin"}


def command(action: str, key: str) -> str:
    return {
        "reject": f"/kaizen reject {key} not this quarter",
        "duplicate": f"/kaizen duplicate {key} KZ-1",
        "implemented": f"/kaizen implemented {key}",
    }.get(action, f"/kaizen {action} {key}")


async def force_status(runtime: Runtime, idea_id: int, status: str) -> None:
    async with runtime.sessions() as session:
        await session.execute(update(IdeaRow).where(IdeaRow.id == idea_id).values(status=status))
        await session.commit()


async def test_every_transition_for_every_role(
    make_chat: Callable[[str], Chat], runtime: Runtime, clock: Clock
) -> None:
    author = make_chat(AUTHOR)
    chats = {name: make_chat(user_id) for name, user_id in ACTORS.items()}
    await author.say("/kaizen process: Base; standard: s; problem: p; proposal: the original")
    checked = 0
    for status, action, actor in itertools.product(
        [s.value for s in Status], ["approve", "reject", "duplicate", "start", "implemented",
                                    "withdraw"], ACTORS,
    ):
        clock.advance(minutes=5)  # 168 ideas from one author: stay under the hourly limit
        saved = await author.say("/kaizen process: P; standard: s; problem: p; proposal: x")
        idea_id = int(saved.replies[-1].text.split("saved as KZ-")[1].split()[0])
        await force_status(runtime, idea_id, status)
        result = await chats[actor].say(command(action, f"KZ-{idea_id}"))
        after = (await get_idea(runtime, idea_id)).status
        expected = ALLOWED.get((status, action)) if may(actor, action) else None
        case = f"{actor} {action} from {status}"
        if expected is None:
            assert after == status, case
            assert result.notifications == [], case
            assert "Sorry" in reply_text(result) or "can't be" in reply_text(result), case
        else:
            assert after == expected, case
            [note] = result.notifications
            assert note.to.user_id == AUTHOR, case
            fields = dict(note.reply.fields)
            assert fields["Decided by"] == ACTORS[actor].lower(), case
            assert fields["Status"] == expected.replace("_", " "), case
            if action in {"reject", "duplicate"}:
                assert fields["Reason"] in {"not this quarter", "duplicate of KZ-1"}, case
        checked += 1
    assert checked == 7 * 6 * 4


async def test_refusals_say_who_may(make_chat: Callable[[str], Chat]) -> None:
    author, member = make_chat(AUTHOR), make_chat(MEMBER)
    await author.say("/kaizen standard: s; problem: p; proposal: x")
    assert "only managers and admins can approve" in await member.text("/kaizen approve KZ-1")
    assert "only the idea's author can withdraw" in await member.text("/kaizen withdraw KZ-1")
    assert "only its author can edit" in await member.text("/kaizen edit KZ-1 proposal: y")
    assert "can't find an idea KZ-99" in await member.text("/kaizen approve KZ-99")
    assert "Which idea?" in await member.text("/kaizen approve")


async def test_reject_needs_a_reason(make_chat: Callable[[str], Chat], runtime: Runtime) -> None:
    await make_chat(AUTHOR).say("/kaizen standard: s; problem: p; proposal: x")
    assert "Please give a reason" in await make_chat(MANAGER).text("/kaizen reject KZ-1")
    assert (await get_idea(runtime, 1)).status == "submitted"


async def test_author_edits_while_submitted_only(
    make_chat: Callable[[str], Chat], runtime: Runtime
) -> None:
    author, manager = make_chat(AUTHOR), make_chat(MANAGER)
    await author.say("/kaizen standard: s; problem: p; proposal: x")
    assert "updated: proposal" in await author.text("/kaizen edit KZ-1 proposal: better x")
    assert "limit is 2,000" in await author.text(f"/kaizen edit KZ-1 problem: {'z' * 2001}")
    assert (await get_idea(runtime, 1)).proposal == "better x"
    await manager.say("/kaizen approve KZ-1")
    assert "only be edited while" in await author.text("/kaizen edit KZ-1 proposal: y")
    assert (await get_idea(runtime, 1)).proposal == "better x"
    assert [e.action for e in await history(runtime, 1)] == ["submit", "edit", "approve"]


# --- reactions ---------------------------------------------------------------------------------


async def test_member_reaction_is_support_and_manager_reaction_approves(
    make_chat: Callable[[str], Chat], runtime: Runtime
) -> None:
    author, member, manager = make_chat(AUTHOR), make_chat(MEMBER), make_chat(MANAGER)
    await author.say("/kaizen standard: s; problem: p; proposal: x")

    supported = await member.react(1, "white_check_mark")
    assert supported.notifications == [] and supported.changed_ideas == [1]
    await member.react(1, "tada")  # a second reaction from the same person: still one
    idea = await get_idea(runtime, 1)
    assert (idea.status, idea.support) == ("submitted", 1)

    approved = await manager.react(1, "white_check_mark")
    [note] = approved.notifications
    assert note.to.user_id == AUTHOR and "approved by" in note.reply.text
    idea = await get_idea(runtime, 1)
    assert (idea.status, idea.support, idea.decided_by) == ("approved", 1, MANAGER.lower())

    again = await manager.react(1, "white_check_mark")  # the same reaction twice
    assert again.replies == [] and again.notifications == []

    reverted = await manager.react(1, "white_check_mark", added=False)
    [note] = reverted.notifications
    assert "taken back" in note.reply.text
    idea = await get_idea(runtime, 1)
    assert (idea.status, idea.decided_by) == ("submitted", None)
    actions = [(e.action, e.result) for e in await history(runtime, 1)]
    assert actions == [("submit", "applied"), ("support", "applied"), ("support", "applied"),
                       ("approve", "applied"), ("unapprove", "applied")]


async def test_removing_the_reaction_after_a_later_transition_changes_nothing(
    make_chat: Callable[[str], Chat], runtime: Runtime
) -> None:
    author, manager = make_chat(AUTHOR), make_chat(MANAGER)
    await author.say("/kaizen standard: s; problem: p; proposal: x")
    await manager.react(1, "+1")
    await manager.say("/kaizen start KZ-1")
    result = await manager.react(1, "+1", added=False)
    assert result.notifications == []
    assert (await get_idea(runtime, 1)).status == "in_progress"


async def test_manager_reject_reaction_rejects_with_a_reason(
    make_chat: Callable[[str], Chat], runtime: Runtime
) -> None:
    await make_chat(AUTHOR).say("/kaizen standard: s; problem: p; proposal: x")
    result = await make_chat(ADMIN).react(1, "x")
    [note] = result.notifications
    assert dict(note.reply.fields)["Reason"] == "rejected by reaction"
    idea = await get_idea(runtime, 1)
    assert (idea.status, idea.decision_reason) == ("rejected", "rejected by reaction")


async def test_same_reaction_event_delivered_twice_is_one_decision(
    make_chat: Callable[[str], Chat], runtime: Runtime
) -> None:
    await make_chat(AUTHOR).say("/kaizen standard: s; problem: p; proposal: x")
    manager = make_chat(MANAGER)
    first = await manager.react(1, "white_check_mark", event_id="Ev-react")
    retry = await manager.react(1, "white_check_mark", event_id="Ev-react")
    assert len(first.notifications) == 1 and retry.duplicate and retry.notifications == []
    assert [e.action for e in await history(runtime, 1)] == ["submit", "approve"]


# --- living standards --------------------------------------------------------------------------


async def test_implementing_an_idea_revises_its_process_standard(
    make_chat: Callable[[str], Chat], runtime: Runtime
) -> None:
    author, manager = make_chat(AUTHOR), make_chat(MANAGER)
    saved = await author.text("/kaizen process: Expense claims; standard: paper forms; "
                              "problem: slow; proposal: use the app")
    assert "version 1 of “Expense claims”" in saved
    await author.say("/kaizen process: expense CLAIMS; standard: paper forms; problem: lost; "
                     "proposal: scan at once")
    await manager.say("/kaizen approve KZ-1")
    done = await manager.say("/kaizen implemented KZ-1")
    [note] = done.notifications
    assert "now the standard for “Expense claims” (version 2)" in note.reply.text
    await manager.say("/kaizen approve KZ-2")
    await manager.say("/kaizen implemented KZ-2 Scan receipts in the app the same day")

    shown = await author.text("/kaizen standard expense claims")
    assert "version 3, improved by 2 kaizen(s)" in shown
    assert "Current: Scan receipts in the app the same day" in shown
    for line in ("v1 · ", "paper forms", "v2 · ", "use the app", "v3 · ", "from KZ-2"):
        assert line in shown
    async with runtime.unit_of_work() as uow:
        process = await uow.standards.find("slack", "T0001", "Expense Claims")
        versions = await uow.standards.versions(process.id)
    assert [(v.version, v.idea_id) for v in versions] == [(1, 1), (2, 1), (3, 2)]
    assert "Expense claims" in await author.text("/kaizen standards")


async def test_implementing_without_a_process_asks_for_one(
    make_chat: Callable[[str], Chat], runtime: Runtime
) -> None:
    await make_chat(AUTHOR).say("/kaizen standard: s; problem: p; proposal: x")
    manager = make_chat(MANAGER)
    await manager.say("/kaizen approve KZ-1")
    assert "isn't linked to a process" in await manager.text("/kaizen implemented KZ-1")
    assert (await get_idea(runtime, 1)).status == "approved"
    reply = await manager.text("/kaizen implemented KZ-1 process: Onboarding; standard: Buddy")
    assert "version 2" in reply  # version 1 is the idea's captured standard
    idea = await get_idea(runtime, 1)
    assert (idea.status, idea.process) == ("implemented", "Onboarding")


async def test_unknown_standard_lists_known_ones(make_chat: Callable[[str], Chat]) -> None:
    author = make_chat(AUTHOR)
    assert "No process has a standard yet" in await author.text("/kaizen standards")
    await author.say("/kaizen process: Hiring; standard: s; problem: p; proposal: x")
    assert "Known processes: Hiring" in await author.text("/kaizen standard payroll")


# --- roles -------------------------------------------------------------------------------------


async def test_admins_grant_and_revoke_managers(
    make_chat: Callable[[str], Chat], runtime: Runtime
) -> None:
    admin, member, author = make_chat(ADMIN), make_chat(MEMBER), make_chat(AUTHOR)
    await author.say("/kaizen standard: s; problem: p; proposal: x")
    assert "only admins can add" in await member.text("/kaizen managers add <@U_BOB>")
    granted: TurnResult = await admin.say("/kaizen managers add <@U_BOB|bob>")
    assert "is now a manager" in reply_text(granted)
    assert granted.notifications[0].to.user_id == "U_BOB"
    listing = await member.text("/kaizen managers")
    assert "u_bob (manager)" in listing and f"{MANAGER} (manager, from configuration)" in listing
    assert "is now approved" in await member.text("/kaizen approve KZ-1")
    assert "through KAIZEN_MANAGERS" in await admin.text(f"/kaizen managers remove <@{MANAGER}>")
    assert "no longer a manager" in await admin.text("/kaizen managers remove @U_BOB")
    assert "only managers and admins" in await member.text("/kaizen start KZ-1")
    async with runtime.unit_of_work() as uow:
        audit = [e for e in await uow.idea_events.all() if e.idea_id is None]
    assert [(e.action, e.from_status, e.to_status, e.subject) for e in audit] == [
        ("grant_manager", "member", "manager", "u_bob"),
        ("revoke_manager", "manager", "member", "u_bob"),
    ]


@pytest.mark.parametrize("text", ["/kaizen managers promote x", "/kaizen managers add"])
async def test_managers_usage_errors(make_chat: Callable[[str], Chat], text: str) -> None:
    reply = await make_chat(ADMIN).text(text)
    assert "/kaizen managers add @person" in reply


async def test_a_reject_reason_is_bounded_like_an_answer(
    make_chat: Callable[[str], Chat], runtime: Runtime
) -> None:
    await make_chat(AUTHOR).say("/kaizen standard: s; problem: p; proposal: x")
    manager = make_chat(MANAGER)
    assert "the limit is 2,000" in await manager.text("/kaizen reject KZ-1 " + "why " * 600)
    assert "control characters" in await manager.text("/kaizen reject KZ-1 no\x07way")
    assert (await get_idea(runtime, 1)).status == "submitted"
    assert "is now rejected" in await manager.text("/kaizen reject KZ-1 not now")


async def test_decision_notes_and_process_names_are_checked_before_storing(
    make_chat: Callable[[str], Chat], runtime: Runtime
) -> None:
    """Notes reach the author and the audit trail; a NUL or 19,000 characters must not (on
    PostgreSQL they failed the turn and were reported as the database being busy)."""
    author, manager = make_chat(AUTHOR), make_chat(MANAGER)
    await author.say("/kaizen standard: s; problem: p; proposal: x")
    assert "note is 19,000 characters" in await author.text(
        "/kaizen withdraw KZ-1 " + "n" * 19_000)
    assert "control characters" in await manager.text("/kaizen approve KZ-1 ok\x00")
    assert (await get_idea(runtime, 1)).status == "submitted"
    assert "is now approved" in await manager.text("/kaizen approve KZ-1 good one")
    assert "up to 120 characters" in await manager.text(
        "/kaizen implemented KZ-1 process: " + "p" * 300)
    assert "up to 120 characters" in await manager.text(
        "/kaizen implemented KZ-1 process: a\x00b")
    assert (await get_idea(runtime, 1)).status == "approved"
    assert "(version 2)" in await manager.text("/kaizen implemented KZ-1 process: Claims")
