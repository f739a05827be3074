"""The service that runs one turn: dedupe, load, advance, save with a version check, commit, reply.

Adapters call :meth:`KaizenService.handle_message` or :meth:`KaizenService.handle_reaction`; the
service talks to storage only through the :mod:`bot.ports` unit of work, so it runs unchanged on
SQLite, PostgreSQL, Slack, Teams and the console.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot import (
    channels,
    commands,
    decisions,
    digest_commands,
    flow,
    limits,
    roles,
    standards,
    texts,
)
from bot.events import (
    NOWHERE,
    ConversationEvent,
    DecisionEvent,
    FormEvent,
    MessageEvent,
    Place,
    PostRef,
    ReactionEvent,
    UserRef,
)
from bot.identity import identity
from bot.model import Draft, NewIdea
from bot.ports import ConcurrentUpdate, StorageUnavailable, UnitOfWork
from bot.replies import Reply, ReplyKind, TurnResult
from bot.targets import Message, Route, Target, outbound
from bot.text_input import normalise_area, one_line
from bot.turn import Policy, Turn

log = logging.getLogger(__name__)

MAX_TURN_ATTEMPTS = 5
"""How often a turn is re-run after losing a race to another worker on the same row."""

STORAGE_ATTEMPTS = 3
"""A dropped connection usually works again on the next try; a real outage gets a reply."""

MAX_MESSAGE_CHARS = 20_000
"""Anything longer is refused before parsing: three answers of 2,000 characters fit easily."""

MINE_LIMIT = 10


def utcnow() -> datetime:
    """The real clock, the default for :class:`KaizenService` (tests inject their own)."""
    return datetime.now(UTC)


class TurnConflict(RuntimeError):
    """A turn kept losing races; the adapter should ask the person to try again."""


Handler = Callable[[Turn], Awaitable[list[Reply]]]


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One ``/kaizen <name>`` command: shown in help in table order, under its group."""

    name: str
    usage: str
    summary: str
    handler: Handler
    group: str = "everyone"
    aliases: tuple[str, ...] = ()


