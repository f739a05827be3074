"""Every sentence the bot says during capture, in one place so the voice stays consistent.

Replies are plain text; adapters escape them for their platform.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.lifecycle import status_label
from bot.model import Draft, Idea, IdeaEvent, Process, StandardVersion, idea_key
from bot.replies import Button, Reply, ReplyKind
from bot.text_input import MAX_ANSWER_CHARS, one_line

if TYPE_CHECKING:
    from bot.flow import Step
    from bot.lifecycle import Action

INTENT_HINT = (
    "Type `back` to change the previous answer, `cancel` to drop the draft, `help` for help."
)
ECHO_LIMIT = 3000
"""How much of a rejected answer is shown back so it can be fixed rather than retyped."""


def intro(total: int) -> Reply:
    return Reply(
        f"Let's capture your improvement idea: {total} short questions, about a minute. "
        "Add an #area tag (e.g. #finance) anywhere to file it under a function.",
        kind=ReplyKind.INTRO,
    )


def question(step: Step, number: int, total: int, current: str | None) -> Reply:
    lines = [f"Question {number} of {total}: {step.label}", step.question, f"e.g. {step.example}"]
    if number == 1:
        lines.append("Optional: end your answer with `process: <name>` after a full stop, a `;` "
                     "or on a new line (e.g. `…by hand. process: expense claims`) to say which "
                     "process this standard belongs to.")
    if current:
        lines.append(f"Your answer so far: {one_line(current, 200)} (send a new one to replace it)")
    lines.append(INTENT_HINT)
    return Reply("\n".join(lines), kind=ReplyKind.QUESTION)


def invalid_answer(step: Step, problem: str, raw: str) -> Reply:
    """A friendly re-prompt that says exactly what was wrong; earlier answers stay as they are."""
    if problem == "empty":
        return Reply(f"The {step.label.lower()} can't be empty. Please write a few words.",
                     kind=ReplyKind.ERROR)
    if problem == "too_long":
        shown = raw[:ECHO_LIMIT] + ("…" if len(raw) > ECHO_LIMIT else "")
        return Reply(
            f"That {step.label.lower()} is {len(raw):,} characters; the limit is "
            f"{MAX_ANSWER_CHARS:,}. Please shorten it and send it again. Your other answers are "
            "kept. Here is what you sent, to edit:",
            fields=(("Your text", shown),),
            kind=ReplyKind.ERROR,
        )
    if problem == "control_chars":
        return Reply(
            f"That {step.label.lower()} contains invisible control characters I can't store. "
            "Please retype it (plain text and line breaks are fine). Your other answers are kept.",
            kind=ReplyKind.ERROR,
        )
    raise ValueError(f"unknown validation problem {problem!r}")


def invalid_process_name() -> Reply:
    return Reply("A process name must be 1 to 120 characters of plain text; I left it out. "
                 "You can set it later with `/kaizen process KZ-… <name>`.", kind=ReplyKind.ERROR)


def storage_unavailable() -> Reply:
    return Reply("Sorry, I couldn't save that just now (my database is busy or out of reach). "
                 "Please send it again in a moment; everything you told me before is safe.",
                 kind=ReplyKind.ERROR)


def form(values: Mapping[str, str], problems: Sequence[str] = ()) -> Reply:
    """The capture form, filled in with ``values``; ``problems`` say what to fix first."""
    return Reply("\n".join(problems), fields=tuple(values.items()), kind=ReplyKind.FORM)


def form_sent(key: str) -> Reply:
    """What a capture form becomes once its idea is saved (it cannot be sent twice)."""
    return Reply(f"This form was sent: the idea is {key}.", kind=ReplyKind.DONE)


def form_incomplete() -> Reply:
    return Reply("Please fill in the standard, the problem and the proposal (each up to "
                 f"{MAX_ANSWER_CHARS:,} characters) and send the form again.",
                 kind=ReplyKind.FORM_ERROR)


def draft_already_open(step: Step) -> Reply:
    return Reply(
        f"You already have an idea in progress (waiting for the {step.label.lower()}). "
        "Continue it, or start over with a new one?",
        buttons=(Button("Continue", "continue"), Button("Start over", "start over")),
        kind=ReplyKind.CHOICE,
    )


def no_draft_open() -> Reply:
    return Reply(
        "That message isn't part of an idea in progress. Type `/kaizen` to share an improvement "
        "idea, or `/kaizen help` to see what I can do.",
        kind=ReplyKind.HELP,
    )


def intent_without_draft(intent: str) -> Reply:
    if intent == "help":
        return Reply(
            "Type `/kaizen` to share an improvement idea; `/kaizen help` lists everything.",
            kind=ReplyKind.HELP,
        )
    return Reply(f"There is no idea in progress to {intent}. Type `/kaizen` to start one.",
                 kind=ReplyKind.HELP)


def _answers_fields(draft: Draft, steps: Sequence[Step]) -> tuple[tuple[str, str], ...]:
    return tuple((s.label, draft.answers[s.name]) for s in steps if draft.answers.get(s.name))


def cancelled(draft: Draft, steps: Sequence[Step]) -> Reply:
    fields = _answers_fields(draft, steps)
    suffix = " Here is what you had written, in case you want it later." if fields else ""
    return Reply("Cancelled: your draft was dropped and nothing was saved." + suffix,
                 fields=fields, kind=ReplyKind.INFO)


def restarted(draft: Draft, steps: Sequence[Step]) -> Reply:
    fields = _answers_fields(draft, steps)
    suffix = " The old answers are below, in case you want them." if fields else ""
    return Reply("Starting a new idea; the earlier draft was dropped." + suffix,
                 fields=fields, kind=ReplyKind.INFO)


def draft_expired(draft: Draft, steps: Sequence[Step]) -> Reply:
    fields = _answers_fields(draft, steps)
    suffix = " Here is what you had written, so you can reuse it." if fields else ""
    return Reply(
        "Your previous draft expired after 24 hours without an answer." + suffix,
        fields=fields,
        kind=ReplyKind.INFO,
    )


def already_first() -> Reply:
    return Reply("This is already the first question.", kind=ReplyKind.INFO)


def flow_help() -> Reply:
    return Reply(
        "I'm asking three things: the current standard (how the work is done today), the "
        "problem with it, and your proposal. Answer each in your own words.\n"
        "• `back`: change the previous answer\n"
        "• `cancel`: drop this draft\n"
        "• `standard: … problem: … proposal: …`: answer several at once\n"
        "• `#area` anywhere (e.g. #sales): file the idea under a function",
        kind=ReplyKind.HELP,
    )


def saved(idea: Idea, extra: str | None = None) -> Reply:
    fields = [("Area", idea.area or "not set")]
    if idea.process:
        fields.append(("Process", idea.process))
    fields += [("Standard", idea.standard), ("Problem", idea.problem),
               ("Proposal", idea.proposal)]
    text = (f"Thank you! Your idea is saved as {idea.key} and waits for a manager's decision. "
            "`/kaizen mine` shows its status.")
    return Reply(f"{text} {extra}" if extra else text, fields=tuple(fields), kind=ReplyKind.SAVED)


def draft_ready() -> Reply:
    """``/kaizen`` while a complete draft waits (kept at the hourly capture limit)."""
    return Reply(
        "You have an idea ready to send: all three answers are in. Send it now, or start over "
        "with a new one?",
        buttons=(Button("Send it", "continue"), Button("Start over", "start over")),
        kind=ReplyKind.CHOICE,
    )


# --- abuse limits ----------------------------------------------------------------------------


def _until(until: datetime, now: datetime, zone: str) -> str:
    """``10:42 (Europe/Berlin, in 17 minutes)``: local clock time and how long that is."""
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    return (f"{until.astimezone(ZoneInfo(zone)):%H:%M} ({zone}, in {minutes} "
            f"minute{'' if minutes == 1 else 's'})")


def _limit_headline(limit: int) -> str:
    return (f"Thank you for your {limit} ideas in the last hour! That is as many as one person "
            "can share in an hour.")


def capture_limit_kept(limit: int, until: datetime, now: datetime, zone: str) -> Reply:
    """The idea was complete but the person is at the limit: it waits as a draft."""
    return Reply(
        f"{_limit_headline(limit)} Your new idea is not lost: I kept it as a draft, answers and "
        f"all. From {_until(until, now, zone)}, type `continue` to send it.",
        kind=ReplyKind.LIMIT,
    )


def capture_limit_at_start(limit: int, until: datetime, now: datetime, zone: str,
                           written: Draft | None, steps: Sequence[Step],
                           draft_kept: bool) -> Reply:
    """``/kaizen`` at the limit: no new draft, so nobody answers three questions for nothing.

    Anything typed along with the command is shown back (it was not stored)."""
    text = f"{_limit_headline(limit)} You can start your next one at {_until(until, now, zone)}."
    if draft_kept:
        text += " Your idea in progress is kept: type `continue` to carry on with it."
    fields = _answers_fields(written, steps) if written is not None else ()
    if fields:
        text += " Nothing new was saved; here is what you wrote, to send again then."
    return Reply(text, fields=fields, kind=ReplyKind.LIMIT)


def capture_limit_form(limit: int, until: datetime, now: datetime, zone: str) -> Reply:
    """A form submitted at the limit: the adapter shows the form again, still filled in."""
    return Reply(
        f"{_limit_headline(limit)} Nothing was saved yet and your answers are still in the "
        f"form: send it again from {_until(until, now, zone)}.",
        kind=ReplyKind.FORM_ERROR,
    )


def digest_subscriptions_full(maximum: int) -> Reply:
    return Reply(
        f"This workspace already has {maximum} digest subscriptions, the most it may have. "
        "Turn one off first (`/kaizen digest off` in its channel; `kaizen digest --list` on "
        "the server lists them), or ask whoever runs the bot to raise "
        "KAIZEN_DIGEST_SUBSCRIPTIONS_MAX.",
        kind=ReplyKind.REFUSED,
    )


# --- lifecycle -------------------------------------------------------------------------------

IDEA_KEY_NEEDED = "Which idea? Give its key, e.g. `KZ-12` (`/kaizen mine` lists yours)."
TRY_AGAIN = "That idea changed several times while I was working on it. Please try again."
REASON_NEEDED = (
    "Please give a reason: `/kaizen reject {key} <reason>`. The author deserves to know why."
)
DUPLICATE_USAGE = "Say which idea it repeats: `/kaizen duplicate KZ-12 KZ-7`."
EDIT_USAGE = (
    "Say what to change with a label: `/kaizen edit KZ-12 proposal: …` "
    "(standard, problem or proposal)."
)
PROCESS_USAGE = (
    "Name the process (up to 120 characters): `/kaizen process KZ-12 expense claims`."
)
NO_STANDARDS = (
    "No process has a standard yet. Add `process: <name>` when you share an idea, and its "
    "standard becomes version 1."
)


def status_changed_for_actor(idea: Idea, action: Action) -> str:
    return f"{idea.key} is now {status_label(idea.status)}. {idea.author_name} will be told."


def author_notification(
    idea: Idea, action: Action, actor: str, reason: str | None, extra: str | None = None
) -> Reply:
    """What the author hears when their idea moves: who, what, why. Never silence."""
    headline = {
        "approve": f"Good news: your idea {idea.key} was approved by {actor}.",
        "reject": f"Your idea {idea.key} was not taken forward; {actor} rejected it.",
        "duplicate": f"Your idea {idea.key} was marked as a duplicate by {actor}.",
        "start": f"Work has started on your idea {idea.key} ({actor}).",
        "implement": f"Your idea {idea.key} is implemented! Marked by {actor}.",
        "withdraw": f"Your idea {idea.key} is withdrawn.",
        "unapprove": f"The approval of your idea {idea.key} was taken back by {actor}; it is "
        "waiting for a decision again.",
    }[action.name]
    fields = [("Status", status_label(idea.status)), ("Decided by", actor)]
    if reason:
        fields.append(("Reason", reason))
    fields.append(("Proposal", one_line(idea.proposal, 200)))
    text = f"{headline} {extra}" if extra else headline
    return Reply(text, fields=tuple(fields), kind=ReplyKind.NOTIFICATION)


def process_needed(key: str) -> str:
    return (
        f"{key} isn't linked to a process, so I don't know which standard it changes. Say "
        f"`/kaizen implemented {key} process: <name>` (optionally followed by the new standard "
        "text)."
    )


def standard_text_invalid(problem: str) -> str:
    reason = {
        "empty": "is empty",
        "too_long": f"is over {MAX_ANSWER_CHARS:,} characters",
        "control_chars": "contains control characters",
    }[problem]
    return f"The new standard text {reason}; nothing was changed."


def now_the_standard(process: Process, version: int) -> str:
    return f"It is now the standard for “{process.name}” (version {version})."


def edit_closed(idea: Idea) -> str:
    return (
        f"{idea.key} is {status_label(idea.status)}; ideas can only be edited while they wait "
        "for a decision."
    )


def edit_invalid(name: str, problem: str, length: int) -> str:
    if problem == "too_long":
        return f"The new {name} is {length:,} characters; the limit is {MAX_ANSWER_CHARS:,}."
    if problem == "empty":
        return f"The new {name} can't be empty."
    return f"The new {name} contains control characters I can't store."


def reason_invalid(problem: str, length: int, what: str = "reason") -> str:
    """A reason or note that cannot be kept (the author is told it, so it is an answer)."""
    if problem == "too_long":
        return (f"That {what} is {length:,} characters; the limit is {MAX_ANSWER_CHARS:,}. "
                "Nothing was changed.")
    return f"That {what} contains control characters I can't store. Nothing was changed."


def idea_details(idea: Idea, history: Sequence[IdeaEvent]) -> Reply:
    fields = [
        ("Status", status_label(idea.status)),
        ("Author", idea.author_name),
        ("Area", idea.area or "not set"),
        ("Process", idea.process or "not set"),
        ("Standard", idea.standard),
        ("Problem", idea.problem),
        ("Proposal", idea.proposal),
        ("Support", str(idea.support)),
    ]
    if idea.decided_by and idea.status != "submitted":
        fields.append(("Decided by", idea.decided_by))
    if idea.decision_reason:
        fields.append(("Reason", idea.decision_reason))
    lines = [history_line(event) for event in history]
    fields.append(("History", "\n".join(lines) or "-"))
    return Reply(f"{idea.key}", fields=tuple(fields), kind=ReplyKind.IDEA)


def history_line(event: IdeaEvent) -> str:
    when = event.created_at.strftime("%Y-%m-%d %H:%M")
    who = event.actor or "someone"
    source = f" {status_label(event.from_status)} →" if event.from_status else ""
    move = f"{source} {status_label(event.to_status)}" if event.to_status else ""
    refused = " (refused)" if event.result == "refused" else ""
    reason = f": {one_line(event.reason, 100)}" if event.reason else ""
    via = f" by {event.via.replace(':', ' ')}" if event.via and event.via != "command" else ""
    return f"{when} {who} {event.action}{move}{via}{refused}{reason}"


def unknown_process(name: str, known: Sequence[str]) -> Reply:
    hint = f" Known processes: {', '.join(known)}." if known else ""
    return Reply(
        f"I don't know a process called “{one_line(name, 60)}”.{hint} To share an idea in one "
        "message use labels with a colon: `/kaizen standard: … problem: … proposal: …`.",
        kind=ReplyKind.ERROR,
    )


def standard_details(process: Process, versions: Sequence[StandardVersion]) -> Reply:
    improved = sum(1 for v in versions if v.version > 1)
    current = versions[-1] if versions else None
    heading = (
        f"The standard for “{process.name}”, version {process.current_version}, "
        f"improved by {improved} kaizen(s):"
    )
    fields: list[tuple[str, str]] = [("Current", current.text if current else "-")]
    for version in versions:
        source = f" from {idea_key(version.idea_id)}" if version.idea_id else ""
        fields.append((
            f"v{version.version} · {version.created_at:%Y-%m-%d} · {version.author or '-'}"
            f"{source}",
            one_line(version.text, 200),
        ))
    return Reply(heading, fields=tuple(fields), kind=ReplyKind.STANDARD)
