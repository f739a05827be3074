"""``kaizen ideas`` output formats: an aligned table for people, CSV and JSON for other tools."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from bot.model import Idea
from bot.text_input import one_line

FORMATS = ("table", "csv", "json")
COLUMNS = (
    "id", "key", "status", "area", "author", "standard", "problem", "proposal", "created_at",
    "updated_at",
)


def idea_record(idea: Idea) -> dict[str, Any]:
    return {
        "id": idea.id,
        "key": idea.key,
        "status": idea.status,
        "area": idea.area,
        "author": idea.author_name,
        "standard": idea.standard,
        "problem": idea.problem,
        "proposal": idea.proposal,
        "created_at": idea.created_at.isoformat(),
        "updated_at": idea.updated_at.isoformat(),
    }


def render(ideas: Sequence[Idea], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([idea_record(idea) for idea in ideas], ensure_ascii=False, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for idea in ideas:
            writer.writerow({k: _csv_safe(v) for k, v in idea_record(idea).items()})
        return buffer.getvalue().rstrip("\n")
    if fmt == "table":
        return _table(ideas)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _csv_safe(value: Any) -> Any:
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
