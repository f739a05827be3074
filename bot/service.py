"""The service that runs one turn: dedupe, load, advance, save with a version check, commit, reply.

Adapters call :meth:`KaizenService.handle_message` with a :class:`~bot.events.MessageEvent`; the
service talks to storage only through the :mod:`bot.ports` unit of work, so it runs unchanged on
SQLite, PostgreSQL, Slack, Teams and the console.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot import commands, flow, texts
from bot.events import MessageEvent
from bot.model import Draft, NewIdea, Person
from bot.ports import ConcurrentUpdate, UnitOfWork
from bot.replies import Reply, TurnResult
from bot.text_input import normalise_area, one_line

log = logging.getLogger(__name__)

MAX_TURN_ATTEMPTS = 5
"""How often a turn is re-run after losing a race to another worker on the same draft."""

MAX_MESSAGE_CHARS = 20_000
"""Anything longer is refused before parsing: three answers of 2,000 characters fit easily."""

MINE_LIMIT = 10


def utcnow() -> datetime:
    return datetime.now(UTC)


class TurnConflict(RuntimeError):
    """A turn kept losing races; the adapter should ask the person to try again."""


@dataclass(slots=True)
class Turn:
    """Everything a subcommand handler needs about the current turn."""

    uow: UnitOfWork
    person: Person
    event: MessageEvent
    argument: str
    now: datetime


SubcommandHandler = Callable[["KaizenService", Turn], Awaitable[list[Reply]]]


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One ``/kaizen <name>`` command: shown in help in table order."""

    name: str
    usage: str
    summary: str
    handler: SubcommandHandler


class KaizenService:
    """Runs turns for every adapter. Holds no per-conversation state: that is in the database."""

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock

    async def handle_message(self, event: MessageEvent) -> TurnResult:
        """Process one message exactly once, retrying the turn if another worker raced us."""
        if len(event.text) > MAX_MESSAGE_CHARS:
            # Refused before anything is stored; a retry of the same event gets the same answer.
            return TurnResult([_too_long_message()])
        for attempt in range(1, MAX_TURN_ATTEMPTS + 1):
            try:
                return await self._run_turn(event)
            except ConcurrentUpdate:
                log.info("turn lost a race, retrying (attempt %d, event %s)", attempt,
                         event.event_id)
        raise TurnConflict(f"event {event.event_id} kept conflicting")

    async def _run_turn(self, event: MessageEvent) -> TurnResult:
        async with self._unit_of_work() as uow:
            now = self._clock()
            if not await uow.processed.record(event.user.platform, event.event_id, now):
                log.info("dropping duplicate event %s from %s", event.event_id,
                         event.user.platform)
                return TurnResult(duplicate=True)
            person = await uow.people.ensure(event.user, now)
            stored = await uow.drafts.load(event.user, now)
            draft, notices = flow.expire(stored.draft, now)
            parsed = commands.parse(
                event.text, draft_open=draft is not None, known_words=_COMMAND_WORDS
            )
            subcommand = _subcommand_for(parsed, draft)
            if subcommand is not None:
                turn = Turn(uow, person, event, parsed.argument, now)
                replies = [*notices, *await subcommand.handler(self, turn)]
                new_draft = draft
            else:
                outcome = flow.advance(draft, _action_for(parsed), now)
                replies = [*notices, *outcome.replies]
                if outcome.completed is not None:
                    replies.append(
                        await self._save_idea(uow, person, event, outcome.completed, now)
                    )
                new_draft = outcome.draft
                log.info(
                    "capture turn user=%s step=%s->%s%s",
                    event.user.user_id,
                    draft.step if draft else "-",
                    new_draft.step if new_draft else "-",
                    " (idea saved)" if outcome.completed else "",
                )
            if new_draft != stored.draft:
                await uow.drafts.save(event.user, new_draft, stored.version, now)
            await uow.commit()
            return TurnResult(replies)

    async def _save_idea(
        self, uow: UnitOfWork, person: Person, event: MessageEvent, done: Draft, now: datetime
    ) -> Reply:
        idea = await uow.ideas.add(
            NewIdea(
                workspace=event.user.workspace,
                platform=event.user.platform,
                author_id=person.id,
                area=done.area or person.default_area,
                standard=done.answers["standard"],
                problem=done.answers["problem"],
                proposal=done.answers["proposal"],
                source_channel=event.channel,
                source_event_id=event.event_id,
                created_at=now,
            )
        )
        await uow.idea_events.add(idea.id, person.id, "submitted", None, idea.status, None, now)
        return texts.saved(idea)

    # --- subcommands ---------------------------------------------------------------------------

    async def _help(self, turn: Turn) -> list[Reply]:
        return [general_help()]

    async def _area(self, turn: Turn) -> list[Reply]:
        argument = turn.argument.strip()
        if not argument:
            current = turn.person.default_area
            return [Reply(
                f"Your default area is {current}." if current else
                "You have no default area yet. Set one with `/kaizen area Finance`.",
                kind="info",
            )]
        if argument.lower() in {"none", "clear", "-"}:
            await turn.uow.people.set_default_area(turn.person.id, None)
            return [Reply("Your default area is cleared.", kind="info")]
        area = normalise_area(argument)
        if area is None:
            return [Reply(
                f"“{one_line(argument, 60)}” can't be an area name: use up to 40 letters, digits, "
                "spaces, dashes or underscores, e.g. `/kaizen area Finance`.",
                kind="error",
            )]
        await turn.uow.people.set_default_area(turn.person.id, area)
        return [Reply(
            f"Your default area is now {area}. Ideas without an #area tag are filed there.",
            kind="info",
        )]

    async def _mine(self, turn: Turn) -> list[Reply]:
        ideas = await turn.uow.ideas.recent_by_author(turn.person.id, MINE_LIMIT)
        if not ideas:
            return [Reply("You haven't shared an idea yet. Type `/kaizen` to start one.",
                          kind="info")]
        fields = tuple(
            (f"{idea.key} · {idea.status} · {idea.area or 'no area'}", one_line(idea.proposal))
            for idea in ideas
        )
        return [Reply(f"Your last {len(ideas)} idea(s), newest first:", fields=fields,
                      kind="list")]


