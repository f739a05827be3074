"""Every sentence the bot says during capture, in one place so the voice stays consistent.

Replies are plain text; adapters escape them for their platform.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.model import Draft, Idea
from bot.replies import Button, Reply
from bot.text_input import MAX_ANSWER_CHARS, one_line

if TYPE_CHECKING:
    from bot.flow import Step

INTENT_HINT = (
    "Type `back` to change the previous answer, `cancel` to drop the draft, `help` for help."
)
ECHO_LIMIT = 3000
"""How much of a rejected answer is shown back so it can be fixed rather than retyped."""


def intro(total: int) -> Reply:
    return Reply(
        f"Let's capture your improvement idea: {total} short questions, about a minute. "
        "Add an #area tag (e.g. #finance) anywhere to file it under a function.",
        kind="intro",
    )


def question(step: Step, number: int, total: int, current: str | None) -> Reply:
    lines = [f"Question {number} of {total}: {step.label}", step.question, f"e.g. {step.example}"]
    if current:
        lines.append(f"Your answer so far: {one_line(current, 200)} (send a new one to replace it)")
    lines.append(INTENT_HINT)
    return Reply("\n".join(lines), kind="question")


def invalid_answer(step: Step, problem: str, raw: str) -> Reply:
    """A friendly re-prompt that says exactly what was wrong; earlier answers stay as they are."""
    if problem == "empty":
        return Reply(f"The {step.label.lower()} can't be empty. Please write a few words.",
                     kind="error")
    if problem == "too_long":
        shown = raw[:ECHO_LIMIT] + ("…" if len(raw) > ECHO_LIMIT else "")
        return Reply(
            f"That {step.label.lower()} is {len(raw):,} characters; the limit is "
            f"{MAX_ANSWER_CHARS:,}. Please shorten it and send it again. Your other answers are "
            "kept. Here is what you sent, to edit:",
            fields=(("Your text", shown),),
            kind="error",
        )
    if problem == "control_chars":
        return Reply(
            f"That {step.label.lower()} contains invisible control characters I can't store. "
            "Please retype it (plain text and line breaks are fine). Your other answers are kept.",
            kind="error",
        )
    raise ValueError(f"unknown validation problem {problem!r}")


def draft_already_open(step: Step) -> Reply:
    return Reply(
        f"You already have an idea in progress (waiting for the {step.label.lower()}). "
        "Continue it, or start over with a new one?",
        buttons=(Button("Continue", "continue"), Button("Start over", "start over")),
        kind="choice",
    )


def no_draft_open() -> Reply:
    return Reply(
        "That message isn't part of an idea in progress. Type `/kaizen` to share an improvement "
        "idea, or `/kaizen help` to see what I can do.",
        kind="help",
    )


def intent_without_draft(intent: str) -> Reply:
    if intent == "help":
        return Reply(
            "Type `/kaizen` to share an improvement idea; `/kaizen help` lists everything.",
            kind="help",
        )
    return Reply(f"There is no idea in progress to {intent}. Type `/kaizen` to start one.",
                 kind="help")


def _answers_fields(draft: Draft, steps: Sequence[Step]) -> tuple[tuple[str, str], ...]:
    return tuple((s.label, draft.answers[s.name]) for s in steps if draft.answers.get(s.name))


def cancelled(draft: Draft, steps: Sequence[Step]) -> Reply:
    fields = _answers_fields(draft, steps)
    suffix = " Here is what you had written, in case you want it later." if fields else ""
    return Reply("Cancelled: your draft was dropped and nothing was saved." + suffix,
                 fields=fields, kind="info")


def restarted(draft: Draft, steps: Sequence[Step]) -> Reply:
    fields = _answers_fields(draft, steps)
    suffix = " The old answers are below, in case you want them." if fields else ""
    return Reply("Starting a new idea; the earlier draft was dropped." + suffix,
                 fields=fields, kind="info")


def draft_expired(draft: Draft, steps: Sequence[Step]) -> Reply:
    fields = _answers_fields(draft, steps)
    suffix = " Here is what you had written, so you can reuse it." if fields else ""
    return Reply(
        "Your previous draft expired after 24 hours without an answer." + suffix,
        fields=fields,
        kind="info",
    )


def already_first() -> Reply:
    return Reply("This is already the first question.", kind="info")


def flow_help() -> Reply:
    return Reply(
        "I'm asking three things: the current standard (how the work is done today), the "
        "problem with it, and your proposal. Answer each in your own words.\n"
        "• `back`: change the previous answer\n"
        "• `cancel`: drop this draft\n"
        "• `standard: … problem: … proposal: …`: answer several at once\n"
        "• `#area` anywhere (e.g. #sales): file the idea under a function",
        kind="help",
    )


def saved(idea: Idea) -> Reply:
    fields = (
        ("Area", idea.area or "not set"),
        ("Standard", idea.standard),
        ("Problem", idea.problem),
        ("Proposal", idea.proposal),
    )
    return Reply(
        f"Thank you! Your idea is saved as {idea.key} and waits for a manager's decision. "
        f"`/kaizen mine` shows its status.",
        fields=fields,
        kind="saved",
    )
