"""The capture conversation, declared as data and advanced by one pure function.

The questions live in :data:`STEPS` (a table, not an if/elif ladder) and the words that work at any
step live in :data:`INTENTS`. :func:`advance` takes the stored :class:`~bot.model.Draft`, what the
person did and the time, and returns the next draft and the replies; it never touches storage, so
any worker can continue any conversation from the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot import texts
from bot.model import Draft
from bot.replies import Reply
from bot.text_input import (
    answer_problem,
    clean_process_name,
    find_area_tag,
    normalise_area,
    split_labels,
    split_trailing_process,
    starts_with_label,
    strip_edge_area_tags,
)


@dataclass(frozen=True, slots=True)
class Step:
    """One question of the capture flow. ``name`` is stored in the database: never rename it."""

    name: str
    label: str
    question: str
    example: str
    next: str | None


STEPS: tuple[Step, ...] = (
    Step(
        name="standard",
        label="Standard",
        question="How is this work done today? Describe the current standard.",
        example="Expense claims are printed, signed by hand and scanned back in.",
        next="problem",
    ),
    Step(
        name="problem",
        label="Problem",
        question="What is the problem with it? What goes wrong, takes too long or annoys people?",
        example="Printing and scanning takes 15 minutes per claim and scans get lost.",
        next="proposal",
    ),
    Step(
        name="proposal",
        label="Proposal",
        question="What do you propose instead? A small, concrete change is best.",
        example="Approve claims in the expense app; no paper at all.",
        next=None,
    ),
)
STEP_BY_NAME: dict[str, Step] = {step.name: step for step in STEPS}
PREVIOUS_STEP: dict[str, str] = {s.next: s.name for s in STEPS if s.next is not None}
FIRST_STEP = STEPS[0].name


# --- what a person can do to the flow --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """``/kaizen`` with optional text (labelled answers, or unlabelled text as the problem)."""

    text: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """Plain text typed while a draft is open."""

    text: str


@dataclass(frozen=True, slots=True)
class Intent:
    """A word that works at any step: cancel, back, help, continue, restart."""

    name: str


Action = Start | Answer | Intent

INTENTS: dict[str, str] = {
    "cancel": "cancel",
    "stop": "cancel",
    "quit": "cancel",
    "back": "back",
    "help": "help",
    "?": "help",
    "continue": "continue",
    "resume": "continue",
    "start over": "restart",
    "restart": "restart",
}
"""Whole-message words checked before an answer is read, mapped to the intent they mean."""


def intent_of(text: str) -> str | None:
    """The intent a whole message means, if it is one of :data:`INTENTS`."""
    return INTENTS.get(" ".join(text.lower().split()).rstrip(".!"))


@dataclass(slots=True)
class Outcome:
    """What :func:`advance` decided: the next draft (None: no draft open), replies, and the
    finished draft when the last answer came in (the service saves it as an idea)."""

    draft: Draft | None
    replies: list[Reply] = field(default_factory=list)
    completed: Draft | None = None


# --- the pure state machine -------------------------------------------------------------------


def expire(draft: Draft | None, now: datetime) -> tuple[Draft | None, list[Reply]]:
    """Drop a draft untouched for 24 h, showing its answers back so nothing is silently lost."""
    if draft is not None and draft.is_expired(now):
        return None, [texts.draft_expired(draft, STEPS)]
    return draft, []


def advance(draft: Draft | None, action: Action, now: datetime) -> Outcome:
    """Run one step of the capture flow. Pure: same inputs, same outcome."""
    handler = _HANDLERS[type(action)]
    return handler(draft, action, now)


def _start(draft: Draft | None, action: Start, now: datetime) -> Outcome:
    if draft is not None:
        # Keep what they typed with the question, so "start over" can use it.
        pending = {"choice": "restart", "text": action.text}
        kept = replace(draft, pending=pending, updated_at=now)
        ask = texts.draft_ready() if is_complete(draft) else texts.draft_already_open(
            STEP_BY_NAME[draft.step])
        return Outcome(kept, [ask])
    fresh = Draft(step=FIRST_STEP, started_at=now, updated_at=now)
    if not action.text.strip():
        return Outcome(fresh, [texts.intro(len(STEPS)), _question(fresh)])
    values = start_values(action.text)
    if not values:  # only an #area tag: start the questions with the area set
        fresh.area = find_area_tag(action.text)
        return Outcome(fresh, [texts.intro(len(STEPS)), _question(fresh)])
    return _fill(fresh, values, now, area_source=action.text)


def start_values(text: str) -> dict[str, str]:
    """The answers a ``/kaizen …`` one-shot gives: labelled parts, and unlabelled text as the
    problem ("/kaizen the printer jams")."""
    parsed = split_labels(text)
    values = dict(parsed.values)
    prefix = strip_edge_area_tags(parsed.prefix)
    if prefix:
        values["problem"] = "\n".join(v for v in (prefix, values.get("problem", "")) if v)
    return values


def form_values(text: str) -> dict[str, str]:
    """What a form is filled in with from a ``/kaizen …`` that did not complete a capture:
    its answers and its ``#area``."""
    values = start_values(text)
    area = find_area_tag(text)
    if area:
        values["area"] = area
    return values


