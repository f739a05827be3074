"""What every command handler gets: the unit of work, who is speaking, their role, the time,
and lists to put notifications and changed ideas in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.events import NOWHERE, Place, UserRef
from bot.identity import identity
from bot.lifecycle import ROLE_RANK, Role, higher_role
from bot.model import Person
from bot.ports import UnitOfWork
from bot.replies import Notification, Reply

DEFAULT_APPROVE_REACTIONS = frozenset({"white_check_mark", "heavy_check_mark", "+1"})
DEFAULT_REJECT_REACTIONS = frozenset({"x"})
DEFAULT_CAPTURE_LIMIT_PER_HOUR = 20
DEFAULT_DIGEST_SUBSCRIPTIONS_MAX = 50


@dataclass(frozen=True, slots=True)
class Policy:
    """Workspace rules from configuration: bootstrap roles and which reactions decide."""

    managers: frozenset[str] = frozenset()
    """Configured identities, ``platform:id`` (see :mod:`bot.identity`)."""
    admins: frozenset[str] = frozenset()
    approve_reactions: frozenset[str] = DEFAULT_APPROVE_REACTIONS
    reject_reactions: frozenset[str] = DEFAULT_REJECT_REACTIONS
    digest_time: str = "09:00"
    timezone: str = "UTC"
    board_link: Callable[[str, str, str], str] | None = None
    """Makes a personal, expiring board link (platform, workspace, user); signing is the
    adapters' business, so the core only calls it."""
    capture_limit_per_hour: int = DEFAULT_CAPTURE_LIMIT_PER_HOUR
    """Ideas one person may share per rolling hour; 0 means no limit."""
    digest_subscriptions_max: int = DEFAULT_DIGEST_SUBSCRIPTIONS_MAX
    """Digest subscriptions per (platform, workspace); 0 means no limit."""

    def bootstrap_role(self, platform: str, *user_ids: str | None) -> Role:
        """The role ``KAIZEN_ADMINS`` / ``KAIZEN_MANAGERS`` give one of a person's ids on
        ``platform`` (configured as ``platform:id``: never matched across platforms)."""
        names = {identity(platform, user_id) for user_id in user_ids if user_id}
        if names & self.admins:
            return Role.ADMIN
        if names & self.managers:
            return Role.MANAGER
        return Role.MEMBER

    def role_of(self, person: Person) -> Role:
        """A person's role: the higher of what the database says and the bootstrap lists."""
        return higher_role(person.role, self.bootstrap_role(person.platform, person.user_id,
                                                            person.directory_id))


@dataclass(slots=True)
class Turn:
    uow: UnitOfWork
    person: Person
    user: UserRef
    role: Role
    policy: Policy
    argument: str
    now: datetime
    event_id: str
    place: Place = NOWHERE
    in_flow: bool = False
    private: bool = False
    notifications: list[Notification] = field(default_factory=list)
    changed_ideas: list[int] = field(default_factory=list)

    @property
    def channel(self) -> str | None:
        """Where the person spoke (None: nowhere in particular, e.g. a reaction)."""
        return self.place.channel_id

    @property
    def is_decider(self) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[Role.MANAGER]

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def notify(self, to: UserRef, reply: Reply, idea_id: int | None = None) -> None:
        """Queue a message for someone's direct conversation (delivered after commit)."""
        self.notifications.append(Notification(to=to, reply=reply, idea_id=idea_id))

    def changed(self, idea_id: int) -> None:
        if idea_id not in self.changed_ideas:
            self.changed_ideas.append(idea_id)
