"""botbuilder writes and reads a conversation's tenant as ``tenantID``; the Bot Framework schema
(and Teams itself) says ``tenantId``. Fixed once, for the whole process, on botbuilder's own
model, so what we send carries the schema's name and what Teams sends is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botbuilder.schema import ConversationAccount

SCHEMA_KEY = "tenantId"
BOTBUILDER_KEY = "tenantID"


def use_schema_casing() -> None:
    """Idempotent."""
    attribute_map: dict[str, Any] = ConversationAccount._attribute_map
    if attribute_map["tenant_id"]["key"] != SCHEMA_KEY:
        ConversationAccount._attribute_map = {
            **attribute_map, "tenant_id": {**attribute_map["tenant_id"], "key": SCHEMA_KEY}}


def with_schema_casing(reference: Mapping[str, Any]) -> dict[str, Any]:
    """A stored conversation reference as the schema spells it (references stored before this
    fix say ``tenantID``)."""
    data = dict(reference)
    conversation = data.get("conversation")
    if isinstance(conversation, Mapping) and BOTBUILDER_KEY in conversation:
        fixed = {k: v for k, v in conversation.items() if k != BOTBUILDER_KEY}
        fixed.setdefault(SCHEMA_KEY, conversation[BOTBUILDER_KEY])
        data["conversation"] = fixed
    return data


use_schema_casing()
