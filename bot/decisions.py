"""Deciding on ideas: lifecycle commands and reactions, through one compare-and-set path.

Every status change goes through :func:`change_status`: it asks :func:`bot.lifecycle.check`,
moves the status only if it is still what was checked (so two managers deciding at the same
moment cannot both win), writes the audit trail, and notifies the author.
"""

from __future__ import annotations

from bot import lifecycle, texts
from bot.lifecycle import ACTIONS, Allowed, Status
from bot.lookup import load_idea
from bot.model import Idea
from bot.references import split_first
from bot.replies import Reply, ReplyKind
from bot.standards import revise_for_implementation
from bot.text_input import answer_problem, clean_process_name, split_labels
from bot.turn import Turn

STATUS_CHANGE_ATTEMPTS = 3


async def change_status(
    turn: Turn, idea: Idea, action_name: str, reason: str | None, via: str
) -> tuple[Idea | None, Reply]:
    """Apply a lifecycle action; returns the updated idea (None if refused) and the reply."""
    action = ACTIONS[action_name]
    for _ in range(STATUS_CHANGE_ATTEMPTS):
        verdict = lifecycle.check(action_name, idea.status, turn.role,
                                  idea.author_id == turn.person.id)
        if not isinstance(verdict, Allowed):
            await turn.uow.idea_events.add(
                idea.id, turn.person.id, action_name, idea.status, None, verdict.reason,
                turn.now, result="refused", via=via,
            )
            return None, Reply(f"{idea.key}: {verdict.reason}", kind=ReplyKind.REFUSED)
        if await turn.uow.ideas.transition(idea.id, idea.status, action.target, turn.person.id,
                                           reason, turn.now):
            break
        # Someone else changed it since we looked: judge again against what is there now.
        reloaded = await turn.uow.ideas.get(idea.id)
        assert reloaded is not None
        idea = reloaded
    else:
        return None, Reply(texts.TRY_AGAIN, kind=ReplyKind.ERROR)
    await turn.uow.idea_events.add(idea.id, turn.person.id, action_name, idea.status,
                                   action.target, reason, turn.now, via=via)
    updated = await turn.uow.ideas.get(idea.id)
    assert updated is not None
    turn.changed(idea.id)
    return updated, Reply(texts.status_changed_for_actor(updated, action), kind=ReplyKind.DONE)


def notify_author(turn: Turn, idea: Idea, action_name: str, reason: str | None = None,
                  extra: str | None = None) -> None:
    """Close the loop: the author hears who decided what, and why."""
    reply = texts.author_notification(idea, ACTIONS[action_name], turn.person.name, reason,
                                      extra)
    turn.notify(idea.author_ref, reply, idea.id)


# --- commands ------------------------------------------------------------------------------


async def simple_command(turn: Turn, action_name: str) -> list[Reply]:
    """approve / start / withdraw: ``/kaizen approve KZ-12 [note]``."""
    token, note = split_first(turn.argument)
    found = await load_idea(turn, token)
    if isinstance(found, Reply):
        return [found]
    refused = _unstorable(note, "note")
    if refused is not None:
        return [refused]
    updated, reply = await change_status(turn, found, action_name, note or None, "command")
    if updated is not None:
        notify_author(turn, updated, action_name, note or None)
    return [reply]


def _unstorable(text: str, what: str) -> Reply | None:
    """A decision's note or reason is kept and told to the author, so it is checked like an
    answer (length, control characters); the reply saying why it is refused, if it is."""
    problem = answer_problem(text) if text else None
    if problem is None:
        return None
    return Reply(texts.reason_invalid(problem, len(text), what), kind=ReplyKind.ERROR)


async def approve(turn: Turn) -> list[Reply]:
    return await simple_command(turn, "approve")


async def start(turn: Turn) -> list[Reply]:
    return await simple_command(turn, "start")


async def withdraw(turn: Turn) -> list[Reply]:
    return await simple_command(turn, "withdraw")


async def reject(turn: Turn) -> list[Reply]:
    """``/kaizen reject KZ-12 <reason>``: the author deserves to know why."""
    token, reason = split_first(turn.argument)
    found = await load_idea(turn, token)
    if isinstance(found, Reply):
        return [found]
    if not reason and turn.is_decider:
        return [Reply(texts.REASON_NEEDED.format(key=found.key), kind=ReplyKind.ERROR)]
    refused = _unstorable(reason, "reason")
    if refused is not None:
        return [refused]
    updated, reply = await change_status(turn, found, "reject", reason or None, "command")
    if updated is not None:
        notify_author(turn, updated, "reject", reason)
    return [reply]


async def duplicate(turn: Turn) -> list[Reply]:
    """``/kaizen duplicate KZ-12 KZ-7``: KZ-12 repeats KZ-7."""
    token, rest = split_first(turn.argument)
    original_token, _ = split_first(rest)
    found = await load_idea(turn, token)
    if isinstance(found, Reply):
        return [found]
    if turn.is_decider:
        original = await load_idea(turn, original_token)
        if isinstance(original, Reply):
            return [Reply(texts.DUPLICATE_USAGE, kind=ReplyKind.ERROR)]
        if original.id == found.id:
            return [Reply("An idea can't be a duplicate of itself.", kind=ReplyKind.ERROR)]
        reason = f"duplicate of {original.key}"
    else:
        reason = None
    updated, reply = await change_status(turn, found, "duplicate", reason, "command")
    if updated is not None:
        notify_author(turn, updated, "duplicate", reason)
    return [reply]


