"""Conversation memory in the records table: one item per message.

``pk = CONV#<conversationId>``, ``sk = MSG#<epoch ms, 13 digits>#<n, 4 digits>``, with
``role``, ``content``, ``at`` (ISO time) and ``expiresAt`` (the table's TTL, the deployment's
retention). ``conversation`` loads up to ``MAX_CONVERSATION`` latest messages,
``sliding_window`` the latest ``slidingWindowSize``.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from stepweave.ai.types import Message

__all__ = ["ConversationMemory", "MAX_CONVERSATION", "conversation_key"]

MAX_CONVERSATION = 200


def conversation_key(conversation_id: str) -> str:
    return f"CONV#{conversation_id}"


class ConversationMemory:
    def __init__(self, ddb: Any, table: str, retention_seconds: int) -> None:
        self.ddb = ddb
        self.table = table
        self.retention_seconds = retention_seconds

    def load(self, conversation_id: str, limit: int) -> list[Message]:
        """The latest ``limit`` messages, oldest first."""
        limit = max(1, min(limit, MAX_CONVERSATION))
        answer = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :msg)",
            ExpressionAttributeValues={":pk": {"S": conversation_key(conversation_id)},
                                       ":msg": {"S": "MSG#"}},
            ScanIndexForward=False, Limit=limit)
        items = list(reversed(answer.get("Items") or []))
        return [Message(role="assistant" if i["role"]["S"] == "assistant" else "user",
                        content=i["content"]["S"]) for i in items]

    def append(self, conversation_id: str, messages: list[Message], now: float | None = None) -> None:
        now = time.time() if now is None else now
        stamp = int(now * 1000)
        at = datetime.fromtimestamp(now, tz=timezone.utc).isoformat()
        for n, message in enumerate(messages):
            self.ddb.put_item(TableName=self.table, Item={
                "pk": {"S": conversation_key(conversation_id)},
                "sk": {"S": f"MSG#{stamp:013d}#{n:04d}"},
                "role": {"S": message.role}, "content": {"S": message.content},
                "at": {"S": at}, "expiresAt": {"N": str(int(now) + self.retention_seconds)}})