def _subcommand_for(parsed: commands.ParsedText, draft: Draft | None) -> Subcommand | None:
    """``/kaizen mine`` always; a plain ``mine`` only when no draft is open to answer."""
    if parsed.prefixed or draft is None:
        return SUBCOMMANDS.get(parsed.word)
    return None


def _action_for(parsed: commands.ParsedText) -> flow.Action:
    """Map a parsed message onto the flow: ``/kaizen …`` starts, intents win, the rest answers."""
    intent = flow.intent_of(parsed.body)
    if intent is not None:
        return flow.Intent(intent)
    if parsed.prefixed:
        return flow.Start(parsed.body)
    return flow.Answer(parsed.body)


def _too_long_message() -> Reply:
    return Reply(
        f"That message is over {MAX_MESSAGE_CHARS:,} characters, too long for me to read. "
        "Each answer may be up to 2,000 characters; please send a shorter one.",
        kind="error",
    )


SUBCOMMANDS: dict[str, Subcommand] = {
    sub.name: sub
    for sub in (
        Subcommand("help", "/kaizen help", "show this help", KaizenService._help),
        Subcommand("area", "/kaizen area NAME", "set your default area (function), "
                   "e.g. Finance; `none` clears it", KaizenService._area),
        Subcommand("mine", "/kaizen mine", "your last ideas and their status",
                   KaizenService._mine),
    )
}


_COMMAND_WORDS = frozenset(SUBCOMMANDS) | frozenset(flow.INTENTS) | {"start"}


def general_help() -> Reply:
    lines = [
        "Kaizen: small improvements, every day, by the people who do the work.",
        "• /kaizen: share an idea; I ask for the current standard, the problem and your "
        "proposal",
        "• /kaizen standard: … problem: … proposal: …: share it in one message "
        "(any order; separate with ; or new lines)",
        "• add #area anywhere (e.g. #finance) to file it under a function",
        "• while answering: back, cancel, help",
    ]
    lines += [f"• {sub.usage}: {sub.summary}" for sub in SUBCOMMANDS.values()]
    return Reply("\n".join(lines), kind="help")
