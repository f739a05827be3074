"""The daily stand-up digest: facts in, a platform-neutral view out (pure).

Storage gathers :class:`DigestFacts` for one subscription and period; :func:`compose` turns them
into a :class:`DigestView` (a title, a summary and titled sections of plain-text lines) that
each adapter renders (Block Kit, Adaptive Card) with a plain-text fallback from
:func:`render_plain`. Lines are plain text: adapters escape them like any user text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.text_input import one_line

WAITING_FLAG_AFTER = timedelta(days=3)
SPARK = "▁▂▃▄▅▆▇█"
TREND_DAYS = 14
SHOWN = 5
"""Ideas listed per section; the rest are counted ("and N more")."""


@dataclass(frozen=True, slots=True)
class DigestIdea:
    key: str
    author: str
    area: str | None
    proposal: str
    created_at: datetime
    support: int = 0
    reason: str | None = None
    process: str | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class DigestFacts:
    """Everything a digest says, already filtered to the subscription's areas."""

    period_start: datetime
    period_end: datetime
    zone: str
    captured: list[DigestIdea] = field(default_factory=list)  # the first ones, oldest first
    approved: list[DigestIdea] = field(default_factory=list)
    implemented: list[DigestIdea] = field(default_factory=list)
    rejected: list[DigestIdea] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    """How many there are of each list above, when the list holds only the first ones (a busy
    workspace captures thousands a day; storage counts them and loads only what is shown)."""
    waiting: list[DigestIdea] = field(default_factory=list)  # oldest first
    waiting_total: int = 0
    support_leaders: list[DigestIdea] = field(default_factory=list)
    contributors: int = 0
    by_area: dict[str, int] = field(default_factory=dict)
    silent_areas: list[str] = field(default_factory=list)
    trend: list[int] = field(default_factory=list)  # ideas per local day, oldest first
    implemented_this_year: int = 0

    def total(self, name: str) -> int:
        """How many ``captured``/``approved``/``implemented``/``rejected`` ideas there are."""
        return self.totals.get(name, len(getattr(self, name)))

    @property
    def empty(self) -> bool:
        return not any(self.total(name)
                       for name in ("captured", "approved", "implemented", "rejected"))


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DigestView:
    title: str
    summary: str
    sections: tuple[Section, ...]
    footer: str
    empty: bool


def sparkline(values: list[int]) -> str:
    """``[0, 1, 4]`` → ``▁▂█``: a trend readable in one line of chat."""
    if not values:
        return ""
    top = max(values)
    if top == 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[round(v / top * (len(SPARK) - 1))] for v in values)


def age(created_at: datetime, now: datetime) -> str:
    days = (now - created_at).days
    return "today" if days < 1 else ("1 day" if days == 1 else f"{days} days")


def _cut(lines: list[str], limit: int, total: int | None = None) -> tuple[str, ...]:
    """At most ``limit`` lines, then "and N more" (N counts what was left out)."""
    total = len(lines) if total is None else total
    shown = lines[:limit]
    if total > len(shown):
        shown.append(f"and {total - len(shown)} more")
    return tuple(shown)


def _idea_line(idea: DigestIdea, with_author: bool = True) -> str:
    who = f" · {idea.author}" if with_author else ""
    area = f" · {idea.area}" if idea.area else ""
    return f"{idea.key}{who}{area}: {one_line(idea.proposal, 100)}"


