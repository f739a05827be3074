"""Reading what people type: labelled one-shot answers, ``#area`` tags and answer validation.

Pure functions over strings, so the rules are easy to test and the same on every platform.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

MAX_ANSWER_CHARS = 2000
"""Longest answer we store for one field; Slack section text tops out at 3,000 characters."""

MAX_AREA_CHARS = 40

LABELS = ("standard", "problem", "proposal", "process")
"""Labels a one-shot capture may use, e.g. ``standard: … problem: … proposal: …``; ``process``
(which process the standard belongs to) is optional."""

MAX_PROCESS_NAME = 120

# A label counts only at the start of the text or after whitespace or ';', so "re-problem:" or
# "http://" never split an answer.
_LABEL_RE = re.compile(r"(?<![^\s;])(" + "|".join(LABELS) + r")\s*:", re.IGNORECASE)

# '#finance' but not Slack's '<#C123|general>', an entity like '&#39;', or a URL fragment.
_AREA_TAG_RE = re.compile(r"(?<![\w<&#/])#([A-Za-z][\w-]{0,39})(?![\w-])")
_AREA_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

# Bidirectional overrides can disguise text (e.g. reverse a word in a post) and have no place here.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ALLOWED_CONTROLS = frozenset("\n\t")


@dataclass(frozen=True, slots=True)
class Labelled:
    """Text split at its labels: what came before the first label, and each label's value."""

    prefix: str
    values: dict[str, str] = field(default_factory=dict)

    @property
    def has_labels(self) -> bool:
        return bool(self.values)


def split_labels(text: str) -> Labelled:
    """Split ``text`` at ``standard:``/``problem:``/``proposal:`` labels (any case, any order).

    A label given twice keeps both values, joined by a newline: nothing typed is dropped.
    """
    matches = list(_LABEL_RE.finditer(text))
    if not matches:
        return Labelled(prefix=_clean_value(text))
    values: dict[str, str] = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else len(text)
        name = match.group(1).lower()
        value = _clean_value(text[match.end() : end])
        values[name] = "\n".join(v for v in (values.get(name, ""), value) if v)
    return Labelled(prefix=_clean_value(text[: matches[0].start()]), values=values)


_PROCESS_RE = re.compile(r"(?:^|(?<=[\n;.!?]))[ \t]*process\s*:", re.IGNORECASE)
"""``process:`` opening a line or following a sentence's end or ``;`` (not "our process: …")."""


def split_trailing_process(text: str) -> tuple[str, str | None]:
    """``Claims are printed by hand. process: Expense claims`` → the answer and the process
    (a ``process:`` label after an answer, on the same line or the next); the text as it is
    when there is none."""
    matches = list(_PROCESS_RE.finditer(text))
    if not matches:
        return text, None
    last = matches[-1]
    answer, process = _clean_value(text[: last.start()]), _clean_value(text[last.end():])
    if not answer or not process:
        return text, None
    return answer, process


def starts_with_label(text: str) -> bool:
    """True when an answer opens with a label, so it is read as labelled answers."""
    match = _LABEL_RE.search(text)
    return match is not None and not text[: match.start()].strip()


def _clean_value(value: str) -> str:
    """Trim whitespace and the ';' separators between labelled parts."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.strip().strip(";").strip()


def find_area_tag(text: str) -> str | None:
    """The first ``#area`` tag in ``text``, normalised (``#Finance`` → ``finance``)."""
    match = _AREA_TAG_RE.search(text)
    return match.group(1).lower() if match else None


def strip_edge_area_tags(text: str) -> str:
    """Drop ``#area`` tags standing at the start or end of an answer; mid-sentence ones stay.

    ``#finance Invoices are retyped`` is an answer with a tag; ``the #sales team`` is prose.
    """
    pattern_start = re.compile(r"^\s*" + _AREA_TAG_RE.pattern + r"[\s;,]*")
    pattern_end = re.compile(r"[\s;,]*" + _AREA_TAG_RE.pattern + r"\s*$")
    previous = None
    while previous != text:
        previous = text
        text = pattern_start.sub("", text, count=1)
        text = pattern_end.sub("", text, count=1)
    return text.strip()


def normalise_area(name: str) -> str | None:
    """Canonical area name: lower case, spaces as dashes; None if it is not a usable name."""
    candidate = re.sub(r"\s+", "-", name.strip().lstrip("#").lower())
    if not candidate or len(candidate) > MAX_AREA_CHARS or not _AREA_NAME_RE.match(candidate):
        return None
    return candidate


def answer_problem(text: str) -> str | None:
    """Why an answer cannot be stored, as a short phrase, or None when it is fine."""
    if not text.strip():
        return "empty"
    if len(text) > MAX_ANSWER_CHARS:
        return "too_long"
    if any(_is_forbidden_char(ch) for ch in text):
        return "control_chars"
    return None


def _is_forbidden_char(ch: str) -> bool:
    if ch in _ALLOWED_CONTROLS:
        return False
    return ch in _BIDI_CONTROLS or unicodedata.category(ch) == "Cc"


def one_line(text: str, limit: int = 80) -> str:
    """A single-line preview of ``text``, cut with an ellipsis at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def clean_process_name(name: str) -> str | None:
    """A usable process name (whitespace collapsed), or None if empty, too long or unsafe."""
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_PROCESS_NAME:
        return None
    if any(_is_forbidden_char(ch) for ch in cleaned):
        return None
    return cleaned
