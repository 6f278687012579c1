"""Conversations live in the database, not in RAM: loaded for one event, saved after it.

A conversation is (flow, state, slots, call stack, the buttons last shown, a step counter).
The step counter goes into inline buttons' callback data, so a button from an older screen
is recognised as stale instead of being applied to the wrong state.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import peewee

from .storage import Table

__all__ = ["Conversation", "Session", "load_session", "save_session", "drop_conversations", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Conversation(Table):
    chat_id = peewee.BigIntegerField()
    user_id = peewee.BigIntegerField()
    flow = peewee.CharField(max_length=100, null=True)
    state = peewee.CharField(max_length=100, null=True)
    stack = peewee.TextField(default="[]")
    slots = peewee.TextField(default="{}")
    buttons = peewee.TextField(default="[]")
    step = peewee.IntegerField(default=0)
    lang = peewee.CharField(max_length=10, null=True)
    keyboard = peewee.BooleanField(default=False)
    remind_at = peewee.DateTimeField(null=True, index=True)
    abandon_at = peewee.DateTimeField(null=True, index=True)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "conversation"
        indexes = ((("chat_id", "user_id"), True),)


@dataclass
class Session:
    """The in-memory view of one conversation during one event."""
    chat_id: int
    user_id: int
    flow: str | None = None
    state: str | None = None
    stack: list[list[str]] = field(default_factory=list)     # [[flow, state], ...] callers
    slots: dict[str, Any] = field(default_factory=dict)
    buttons: list[dict] = field(default_factory=list)
    step: int = 0
    lang: str | None = None
    keyboard: bool = False
    remind_at: datetime | None = None
    abandon_at: datetime | None = None
    row_id: int | None = None


_COLUMNS = ("flow", "state", "stack", "slots", "buttons", "step", "lang", "keyboard",
            "remind_at", "abandon_at")


def load_session(chat_id: int, user_id: int, *, for_update: bool = False) -> Session:
    """The conversation of (chat, user); a new one when there is none. Locks the row on
    PostgreSQL so another worker applies this chat's next update only after us."""
    sql = _select_sql(for_update and _supports_for_update(), Conversation._meta.database.param)
    row = Conversation._meta.database.execute_sql(sql, (chat_id, user_id)).fetchone()
    if row is None:
        return Session(chat_id, user_id)
    f = Conversation._meta.fields
    return Session(chat_id, user_id, row[1], row[2], json.loads(row[3]), json.loads(row[4]),
                   json.loads(row[5]), row[6], row[7], bool(row[8]),
                   f["remind_at"].python_value(row[9]), f["abandon_at"].python_value(row[10]), row[0])


def save_session(s: Session) -> None:
    values = (s.flow, s.state, json.dumps(s.stack, ensure_ascii=False),
              json.dumps(s.slots, ensure_ascii=False, default=str),
              json.dumps(s.buttons, ensure_ascii=False, default=str), s.step, s.lang,
              s.keyboard, _dt(s.remind_at), _dt(s.abandon_at), _dt(utcnow()))
    if s.row_id is None:
        s.row_id = Conversation.insert(chat_id=s.chat_id, user_id=s.user_id,
                                       **dict(zip(_COLUMNS + ("updated_at",), values, strict=True))).execute()
    else:
        database = Conversation._meta.database
        database.execute_sql(_update_sql(database.param), values + (s.row_id,))


# Hand-written SQL for the two statements every event runs: building them with peewee's
# query builder cost more than the rest of the step (bench/engine.py, cProfile).
# Cached per placeholder style: one process may use SQLite and PostgreSQL in turn (tests).
@lru_cache(maxsize=8)
def _select_sql(locking: bool, p: str) -> str:
    sql = (f"SELECT id, {', '.join(_COLUMNS)} FROM conversation "
           f"WHERE chat_id = {p} AND user_id = {p}")
    return sql + (" FOR UPDATE" if locking else "")


@lru_cache(maxsize=8)
def _update_sql(p: str) -> str:
    return (f"UPDATE conversation SET {', '.join(f'{c} = {p}' for c in _COLUMNS)}, "
            f"updated_at = {p} WHERE id = {p}")


def _dt(value: datetime | None):
    return Conversation._meta.fields["updated_at"].db_value(value) if value else None


def _supports_for_update() -> bool:
    from .storage import is_postgres
    return is_postgres()


def drop_conversations(user_id: int, *, except_chat: int | None = None) -> int:
    """Delete every conversation of `user_id` (their slots may hold what they typed), but
    the one in `except_chat` (a dialog running now saves its own); returns how many."""
    query = Conversation.delete().where(Conversation.user_id == int(user_id))
    if except_chat is not None:
        query = query.where(Conversation.chat_id != int(except_chat))
    return query.execute()