def compose(facts: DigestFacts, limit: int = SHOWN) -> DigestView:
    """The digest for one subscription and period. Never empty-handed: a quiet day still gets
    a short, encouraging digest with the ideas waiting for a decision."""
    zone = ZoneInfo(facts.zone)
    end_local = facts.period_end.astimezone(zone)
    title = f"Kaizen stand-up · {end_local:%A %d %B %Y}"
    since = facts.period_start.astimezone(zone)
    sections: list[Section] = []
    if facts.empty:
        summary = (f"No new ideas or decisions since {since:%a %H:%M}. A quiet day is a good day "
                   "to spot one small improvement: type /kaizen and share it.")
    else:
        captured = facts.total("captured")
        parts = [f"{captured} new idea{'s' * (captured != 1)}"]
        parts += [f"{facts.total(name)} {name}" for name in ("approved", "implemented",
                                                             "rejected") if facts.total(name)]
        summary = f"Since {since:%a %H:%M}: " + ", ".join(parts) + "."
        if captured:
            sections.append(Section(f"New ideas ({captured})", _cut(
                [_idea_line(i) for i in facts.captured], limit, captured)))
        if facts.total("approved"):
            sections.append(Section(f"Approved ({facts.total('approved')})", _cut(
                [_idea_line(i, with_author=False) for i in facts.approved], limit,
                facts.total("approved"))))
        if facts.total("implemented"):
            sections.append(Section(f"Implemented ({facts.total('implemented')})", _cut(
                [_idea_line(i, with_author=False) + (
                    f" · standard “{i.process}” is now version {i.version}"
                    if i.process and i.version else "")
                 for i in facts.implemented], limit, facts.total("implemented"))))
        if facts.total("rejected"):
            sections.append(Section(f"Rejected ({facts.total('rejected')})", _cut(
                [_idea_line(i, with_author=False) + (f" · reason: {one_line(i.reason, 80)}"
                                                     if i.reason else "")
                 for i in facts.rejected], limit, facts.total("rejected"))))
    waiting_lines = [
        f"{i.key} · waiting {age(i.created_at, facts.period_end)}"
        + (" · over 3 days!" if facts.period_end - i.created_at > WAITING_FLAG_AFTER else "")
        + f": {one_line(i.proposal, 80)}"
        for i in facts.waiting
    ]
    sections.append(Section(
        f"Waiting for a decision ({facts.waiting_total})",
        _cut(waiting_lines, limit, facts.waiting_total) if facts.waiting_total
        else ("Nothing is waiting: every idea has a decision.",),
    ))
    if not facts.empty:
        if facts.support_leaders:
            sections.append(Section("Most supported", _cut([
                f"{i.key} · {i.support} supporter{'s' * (i.support != 1)}: "
                f"{one_line(i.proposal, 80)}" for i in facts.support_leaders], 3)))
        participation = [f"{facts.contributors} "
                         f"{'person' if facts.contributors == 1 else 'people'} contributed"]
        if facts.by_area:
            participation.append("By area: " + ", ".join(
                f"{area} {count}" for area, count in sorted(
                    facts.by_area.items(), key=lambda kv: (-kv[1], kv[0]))))
        if facts.silent_areas:
            participation.append("No ideas in 7 days from: " + ", ".join(facts.silent_areas))
        sections.append(Section("Participation", tuple(participation)))
        if facts.trend:
            sections.append(Section(f"Last {len(facts.trend)} days", (
                f"{sparkline(facts.trend)}  {sum(facts.trend)} ideas",)))
    footer = (f"{facts.implemented_this_year} kaizen{'s' * (facts.implemented_this_year != 1)} "
              f"implemented this year.")
    return DigestView(title, summary, tuple(sections), footer, facts.empty)


def render_plain(view: DigestView) -> str:
    lines = [view.title, view.summary]
    for section in view.sections:
        lines.append("")
        lines.append(section.title)
        lines.extend(f"• {line}" for line in section.lines)
    lines += ["", view.footer]
    return "\n".join(lines)


def view_to_dict(view: DigestView) -> dict[str, object]:
    return {"title": view.title, "summary": view.summary, "footer": view.footer,
            "empty": view.empty,
            "sections": [[s.title, list(s.lines)] for s in view.sections]}


def view_from_dict(data: dict[str, object]) -> DigestView:
    listed = data.get("sections")
    sections = tuple(Section(str(title), tuple(str(line) for line in lines))
                     for title, lines in (listed if isinstance(listed, list) else []))
    return DigestView(str(data["title"]), str(data["summary"]), sections, str(data["footer"]),
                      bool(data.get("empty")))