class KaizenService:
    """Runs turns for every adapter. Holds no per-conversation state: that is in the database."""

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime] = utcnow,
        policy: Policy | None = None,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self.policy = policy or Policy()

    async def handle_message(self, event: MessageEvent, route: Route | None = None
                             ) -> TurnResult:
        """Process one message exactly once, retrying the turn if another worker raced us.

        ``route`` says where the replies go; what the turn sends is queued in its own
        transaction (see :mod:`bot.targets`).
        """
        if len(event.text) > MAX_MESSAGE_CHARS:
            # Refused before anything is stored; a retry of the same event gets the same answer.
            return TurnResult([_too_long_message()])
        return await self._run(event.event_id, event.user, event.place,
                               lambda turn: self._message_turn(turn, event), route)

    async def handle_form(self, event: FormEvent, route: Route | None = None) -> TurnResult:
        """A capture form submitted in one go (the conversation's draft is left alone). What
        cannot be saved comes back as the form again, filled in, saying what to fix."""
        async def body(turn: Turn) -> list[Reply]:
            replies = await self._form_turn(turn, event)
            if any(reply.kind == ReplyKind.FORM_ERROR for reply in replies):
                replies.append(texts.form(event.values, [reply.text for reply in replies]))
            return replies

        return await self._run(event.event_id, event.user, event.place, body, route)

    async def _form_turn(self, turn: Turn, event: FormEvent) -> list[Reply]:
        turn.in_flow = True
        outcome = flow.submit(event.values, turn.now)
        if outcome.completed is None:
            return [r for r in outcome.replies if r.kind != ReplyKind.QUESTION] + [
                texts.form_incomplete()
            ]
        until = await limits.next_capture_at(turn)
        if until is not None:
            # Not saved: the form comes back with the answers still in it.
            limits.log_capture_limited(turn, until, "form returned")
            return [texts.capture_limit_form(turn.policy.capture_limit_per_hour, until,
                                             turn.now, turn.policy.timezone)]
        message = MessageEvent(event.event_id, event.user, "", event.place)
        return [*outcome.replies, *await _save_idea(turn, message, outcome.completed)]

    async def handle_decision(self, event: DecisionEvent, route: Route | None = None
                              ) -> TurnResult:
        """A decision button on an idea's card: the same rules as ``/kaizen approve|reject``."""
        handler = {"approve": decisions.approve, "reject": decisions.reject}.get(event.decision)

        async def body(turn: Turn) -> list[Reply]:
            if handler is None:
                log.info("unknown decision %r ignored", event.decision)
                return []
            turn.argument = (f"KZ-{event.idea_id} {event.reason}".strip()
                             if event.idea_id is not None else "")
            return await handler(turn)

        return await self._run(event.event_id, event.user, event.place, body, route)

    async def handle_reaction(self, event: ReactionEvent, route: Route | None = None
                              ) -> TurnResult:
        """A reaction added to or removed from an idea's post (decision or support).

        A reaction on any other message is nothing to us: nothing is stored for it.
        """
        idea_id = event.idea_id
        if idea_id is None and event.post is not None:
            idea_id = await self.idea_of_post(event.user.platform, event.post)
        if idea_id is None:
            return TurnResult()

        async def body(turn: Turn) -> list[Reply]:
            idea = await turn.uow.ideas.get(idea_id)
            if idea is None or (idea.platform, idea.workspace) != (event.user.platform,
                                                                   event.user.workspace):
                log.info("reaction on unknown idea %s ignored", idea_id)
                return []
            return await decisions.react(turn, idea, normalise_reaction(event.reaction),
                                         event.added)

        return await self._run(event.event_id, event.user, NOWHERE, body, route)

    async def idea_of_post(self, platform: str, post: PostRef) -> int | None:
        """The idea whose post is that message, if any (a front end may ask before it spends
        a Web API call on the reactor's name)."""
        async with self._unit_of_work() as uow:
            return await uow.idea_posts.find_idea(platform, post.channel_id, post.message_id)

    async def handle_conversation(self, event: ConversationEvent) -> int:
        """The bot joined or left a conversation: keep (or forget) the way in. Joining a
        person's own chat releases the messages that waited for it; returns how many."""
        user = event.user
        scope, key = (("personal", user.user_id) if event.personal
                      else ("channel", event.place.channel_id or ""))
        async with self._unit_of_work() as uow:
            now = self._clock()
            woke = 0
            if not event.joined:
                await uow.conversation_refs.forget(user.platform, user.workspace, scope, key)
            elif event.place.reference is not None:
                await uow.conversation_refs.save(user.platform, user.workspace, scope, key,
                                                 dict(event.place.reference), now)
                if event.personal:
                    woke = await uow.outbox.wake(user.platform, user.workspace, key, now)
            await uow.commit()
        return woke

    async def queue_reply(self, user: UserRef, to: Target, reply: Reply) -> None:
        """Send ``reply`` outside any turn (e.g. "that clashed, send it again")."""
        async with self._unit_of_work() as uow:
            await uow.outbox.queue(user.platform, [Message(user.workspace, to, reply)],
                                   self._clock())
            await uow.commit()

    async def _run(
        self,
        event_id: str,
        user: UserRef,
        place: Place,
        body: Callable[[Turn], Awaitable[list[Reply]]],
        route: Route | None,
    ) -> TurnResult:
        storage_failures = 0
        for attempt in range(1, MAX_TURN_ATTEMPTS + STORAGE_ATTEMPTS + 1):
            try:
                async with self._unit_of_work() as uow:
                    now = self._clock()
                    if not await uow.processed.record(user.platform, user.workspace,
                                                      event_id, now):
                        log.info("dropping duplicate event %s from %s", event_id, user.platform)
                        return TurnResult(duplicate=True)
                    person = await uow.people.ensure(user, now)
                    turn = Turn(uow=uow, person=person, user=user,
                                role=self.policy.role_of(person), policy=self.policy,
                                argument="", now=now, event_id=event_id, place=place)
                    replies = await body(turn)
                    result = TurnResult(replies, notifications=turn.notifications,
                                        changed_ideas=turn.changed_ideas,
                                        in_flow=turn.in_flow, private=turn.private)
                    result = replace(result, outbound=outbound(result, user.workspace, route))
                    if result.outbound:
                        await uow.outbox.queue(user.platform, result.outbound, now)
                    await uow.commit()
                    return result
            except ConcurrentUpdate:
                log.info("turn lost a race, retrying (attempt %d, event %s)", attempt, event_id)
                if attempt - storage_failures >= MAX_TURN_ATTEMPTS:
                    break
            except StorageUnavailable as exc:
                storage_failures += 1
                log.warning("database unavailable for event %s (%s), try %d of %d", event_id,
                            exc, storage_failures, STORAGE_ATTEMPTS)
                if storage_failures >= STORAGE_ATTEMPTS:
                    return TurnResult([texts.storage_unavailable()], storage_error=True)
                await asyncio.sleep(0.2 * storage_failures)
        raise TurnConflict(f"event {event_id} kept conflicting")

    async def _message_turn(self, turn: Turn, event: MessageEvent) -> list[Reply]:
        if event.offers_form:
            # A capture one message does not complete gets the form: the person's own
            # conversation (and its draft) is not touched by a mention in a channel.
            parsed = commands.parse(event.text, known_words=COMMAND_WORDS)
            if _subcommand_for(parsed, None) is None and _wants_form(_action_for(parsed)):
                return [texts.form(flow.form_values(parsed.body))]
        stored = await turn.uow.drafts.load(event.user, turn.now)
        draft, notices = flow.expire(stored.draft, turn.now)
        parsed = commands.parse(event.text, draft_open=draft is not None,
                                known_words=COMMAND_WORDS)
        subcommand = _subcommand_for(parsed, draft)
        if subcommand is not None:
            turn.argument = parsed.argument
            replies = [*notices, *await subcommand.handler(turn)]
            new_draft = draft
        else:
            turn.in_flow = True
            # A private draft is only ever shown in the person's own conversation.
            turn.private = not turn.place.direct and (draft is not None or bool(notices))
            action = _action_for(parsed)
            outcome = flow.advance(draft, action, turn.now)
            replies = [*notices, *outcome.replies]
            new_draft = outcome.draft
            until = None
            if outcome.completed is not None or _starts_new_draft(action, draft, outcome):
                until = await limits.next_capture_at(turn)
            if until is not None:
                replies, new_draft = _capture_limited(turn, draft, outcome, until, notices)
            elif outcome.completed is not None:
                replies.extend(await _save_idea(turn, event, outcome.completed))
            log.info(
                "capture turn user=%s step=%s->%s%s",
                event.user.user_id,
                draft.step if draft else "-",
                new_draft.step if new_draft else "-",
                " (idea saved)" if outcome.completed and until is None else "",
            )
        if new_draft != stored.draft:
            await turn.uow.drafts.save(event.user, new_draft, stored.version, turn.now)
        return replies


