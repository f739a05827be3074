"""Teams message text in: mentions handled robustly, HTML entities decoded."""

from __future__ import annotations

import html
import re
from typing import Any

_AT_TAG = re.compile(r"</?at>", re.IGNORECASE)
_WWW = re.compile(r"\b(www)\.", re.IGNORECASE)
_MARKDOWN = str.maketrans({ch: f"&#{ord(ch)};" for ch in "*_~`[]#|\\"})


def clean_text(activity: Any) -> str:
    """The text addressed to the bot, without its @mention.

    Unlike ``TurnContext.remove_recipient_mention`` this removes only the mention *tag* (so the
    bot's name written elsewhere in the text stays), ignores case, trims the leading space it
    leaves, and turns mentions of other people into ``<@id>`` so ``managers add @person``
    knows who is meant.
    """
    text = activity.text or ""
    recipient = getattr(activity, "recipient", None)
    bot_id = getattr(recipient, "id", None)
    for mention in _mentions(activity):
        mentioned = mention.get("mentioned") or {}
        tag = mention.get("text") or (f"<at>{mentioned['name']}</at>" if mentioned.get("name")
                                      else "")
        if not tag or not mentioned.get("id"):
            continue
        replacement = " " if mentioned["id"] == bot_id else f" <@{mentioned['id']}> "
        text = _replace_casefold(text, tag, replacement)
    bot_name = getattr(recipient, "name", None)
    if bot_name:
        text = re.sub(rf"<at>\s*{re.escape(bot_name)}\s*</at>", " ", text, flags=re.IGNORECASE)
    text = _AT_TAG.sub("", text)
    return html.unescape(text).strip()


def _mentions(activity: Any) -> list[dict[str, Any]]:
    """Mention entities as plain dicts (botbuilder gives generic ``Entity`` objects)."""
    found = []
    for entity in getattr(activity, "entities", None) or []:
        if isinstance(entity, dict):
            data = entity
        else:  # msrest keeps undeclared fields (mentioned, text) in additional_properties
            data = {"type": entity.type, **(getattr(entity, "additional_properties", None) or {})}
        if str(data.get("type", "")).lower() == "mention":
            found.append(data)
    return found


def _replace_casefold(text: str, tag: str, replacement: str) -> str:
    return re.sub(re.escape(tag), replacement, text, flags=re.IGNORECASE)


def teams_text(text: str) -> str:
    """Text for a Teams message (``textFormat: xml``), shown exactly as typed.

    Teams renders HTML even in a ``textFormat: plain`` message (a typed ``<a href=…>`` became
    a live link, an unclosed ``<b>`` swallowed the lines after it) but shows entities there
    raw (``&lt;``) when no tag is present; and in an HTML (``xml``) message it also renders
    markdown (``[click](url)`` is a disguised link). So the message is HTML: ``&``, ``<``,
    ``>`` become entities, markdown's characters numeric entities (which the renderer shows
    and never formats), and line breaks ``<br>``. Checked in the Microsoft 365 Agents
    Playground. Every Teams text message goes through here, whatever part of it came from a
    person (ideas, reasons, names, process and area names)."""
    escaped = html.escape(text, quote=False).translate(_MARKDOWN)
    return _inert_links(escaped).replace("\n", "<br>")


def _inert_links(text: str) -> str:
    """Nothing typed becomes a live link. The renderer links bare addresses by itself
    (``http://…``, ``www.…``, ``a@b.c``) after decoding entities, so an invisible zero-width
    space goes where its patterns need adjacent characters: the text looks the same and
    stays text (checked in the Agents Playground)."""
    text = text.replace("://", ":&#8203;//").replace("@", "&#8203;@")
    return _WWW.sub(r"\1&#8203;.", text)


def tenant_of(activity: Any) -> str:
    """The tenant id from ``channelData.tenant.id`` (``conversation.tenant_id`` is unreliable:
    botbuilder maps it from ``tenantID`` while Teams sends ``tenantId``)."""
    data = activity.channel_data or {}
    tenant = (data.get("tenant") or {}).get("id") if isinstance(data, dict) else None
    conversation = getattr(activity, "conversation", None)
    return tenant or getattr(conversation, "tenant_id", None) or "default"


def bare_conversation_id(conversation_id: str) -> str:
    """``19:abc@thread.skype;messageid=123`` → ``19:abc@thread.skype`` (the channel itself)."""
    return conversation_id.split(";", 1)[0]


def normalise_reaction(kind: str) -> str:
    """Teams' 👍 ``like`` is the same emoji as Slack's ``+1``: one approve setting for both."""
    kind = kind.strip().lower()
    return {"like": "+1"}.get(kind, kind)