async def implement(turn: Turn) -> list[Reply]:
    """``/kaizen implemented KZ-12 [process: NAME] [new standard text]``.

    The idea's process gets a new standard version (default: the idea's proposal).
    """
    token, rest = split_first(turn.argument)
    found = await load_idea(turn, token)
    if isinstance(found, Reply):
        return [found]
    labelled = split_labels(rest)
    process_name = found.process
    if labelled.values.get("process"):
        process_name = clean_process_name(labelled.values["process"])
        if process_name is None:
            return [Reply(texts.PROCESS_USAGE, kind=ReplyKind.ERROR)]
    new_text = labelled.values.get("standard") or labelled.prefix or found.proposal
    verdict = lifecycle.check("implement", found.status, turn.role,
                              found.author_id == turn.person.id)
    if isinstance(verdict, Allowed):
        if not process_name:
            return [Reply(texts.process_needed(found.key), kind=ReplyKind.ERROR)]
        problem = answer_problem(new_text)
        if problem is not None:
            return [Reply(texts.standard_text_invalid(problem), kind=ReplyKind.ERROR)]
    updated, reply = await change_status(turn, found, "implement", None, "command")
    if updated is None:
        return [reply]
    version, process = await revise_for_implementation(turn, updated, process_name or "",
                                                        new_text)
    extra = texts.now_the_standard(process, version)
    notify_author(turn, updated, "implement", extra=extra)
    return [Reply(f"{reply.text} {extra}", kind=ReplyKind.DONE)]


async def edit(turn: Turn) -> list[Reply]:
    """``/kaizen edit KZ-12 proposal: …``: the author improves the texts while submitted."""
    token, rest = split_first(turn.argument)
    found = await load_idea(turn, token)
    if isinstance(found, Reply):
        return [found]
    if found.author_id != turn.person.id:
        return [Reply(f"{found.key}: Sorry, only its author can edit an idea.",
                      kind=ReplyKind.REFUSED)]
    if found.status != Status.SUBMITTED:
        return [Reply(texts.edit_closed(found), kind=ReplyKind.REFUSED)]
    fields = {k: v for k, v in split_labels(rest).values.items()
              if k in {"standard", "problem", "proposal"}}
    if not fields:
        return [Reply(texts.EDIT_USAGE, kind=ReplyKind.ERROR)]
    for name, value in fields.items():
        problem = answer_problem(value)
        if problem is not None:
            return [Reply(texts.edit_invalid(name, problem, len(value)), kind=ReplyKind.ERROR)]
    if not await turn.uow.ideas.edit(found.id, fields, turn.now):
        return [Reply(texts.edit_closed(found), kind=ReplyKind.REFUSED)]
    await turn.uow.idea_events.add(found.id, turn.person.id, "edit", found.status, None,
                                   "changed " + ", ".join(sorted(fields)), turn.now,
                                   via="command")
    turn.changed(found.id)
    return [Reply(f"{found.key} updated: {', '.join(sorted(fields))}.", kind=ReplyKind.DONE)]


async def show(turn: Turn) -> list[Reply]:
    """``/kaizen show KZ-12``: the idea and its whole history."""
    token, _ = split_first(turn.argument)
    found = await load_idea(turn, token)
    if isinstance(found, Reply):
        return [found]
    history = await turn.uow.idea_events.history(found.id)
    return [texts.idea_details(found, history)]


# --- reactions -----------------------------------------------------------------------------


async def react(turn: Turn, idea: Idea, reaction: str, added: bool) -> list[Reply]:
    """A reaction on an idea's post: managers decide with theirs, everyone else supports."""
    if added:
        return await _reaction_added(turn, idea, reaction)
    return await _reaction_removed(turn, idea, reaction)


def reaction_kind(turn: Turn, reaction: str) -> str:
    if turn.is_decider and reaction in turn.policy.approve_reactions:
        return "approve"
    if turn.is_decider and reaction in turn.policy.reject_reactions:
        return "reject"
    return "support"


async def _reaction_added(turn: Turn, idea: Idea, reaction: str) -> list[Reply]:
    kind = reaction_kind(turn, reaction)
    if not await turn.uow.reactions.add(idea.id, turn.person.id, reaction, kind, turn.now):
        return []  # the same reaction again: one decision, one support
    via = f"reaction:{reaction}"
    if kind == "support":
        await turn.uow.idea_events.add(idea.id, turn.person.id, "support", idea.status, None,
                                       None, turn.now, via=via)
        turn.changed(idea.id)
        return [Reply(f"Thanks for supporting {idea.key}.", kind=ReplyKind.DONE)]
    action_name = "approve" if kind == "approve" else "reject"
    if idea.status == ACTIONS[action_name].target:
        return []  # already where this reaction would take it (e.g. a second approver)
    reason = "rejected by reaction" if kind == "reject" else None
    updated, reply = await change_status(turn, idea, action_name, reason, via)
    if updated is not None:
        notify_author(turn, updated, action_name, reason)
    return [reply]


async def _reaction_removed(turn: Turn, idea: Idea, reaction: str) -> list[Reply]:
    kind = await turn.uow.reactions.remove(idea.id, turn.person.id, reaction)
    if kind is None:
        return []
    via = f"reaction:{reaction}"
    if kind == "support":
        await turn.uow.idea_events.add(idea.id, turn.person.id, "unsupport", idea.status, None,
                                       None, turn.now, via=via)
        turn.changed(idea.id)
        return []
    if kind != "approve" or idea.status != Status.APPROVED:
        return []
    last = await turn.uow.idea_events.last_applied(idea.id)
    if last is None or last.action != "approve" or last.actor_id != turn.person.id or (
        last.via != via
    ):
        return []  # approved some other way, or something happened since: it stands
    reason = "approval reaction removed"
    updated, reply = await change_status(turn, idea, "unapprove", reason, via)
    if updated is not None:
        notify_author(turn, updated, "unapprove", reason)
    return [reply]
