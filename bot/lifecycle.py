"""The idea lifecycle: every allowed move, who may make it, declared once as a table.

Everything that changes an idea's status (commands, reactions, buttons) asks :func:`check` here,
so the rules cannot drift apart between platforms.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    IN_PROGRESS = "in_progress"
    IMPLEMENTED = "implemented"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    WITHDRAWN = "withdrawn"


OPEN_STATUSES = frozenset({Status.SUBMITTED, Status.APPROVED, Status.IN_PROGRESS})
"""Statuses an idea can still leave; the others are final."""


class Role(StrEnum):
    MEMBER = "member"
    MANAGER = "manager"
    ADMIN = "admin"


ROLE_RANK = {Role.MEMBER: 0, Role.MANAGER: 1, Role.ADMIN: 2}


def higher_role(a: str, b: str) -> Role:
    return max(Role(a), Role(b), key=ROLE_RANK.__getitem__)


class Who(StrEnum):
    """Who may take an action: deciders (managers and admins) or the idea's author."""

    DECIDER = "decider"
    AUTHOR = "author"


@dataclass(frozen=True, slots=True)
class Action:
    """A lifecycle action: its verb, the statuses it leaves from, where it goes, who may."""

    name: str
    verb: str
    sources: frozenset[Status]
    target: Status
    who: Who
    needs_reason: bool = False


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action("approve", "approve", frozenset({Status.SUBMITTED}), Status.APPROVED, Who.DECIDER),
        Action("reject", "reject", frozenset({Status.SUBMITTED, Status.APPROVED}),
               Status.REJECTED, Who.DECIDER, needs_reason=True),
        Action("duplicate", "mark as duplicate", frozenset({Status.SUBMITTED}),
               Status.DUPLICATE, Who.DECIDER, needs_reason=True),
        Action("start", "start", frozenset({Status.APPROVED}), Status.IN_PROGRESS, Who.DECIDER),
        Action("implement", "mark as implemented",
               frozenset({Status.APPROVED, Status.IN_PROGRESS}), Status.IMPLEMENTED,
               Who.DECIDER),
        Action("withdraw", "withdraw", frozenset(OPEN_STATUSES), Status.WITHDRAWN, Who.AUTHOR),
        # Only by taking back the approving reaction, before anything else happened.
        Action("unapprove", "take back the approval of", frozenset({Status.APPROVED}),
               Status.SUBMITTED, Who.DECIDER),
    )
}


@dataclass(frozen=True, slots=True)
class Allowed:
    action: Action


@dataclass(frozen=True, slots=True)
class Refused:
    """Why not, phrased for the person who tried (polite, and says who may)."""

    reason: str


def check(action_name: str, status: str, role: str, is_author: bool) -> Allowed | Refused:
    """May someone with ``role`` (the author or not) take ``action_name`` on an idea now?"""
    action = ACTIONS[action_name]
    if action.who is Who.DECIDER and ROLE_RANK[Role(role)] < ROLE_RANK[Role.MANAGER]:
        return Refused(
            f"Sorry, only managers and admins can {action.verb} ideas. "
            "`/kaizen managers` shows who they are."
        )
    if action.who is Who.AUTHOR and not is_author:
        return Refused(f"Sorry, only the idea's author can {action.verb} it.")
    if Status(status) not in action.sources:
        return Refused(_status_refusal(action, Status(status)))
    return Allowed(action)


def _status_refusal(action: Action, status: Status) -> str:
    moves = sorted(
        a.target.value.replace("_", " ")
        for a in ACTIONS.values()
        if status in a.sources and a.name != "unapprove"
    )
    then = f" From {status_label(status)} it can become: {', '.join(moves)}." if moves else (
        " That is a final status."
    )
    return f"It is {status_label(status)}, so it can't be {past_tense(action)}.{then}"


def past_tense(action: Action) -> str:
    return {
        "approve": "approved",
        "reject": "rejected",
        "duplicate": "marked as a duplicate",
        "start": "started",
        "implement": "marked as implemented",
        "withdraw": "withdrawn",
        "unapprove": "returned to submitted",
    }[action.name]


def status_label(status: str) -> str:
    return status.replace("_", " ")