def _wants_form(action: flow.Action) -> bool:
    """A capture that the one message does not complete: a form shows what is missing."""
    return isinstance(action, flow.Start) and not flow.answers_complete(
        flow.start_values(action.text))


def _starts_new_draft(action: flow.Action, draft: Draft | None, outcome: flow.Outcome) -> bool:
    """``/kaizen`` with no draft open, or "start over": a fresh draft begins."""
    if outcome.draft is None:
        return False
    if isinstance(action, flow.Start):
        return draft is None
    return isinstance(action, flow.Intent) and action.name == "restart"


def _capture_limited(turn: Turn, draft: Draft | None, outcome: flow.Outcome, until: datetime,
                     notices: list[Reply]) -> tuple[list[Reply], Draft | None]:
    """The replies and the draft to store when the person is at the hourly capture limit.

    A finished idea waits as a complete draft (``continue`` sends it later); a new draft is
    not started, and a draft already open stays as it was. Nothing they wrote is lost.
    """
    limit, zone = turn.policy.capture_limit_per_hour, turn.policy.timezone
    if outcome.completed is not None:
        limits.log_capture_limited(turn, until, "idea kept as a draft")
        kept = replace(outcome.completed, pending=None)
        return [*notices, *outcome.replies,  # (a finished draft's replies are only errors)
                texts.capture_limit_kept(limit, until, turn.now, zone)], kept
    limits.log_capture_limited(turn, until, "new draft refused")
    kept_draft = replace(draft, pending=None) if draft is not None else None
    return [*notices, texts.capture_limit_at_start(
        limit, until, turn.now, zone, outcome.draft, flow.STEPS,
        draft_kept=kept_draft is not None)], kept_draft


