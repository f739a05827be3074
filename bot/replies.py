"""The tiny platform-neutral reply model the core returns and adapters render.

Text is plain: adapters escape it for their platform (Slack mrkdwn, Adaptive Cards) so user text can
never become a mention or markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Button:
    """A quick answer. Clicking it sends ``value`` as if the user had typed it."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message back to the person who spoke.

    ``fields`` are labelled values (rendered as a fact list or section fields) and ``buttons`` are
    optional quick answers; a platform without buttons shows their values as hints.
    """

    text: str
    fields: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()
    kind: str = "info"


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What one turn produced: replies to the speaker, in order."""

    replies: list[Reply] = field(default_factory=list)
    duplicate: bool = False

    @property
    def texts(self) -> list[str]:
        return [reply.text for reply in self.replies]
