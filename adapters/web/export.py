"""``kaizen ideas`` output formats: an aligned table for people, CSV and JSON for other tools."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.model import Idea, IdeaEvent
from bot.text_input import one_line

FORMATS = ("table", "csv", "json")
COLUMNS = (
    "id", "key", "status", "area", "process", "author", "standard", "problem", "proposal",
    "support", "decided_by", "decided_at", "decision_reason", "created_at", "updated_at",
)


def idea_record(idea: Idea) -> dict[str, Any]:
    return {
        "id": idea.id,
        "key": idea.key,
        "status": idea.status,
        "area": idea.area,
        "process": idea.process,
        "author": idea.author_name,
        "standard": idea.standard,
        "problem": idea.problem,
        "proposal": idea.proposal,
        "support": idea.support,
        "decided_by": idea.decided_by,
        "decided_at": idea.decided_at.isoformat() if idea.decided_at else None,
        "decision_reason": idea.decision_reason,
        "created_at": idea.created_at.isoformat(),
        "updated_at": idea.updated_at.isoformat(),
    }


def event_record(event: IdeaEvent) -> dict[str, Any]:
    return {
        "at": event.created_at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "from": event.from_status,
        "to": event.to_status,
        "reason": event.reason,
        "result": event.result,
        "via": event.via,
    }


def render(
    ideas: Sequence[Idea], fmt: str, history: Mapping[int, Sequence[IdeaEvent]] | None = None
) -> str:
    """``history`` (idea id → events) adds each idea's audit trail (JSON only)."""
    if fmt == "json":
        records = []
        for idea in ideas:
            record = idea_record(idea)
            if history is not None:
                record["history"] = [event_record(e) for e in history.get(idea.id, [])]
            records.append(record)
        return json.dumps(records, ensure_ascii=False, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for idea in ideas:
            writer.writerow({k: csv_safe(v) for k, v in idea_record(idea).items()})
        return buffer.getvalue().rstrip("\n")
    if fmt == "table":
        return _table(ideas)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def csv_safe(value: Any) -> Any:
    """Defuse spreadsheet formulas: a cell starting with = + - @ is shown as text, not run."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _table(ideas: Sequence[Idea]) -> str:
    if not ideas:
        return "No ideas yet. Share one with `kaizen chat` and type /kaizen."
    rows = [("KEY", "STATUS", "AREA", "AUTHOR", "CREATED", "PROPOSAL")]
    rows += [
        (
            idea.key,
            idea.status,
            idea.area or "-",
            one_line(idea.author_name, 20),
            idea.created_at.strftime("%Y-%m-%d %H:%M"),
            one_line(idea.proposal, 60),
        )
        for idea in ideas
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  " + row[-1]
        for row in rows
    )
