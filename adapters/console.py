"""The console adapter: the real core and real storage, in a terminal.

Reads standard input line by line, so it works interactively and with piped input
(``printf '/kaizen\\n…' | kaizen chat --user ana``), and stops cleanly at end of input.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import uuid
from typing import TextIO

from bot.events import MessageEvent, Place, ReactionEvent, UserRef
from bot.references import parse_idea_key
from bot.replies import Reply, ReplyKind, TurnResult
from bot.service import KaizenService, TurnConflict

PLATFORM = "console"
WORKSPACE = "local"


def render(reply: Reply) -> str:
    """Plain-text rendering: the text, then labelled fields, then buttons as things to type."""
    lines = [reply.text]
    for label, value in reply.fields:
        head, *rest = value.splitlines() or [""]
        lines.append(f"  {label}: {head}")
        lines.extend(f"    {line}" for line in rest)
    if reply.link:
        lines.append(f"  {reply.link[0]}: {reply.link[1]}")
    if reply.buttons:
        choices = " or ".join(f"`{button.value}`" for button in reply.buttons)
        lines.append(f"  (type {choices})")
    return "\n".join(lines)


async def run_chat(
    service: KaizenService,
    user: UserRef,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> int:
    """Run a conversation until end of input; returns the process exit code."""
    interactive = stdin.isatty()
    lines = _read_lines(stdin)
    if interactive:
        stdout.write(
            f"kaizen chat as {user.display_name or user.user_id}. Type /kaizen to share an idea, "
            "/kaizen help for help, :react KZ-1 white_check_mark to react, Ctrl-D to quit.\n"
        )
    while True:
        if interactive:
            stdout.write("you> ")
            stdout.flush()
        line = await lines.get()
        if line is None:  # end of input
            if interactive:
                stdout.write("\n")
            return 0
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        try:
            result = await _dispatch(service, user, text)
        except TurnConflict:
            stdout.write("kaizen> Sorry, that clashed with another change. Please try again.\n")
            continue
        for reply in result.replies:
            stdout.write("kaizen> " + render(reply).replace("\n", "\n        ") + "\n")
        for note in result.notifications:
            stdout.write(f"[to {note.to.display_name or note.to.user_id}] "
                         + render(note.reply).replace("\n", "\n    ") + "\n")
        stdout.flush()


async def _dispatch(service: KaizenService, user: UserRef, text: str) -> TurnResult:
    """A console line: ``:react KZ-12 name`` / ``:unreact …`` simulate reactions, the rest is
    a message as it would arrive from a chat platform."""
    event_id = f"console-{uuid.uuid4()}"
    command, _, rest = text.strip().partition(" ")
    if command in {":react", ":unreact"}:
        key, _, reaction = rest.strip().partition(" ")
        idea_id = parse_idea_key(key)
        if idea_id is None or not reaction.strip():
            return TurnResult([Reply(f"Usage: {command} KZ-12 white_check_mark",
                                     kind=ReplyKind.ERROR)])
        return await service.handle_reaction(ReactionEvent(
            event_id=event_id, user=user, idea_id=idea_id, reaction=reaction.strip(),
            added=command == ":react",
        ))
    return await service.handle_message(
        MessageEvent(event_id=event_id, user=user, text=text, place=Place("console"))
    )


def _read_lines(stdin: TextIO) -> asyncio.Queue[str | None]:
    """Lines of ``stdin`` as a queue, read by a daemon thread (None marks end of input).

    Not ``asyncio.to_thread``: Ctrl-C must end the program at once, and the interpreter would
    wait for an executor thread stuck in ``readline`` until the user pressed Enter.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def _deliver(line: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the chat has ended
            loop.call_soon_threadsafe(queue.put_nowait, line)

    def _pump() -> None:
        for line in iter(stdin.readline, ""):
            _deliver(line)
        _deliver(None)

    threading.Thread(target=_pump, name="kaizen-stdin", daemon=True).start()
    return queue


def console_user(name: str) -> UserRef:
    return UserRef(platform=PLATFORM, workspace=WORKSPACE, user_id=name, display_name=name)
