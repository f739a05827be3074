"""Living standards: a named process has a current standard and every version before it.

Kaizen is "establish the standard, improve it, repeat": the standard captured with an idea
becomes version 1 of its process, and implementing an idea writes the next version.
"""

from __future__ import annotations

from bot import texts
from bot.lookup import load_idea
from bot.model import Idea, Process
from bot.references import split_first
from bot.replies import Reply, ReplyKind
from bot.text_input import clean_process_name, one_line
from bot.turn import Turn


async def attach_process(turn: Turn, idea: Idea, name: str) -> tuple[Process, bool]:
    """Link ``idea`` to the process; its standard text becomes version 1 if there is none.

    Returns the process and whether version 1 was recorded now.
    """
    process = await turn.uow.standards.ensure(idea.platform, idea.workspace, name, turn.now)
    await turn.uow.ideas.set_process(idea.id, process.id, turn.now)
    if process.current_version == 0:
        await turn.uow.standards.add_version(process.id, idea.standard, idea.author_id, idea.id,
                                             turn.now)
        return process, True
    return process, False


async def revise_for_implementation(
    turn: Turn, idea: Idea, process_name: str, text: str
) -> tuple[int, Process]:
    """Write the next version of the idea's process standard, caused by ``idea``."""
    if idea.process_id is None or (idea.process or "").casefold() != process_name.casefold():
        process, _ = await attach_process(turn, idea, process_name)
    else:
        found = await turn.uow.standards.get(idea.process_id)
        assert found is not None
        process = found
    version = await turn.uow.standards.add_version(process.id, text, idea.author_id, idea.id,
                                                   turn.now)
    await turn.uow.idea_events.add(idea.id, turn.person.id, "revise_standard", None, None,
                                   f"{process.name} v{version.version}", turn.now, via="command")
    return version.version, process


# --- commands ------------------------------------------------------------------------------


async def show_standard(turn: Turn) -> list[Reply]:
    """``/kaizen standard NAME``: the current standard, how often kaizen improved it, history."""
    name = turn.argument.strip()
    if not name:
        return await list_standards(turn)
    process = await turn.uow.standards.find(turn.user.platform, turn.user.workspace, name)
    if process is None:
        known = await turn.uow.standards.all(turn.user.platform, turn.user.workspace)
        return [texts.unknown_process(name, [p.name for p in known])]
    versions = await turn.uow.standards.versions(process.id)
    return [texts.standard_details(process, versions)]


async def list_standards(turn: Turn) -> list[Reply]:
    processes = await turn.uow.standards.all(turn.user.platform, turn.user.workspace)
    if not processes:
        return [Reply(texts.NO_STANDARDS, kind=ReplyKind.INFO)]
    fields = tuple(
        (p.name, f"version {p.current_version}: {one_line(p.current_text or '', 80)}")
        for p in processes
    )
    return [Reply(f"{len(processes)} process(es) with a standard:", fields=fields,
                  kind=ReplyKind.LIST)]


async def set_process(turn: Turn) -> list[Reply]:
    """``/kaizen process KZ-12 expense claims``: say which process an idea improves."""
    token, name = split_first(turn.argument)
    found = await load_idea(turn, token)
    if isinstance(found, Reply):
        return [found]
    if found.author_id != turn.person.id and not turn.is_decider:
        return [Reply(f"{found.key}: Sorry, only its author or a manager can set its process.",
                      kind=ReplyKind.REFUSED)]
    cleaned = clean_process_name(name)
    if cleaned is None:
        return [Reply(texts.PROCESS_USAGE, kind=ReplyKind.ERROR)]
    process, recorded = await attach_process(turn, found, cleaned)
    await turn.uow.idea_events.add(found.id, turn.person.id, "set_process", None, None,
                                   process.name, turn.now, via="command")
    turn.changed(found.id)
    suffix = f" Its standard text is now version 1 of “{process.name}”." if recorded else ""
    return [Reply(f"{found.key} now improves the process “{process.name}”.{suffix}",
                  kind=ReplyKind.DONE)]
