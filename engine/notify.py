"""A durable queue of outgoing messages (notifications, group posts, replies not yet sent).

`enqueue()` writes a row in the caller's transaction, so a domain change and the message it
causes commit together: a crash after commit loses nothing, a rollback sends nothing.
A transport's sender `claim()`s due rows (FOR UPDATE SKIP LOCKED on PostgreSQL, so several
workers never take the same row), sends them within rate limits and marks them `sent`
(remembering Telegram's message id, so a group post can later be edited in place) or
reschedules them with backoff.
"""
from __future__ import annotations

import base64
import json
from dataclasses import asdict
from datetime import timedelta

import peewee

from .events import Button, KeyButton, Reply
from .session import utcnow
from .storage import Table, lease_rows

__all__ = ["Outgoing", "enqueue", "claim", "mark_sent", "mark_failed", "message_id_for",
           "to_reply", "pending_count"]

PENDING, SENDING, SENT, DEAD = "pending", "sending", "sent", "dead"


class Outgoing(Table):
    chat_id = peewee.BigIntegerField(index=True)
    body = peewee.TextField()                        # a Reply as JSON
    key = peewee.CharField(max_length=200, null=True, unique=True)   # dedupe / edit-in-place key
    status = peewee.CharField(max_length=10, default=PENDING, index=True)
    priority = peewee.IntegerField(default=5)        # lower goes first (interactive = 0)
    attempts = peewee.IntegerField(default=0)
    next_at = peewee.DateTimeField(default=utcnow, index=True)
    message_id = peewee.BigIntegerField(null=True)
    error = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    sent_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "outgoing"


def enqueue(reply: Reply, *, key: str | None = None, priority: int = 5) -> int | None:
    """Queue `reply` (in the current transaction). With a `key`, a second enqueue of the same
    key is ignored: the same notification is never queued twice. Returns the row id."""
    body = json.dumps(_encode(reply), ensure_ascii=False)
    query = Outgoing.insert(chat_id=reply.chat_id, body=body, key=key, priority=priority)
    if key is not None:
        query = query.on_conflict_ignore()
    return query.execute()


def claim(limit: int = 50, *, lease_seconds: int = 60) -> list[Outgoing]:
    """Take up to `limit` due rows for sending; a row not confirmed within the lease is due
    again (its sender died)."""
    now = utcnow()
    query = (Outgoing.select()
             .where((Outgoing.status.in_([PENDING, SENDING])) & (Outgoing.next_at <= now))
             .order_by(Outgoing.priority, Outgoing.id).limit(limit))
    return lease_rows(query, status=SENDING, until=now + timedelta(seconds=lease_seconds))


def mark_sent(row_id: int, message_id: int | None) -> None:
    Outgoing.update(status=SENT, message_id=message_id, sent_at=utcnow(), error=None) \
        .where(Outgoing.id == row_id).execute()


def mark_failed(row_id: int, error: str, *, retry_in: float | None, max_attempts: int = 10) -> None:
    """Reschedule after `retry_in` seconds, or give up (status dead) when None or too many."""
    row = Outgoing.get_by_id(row_id)
    attempts = row.attempts + 1
    dead = retry_in is None or attempts >= max_attempts
    Outgoing.update(status=DEAD if dead else PENDING, attempts=attempts, error=error[:2000],
                    next_at=utcnow() + timedelta(seconds=retry_in or 0)) \
        .where(Outgoing.id == row_id).execute()


def message_id_for(key: str) -> int | None:
    """Telegram's id of the message sent for `key` (to edit it in place later)."""
    row = Outgoing.select(Outgoing.message_id).where(Outgoing.key == key).first()
    return row.message_id if row else None


def pending_count() -> int:
    return Outgoing.select().where(Outgoing.status.in_([PENDING, SENDING])).count()


def to_reply(row: Outgoing) -> Reply:
    data = json.loads(row.body)
    data["buttons"] = [[Button(**b) for b in r] for r in data.get("buttons", [])]
    data["keyboard"] = [[KeyButton(**b) for b in r] for r in data.get("keyboard", [])]
    for field in ("photo", "document"):
        if isinstance(data.get(field), dict):
            data[field] = base64.b64decode(data[field]["b64"])
    return Reply(**data)


def _encode(reply: Reply) -> dict:
    data = asdict(reply)
    for field in ("photo", "document"):
        if isinstance(data[field], bytes):
            data[field] = {"b64": base64.b64encode(data[field]).decode()}
    return data
