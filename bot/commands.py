"""Reading a message as a command: the ``/kaizen`` prefix, subcommands, flow intents.

The subcommands themselves are declared as a table in :mod:`bot.service`; this module only
parses, so the rules are the same on every platform and easy to test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PREFIX_RE = re.compile(r"^\s*(/?)kaizen(?![\w-])[\s:]*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ParsedText:
    """A message split into: was it addressed with ``/kaizen``? its first word, and the rest."""

    prefixed: bool
    body: str
    word: str
    argument: str


def parse(text: str, *, draft_open: bool = False, known_words: frozenset[str] = frozenset()
          ) -> ParsedText:
    """Split ``/kaizen area Finance`` into prefixed=True, word='area', argument='Finance'.

    ``/kaizen`` is always a command. A bare ``kaizen`` (Teams has no slash commands) is one too,
    except while a draft is open and it is followed by prose: "kaizen is hard here" answers the
    question instead of restarting the flow.
    """
    match = _PREFIX_RE.match(text)
    if match and not match.group(1) and draft_open:
        rest = text[match.end() :].strip()
        if rest and rest.split(None, 1)[0].lower() not in known_words:
            match = None
    body = text[match.end() :] if match else text
    body = body.strip()
    word, _, argument = body.partition(" ")
    first_line_word = word.split("\n", 1)[0]
    if first_line_word != word:  # "mine\nmore text": the word ends at the line break
        argument = (word[len(first_line_word) :] + " " + argument).strip()
        word = first_line_word
    return ParsedText(
        prefixed=match is not None,
        body=body,
        word=word.lower(),
        argument=argument.strip(),
    )