async def _save_idea(turn: Turn, event: MessageEvent, done: Draft) -> list[Reply]:
    idea = await turn.uow.ideas.add(
        NewIdea(
            workspace=event.user.workspace,
            platform=event.user.platform,
            author_id=turn.person.id,
            area=done.area or turn.person.default_area,
            standard=done.answers["standard"],
            problem=done.answers["problem"],
            proposal=done.answers["proposal"],
            source_channel=event.channel,
            source_event_id=event.event_id,
            created_at=turn.now,
        )
    )
    await turn.uow.idea_events.add(idea.id, turn.person.id, "submit", None, idea.status, None,
                                   turn.now, via="capture")
    extra = None
    if done.answers.get("process"):
        process, recorded = await standards.attach_process(turn, idea, done.answers["process"])
        idea = await turn.uow.ideas.get(idea.id) or idea
        extra = (f"Its standard is recorded as version 1 of “{process.name}”." if recorded
                 else f"It improves the process “{process.name}”.")
    turn.changed(idea.id)
    return [texts.saved(idea, extra)]


# --- subcommands -------------------------------------------------------------------------------


async def _help(turn: Turn) -> list[Reply]:
    return [general_help(turn.is_decider)]


async def _area(turn: Turn) -> list[Reply]:
    argument = turn.argument.strip()
    if not argument:
        current = turn.person.default_area
        return [Reply(
            f"Your default area is {current}." if current else
            "You have no default area yet. Set one with `/kaizen area Finance`.",
            kind=ReplyKind.INFO,
        )]
    if argument.lower() in {"none", "clear", "-"}:
        await turn.uow.people.set_default_area(turn.person.id, None)
        return [Reply("Your default area is cleared.", kind=ReplyKind.INFO)]
    area = normalise_area(argument)
    if area is None:
        return [Reply(
            f"“{one_line(argument, 60)}” can't be an area name: use up to 40 letters, digits, "
            "spaces, dashes or underscores, e.g. `/kaizen area Finance`.",
            kind=ReplyKind.ERROR,
        )]
    await turn.uow.people.set_default_area(turn.person.id, area)
    return [Reply(
        f"Your default area is now {area}. Ideas without an #area tag are filed there.",
        kind=ReplyKind.INFO,
    )]


async def _whoami(turn: Turn) -> list[Reply]:
    """The exact identity string configuration takes (``KAIZEN_ADMINS=slack:U123``)."""
    configured = identity(turn.user.platform, turn.user.directory_id or turn.user.user_id)
    return [Reply(
        f"You are {turn.person.name}; your role is {turn.role.value}. To make someone an "
        "admin or manager, put their identity in KAIZEN_ADMINS or KAIZEN_MANAGERS "
        "(comma-separated).",
        fields=(("Your identity", configured), ("Workspace", turn.user.workspace)),
        kind=ReplyKind.INFO)]


async def _board(turn: Turn) -> list[Reply]:
    make_link = turn.policy.board_link
    if make_link is None:
        return [Reply("The board is not available on this server.", kind=ReplyKind.ERROR)]
    link = make_link(turn.user.platform, turn.user.workspace, turn.user.user_id)
    return [Reply("Your personal link to the kaizen board works for 12 hours; please don't "
                  "share it.", kind=ReplyKind.INFO, link=("Open the kaizen board", link))]


async def _mine(turn: Turn) -> list[Reply]:
    ideas = await turn.uow.ideas.recent_by_author(turn.person.id, MINE_LIMIT)
    if not ideas:
        return [Reply("You haven't shared an idea yet. Type `/kaizen` to start one.",
                      kind=ReplyKind.INFO)]
    fields = tuple(
        (f"{idea.key} · {idea.status.replace('_', ' ')} · {idea.area or 'no area'}",
         one_line(idea.proposal))
        for idea in ideas
    )
    return [Reply(f"Your last {len(ideas)} idea(s), newest first:", fields=fields,
                  kind=ReplyKind.LIST)]


