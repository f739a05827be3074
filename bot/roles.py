"""Who may decide: ``/kaizen managers [add|remove @user]``.

Roles live in the database; ``KAIZEN_MANAGERS``/``KAIZEN_ADMINS`` bootstrap them so a new
workspace has someone who can decide (and grant) from day one.
"""

from __future__ import annotations

from bot.events import UserRef
from bot.identity import parse_identity
from bot.lifecycle import Role
from bot.references import parse_user, split_first
from bot.replies import Reply, ReplyKind
from bot.turn import Turn

MANAGERS_USAGE = (
    "Use `/kaizen managers` to list them, `/kaizen managers add @person` or "
    "`/kaizen managers remove @person` (admins only)."
)


async def managers(turn: Turn) -> list[Reply]:
    verb, rest = split_first(turn.argument)
    verb = verb.lower()
    if not verb or verb == "list":
        return [await _list(turn)]
    if verb not in {"add", "remove"}:
        return [Reply(MANAGERS_USAGE, kind=ReplyKind.ERROR)]
    if not turn.is_admin:
        return [Reply("Sorry, only admins can add or remove managers. "
                      "`/kaizen managers` shows who they are.", kind=ReplyKind.REFUSED)]
    target_token, _ = split_first(rest)
    user_id = parse_user(target_token) if target_token else None
    if user_id is None:
        return [Reply(f"Who? {MANAGERS_USAGE}", kind=ReplyKind.ERROR)]
    target_ref = UserRef(turn.user.platform, turn.user.workspace, user_id, None)
    target = await turn.uow.people.ensure(target_ref, turn.now)
    current = turn.policy.role_of(target)
    label = target.display_name or user_id
    if verb == "add":
        if current is not Role.MEMBER:
            return [Reply(f"{label} is already {_article(current)}.", kind=ReplyKind.INFO)]
        new_role = Role.MANAGER
    else:
        if current is Role.MEMBER:
            return [Reply(f"{label} is not a manager.", kind=ReplyKind.INFO)]
        if current is Role.ADMIN:
            return [Reply(f"{label} is an admin; admins always decide.", kind=ReplyKind.REFUSED)]
        if turn.policy.bootstrap_role(target.platform, target.user_id,
                                      target.directory_id) is not Role.MEMBER:
            return [Reply(f"{label} is a manager through KAIZEN_MANAGERS; remove them there.",
                          kind=ReplyKind.REFUSED)]
        new_role = Role.MEMBER
    await turn.uow.people.set_role(target.id, new_role.value)
    await turn.uow.idea_events.add(
        None, turn.person.id, "grant_manager" if verb == "add" else "revoke_manager",
        current.value, new_role.value, None, turn.now, via="command", subject_id=target.id,
    )
    if verb == "add":
        turn.notify(target.ref, Reply(
            f"{turn.person.name} made you a kaizen manager: you can now approve, reject and "
            "implement ideas. `/kaizen help` lists the commands.", kind=ReplyKind.NOTIFICATION))
        return [Reply(f"{label} is now a manager.", kind=ReplyKind.DONE)]
    return [Reply(f"{label} is no longer a manager.", kind=ReplyKind.DONE)]


async def _list(turn: Turn) -> Reply:
    people = await turn.uow.people.with_roles(turn.user.platform, turn.user.workspace,
                                              {"manager", "admin"})
    lines = [f"{person.name} ({turn.policy.role_of(person).value})" for person in people]
    known = {i for person in people for i in (person.user_id, person.directory_id) if i}
    # Configured people not met yet: only this platform's (another platform's ids are none
    # of this workspace's business).
    for configured in sorted(turn.policy.admins | turn.policy.managers):
        parsed = parse_identity(configured)
        if parsed is None or parsed[0] != turn.user.platform or parsed[1] in known:
            continue
        role = turn.policy.bootstrap_role(*parsed).value
        lines.append(f"{configured} ({role}, from configuration)")
    if not lines:
        return Reply("Nobody can decide on ideas yet. Set KAIZEN_ADMINS or KAIZEN_MANAGERS "
                     "to bootstrap the first ones.", kind=ReplyKind.INFO)
    return Reply("Managers and admins (they approve, reject and implement ideas):",
                 fields=tuple(("", line) for line in lines), kind=ReplyKind.LIST)


def _article(role: Role) -> str:
    return f"an {role.value}" if role is Role.ADMIN else f"a {role.value}"