def answers_complete(values: dict[str, str]) -> bool:
    return all(values.get(step.name) for step in STEPS)


def submit(values: dict[str, str], now: datetime) -> Outcome:
    """A whole form at once: the idea is complete, or the replies say what to fix.

    No draft is stored for a form; the returned draft (if any) only carries the valid answers
    so the adapter can show the form again, filled in.
    """
    fresh = Draft(step=FIRST_STEP, started_at=now, updated_at=now)
    area = normalise_area(values.get("area", "")) if values.get("area", "").strip() else None
    fields = {k: v for k, v in values.items() if k in {*STEP_BY_NAME, "process"} and v.strip()}
    outcome = _fill(fresh, fields, now, area_source="")
    target = outcome.completed or outcome.draft
    if target is not None and area:
        target.area = area
    return outcome


def _answer(draft: Draft | None, action: Answer, now: datetime) -> Outcome:
    if draft is None:
        return Outcome(None, [texts.no_draft_open()])
    draft = replace(draft, pending=None)
    if starts_with_label(action.text):
        return _fill(draft, dict(split_labels(action.text).values), now, area_source=action.text)
    answer, process = split_trailing_process(action.text)
    values = {draft.step: answer, **({"process": process} if process else {})}
    return _fill(draft, values, now, area_source=action.text)


def _fill(draft: Draft, values: dict[str, str], now: datetime, area_source: str) -> Outcome:
    """Validate and store answers, then ask the next missing question or finish."""
    answers = dict(draft.answers)
    errors: list[Reply] = []
    first_invalid: str | None = None
    for step in STEPS:  # table order, so errors come in the order the questions are asked
        if step.name not in values:
            continue
        value = strip_edge_area_tags(values[step.name])
        problem = answer_problem(value)
        if problem is None:
            answers[step.name] = value
        else:
            errors.append(texts.invalid_answer(step, problem, values[step.name]))
            first_invalid = first_invalid or step.name
    if "process" in values:  # optional: which process this standard belongs to
        process = clean_process_name(strip_edge_area_tags(values["process"]))
        if process is None:
            errors.append(texts.invalid_process_name())
        else:
            answers["process"] = process
    area = find_area_tag(area_source) or draft.area
    missing = first_invalid or next((s.name for s in STEPS if s.name not in answers), None)
    updated = replace(draft, answers=answers, area=area, updated_at=now, pending=None)
    if missing is None:
        return Outcome(None, errors, completed=updated)
    updated.step = missing
    return Outcome(updated, [*errors, _question(updated)])


def _intent(draft: Draft | None, action: Intent, now: datetime) -> Outcome:
    handler = _INTENT_HANDLERS.get(action.name)
    if handler is None:
        raise ValueError(f"unknown intent {action.name!r}")
    if draft is None:
        return Outcome(None, [texts.intent_without_draft(action.name)])
    return handler(draft, now)


def _cancel(draft: Draft, now: datetime) -> Outcome:
    return Outcome(None, [texts.cancelled(draft, STEPS)])


def _back(draft: Draft, now: datetime) -> Outcome:
    previous = PREVIOUS_STEP.get(draft.step)
    if previous is None:
        return Outcome(replace(draft, updated_at=now, pending=None), [
            texts.already_first(), _question(draft)
        ])
    moved = replace(draft, step=previous, updated_at=now, pending=None)
    return Outcome(moved, [_question(moved)])


def _help(draft: Draft, now: datetime) -> Outcome:
    kept = replace(draft, updated_at=now)
    return Outcome(kept, [texts.flow_help(), _question(kept)])


def _continue(draft: Draft, now: datetime) -> Outcome:
    kept = replace(draft, pending=None, updated_at=now)
    if is_complete(kept):
        # Every answer is there (the draft waited for the hourly capture limit): send it.
        return Outcome(None, completed=kept)
    return Outcome(kept, [_question(kept)])


def is_complete(draft: Draft) -> bool:
    """Every question answered: what a draft kept at the capture limit looks like."""
    return all(draft.answers.get(step.name) for step in STEPS)


def _restart(draft: Draft, now: datetime) -> Outcome:
    carried = (draft.pending or {}).get("text", "")
    outcome = _start(None, Start(carried), now)
    outcome.replies.insert(0, texts.restarted(draft, STEPS))
    return outcome


def _question(draft: Draft) -> Reply:
    step = STEP_BY_NAME[draft.step]
    number = [s.name for s in STEPS].index(step.name) + 1
    return texts.question(step, number, len(STEPS), draft.answers.get(step.name))


_HANDLERS: dict[type, Callable[[Draft | None, Action, datetime], Outcome]] = {
    Start: _start,  # type: ignore[dict-item]
    Answer: _answer,  # type: ignore[dict-item]
    Intent: _intent,  # type: ignore[dict-item]
}
_INTENT_HANDLERS: dict[str, Callable[[Draft, datetime], Outcome]] = {
    "cancel": _cancel,
    "back": _back,
    "help": _help,
    "continue": _continue,
    "restart": _restart,
}