def _subcommand_for(parsed: commands.ParsedText, draft: Draft | None) -> Subcommand | None:
    """``/kaizen mine`` always; a plain ``mine`` only when no draft is open to answer.

    Flow intents win over commands of the same first word (``/kaizen start over``).
    """
    if parsed.word != "help" and flow.intent_of(parsed.body) is not None:
        return None
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
        kind=ReplyKind.ERROR,
    )


def normalise_reaction(name: str) -> str:
    """``:White_Check_Mark:`` → ``white_check_mark`` (adapters map platform aliases first)."""
    return name.strip().strip(":").lower()


_TABLE = (
    Subcommand("help", "/kaizen help", "show this help", _help),
    Subcommand("area", "/kaizen area NAME", "your default area (function), e.g. Finance; "
               "`none` clears it", _area),
    Subcommand("mine", "/kaizen mine", "your last ideas and their status", _mine),
    Subcommand("whoami", "/kaizen whoami", "your user id and role here", _whoami),
    Subcommand("board", "/kaizen board", "a personal link to the board in your browser",
               _board),
    Subcommand("show", "/kaizen show KZ-12", "an idea with its whole history", decisions.show),
    Subcommand("edit", "/kaizen edit KZ-12 proposal: …", "change your idea while it waits "
               "for a decision", decisions.edit),
    Subcommand("withdraw", "/kaizen withdraw KZ-12", "take back your idea", decisions.withdraw),
    Subcommand("process", "/kaizen process KZ-12 NAME", "say which process an idea improves",
               standards.set_process),
    Subcommand("standard", "/kaizen standard NAME", "a process's current standard and its "
               "versions", standards.show_standard),
    Subcommand("standards", "/kaizen standards", "all processes and their standards",
               standards.list_standards),
    Subcommand("managers", "/kaizen managers", "who decides on ideas (admins: `add @person`, "
               "`remove @person`)", roles.managers),
    Subcommand("ideas", "/kaizen ideas here", "post new ideas in this channel",
               channels.ideas_channel, group="managers"),
    Subcommand("digest", "/kaizen digest here [HH:MM] [Zone] [weekdays|daily|mon,…] [#area]",
               "a daily stand-up digest in this channel (`off` stops it)",
               digest_commands.digest, group="managers"),
    Subcommand("approve", "/kaizen approve KZ-12 [note]", "approve an idea",
               decisions.approve, group="managers"),
    Subcommand("reject", "/kaizen reject KZ-12 REASON", "reject an idea, saying why",
               decisions.reject, group="managers"),
    Subcommand("duplicate", "/kaizen duplicate KZ-12 KZ-7", "mark KZ-12 as a repeat of KZ-7",
               decisions.duplicate, group="managers"),
    Subcommand("start", "/kaizen start KZ-12", "mark an approved idea as in progress",
               decisions.start, group="managers"),
    Subcommand("implemented", "/kaizen implemented KZ-12 [new standard]", "mark it done; its "
               "process gets a new standard version (default: the proposal)",
               decisions.implement, group="managers", aliases=("implement", "done")),
)
SUBCOMMANDS: dict[str, Subcommand] = {
    name: sub for sub in _TABLE for name in (sub.name, *sub.aliases)
}
COMMAND_WORDS = frozenset(SUBCOMMANDS) | frozenset(flow.INTENTS) | {"start"}


def general_help(for_decider: bool = False) -> Reply:
    lines = [
        "Kaizen: small improvements, every day, by the people who do the work.",
        "• /kaizen: share an idea; I ask for the current standard, the problem and your "
        "proposal",
        "• /kaizen standard: … problem: … proposal: …: share it in one message "
        "(any order; separate with ; or new lines; add process: … to name the process)",
        "• add #area anywhere (e.g. #finance) to file it under a function",
        "• while answering: back, cancel, help",
    ]
    lines += [f"• {sub.usage}: {sub.summary}" for sub in _TABLE if sub.group == "everyone"]
    lines.append("Managers and admins:" if for_decider else
                 "Managers and admins also have (ask them to decide on ideas):")
    lines += [f"• {sub.usage}: {sub.summary}" for sub in _TABLE if sub.group == "managers"]
    return Reply("\n".join(lines), kind=ReplyKind.HELP)
