"""Conversations live in the database, not in RAM: loaded for one event, saved after it.

A conversation is (flow, state, slots, call stack, the buttons last shown, a step counter).
The step counter goes into inline buttons' callback data, so a button from an older screen
is recognised as stale instead of being applied to the wrong state.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import peewee

from .storage import BaseModel

__all__ = ["Conversation", "Session", "load_session", "save_session", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Conversation(BaseModel):
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


def load_session(chat_id: int, user_id: int, *, for_update: bool = False) -> Session:
    query = Conversation.select().where((Conversation.chat_id == chat_id) &
                                        (Conversation.user_id == user_id))
    if for_update and _supports_for_update():
        query = query.for_update()
    row = query.first()
    if row is None:
        return Session(chat_id, user_id)
    return Session(chat_id, user_id, row.flow, row.state, json.loads(row.stack),
                   json.loads(row.slots), json.loads(row.buttons), row.step, row.lang,
                   row.keyboard, row.remind_at, row.abandon_at, row.id)


def save_session(s: Session) -> None:
    fields = dict(flow=s.flow, state=s.state, stack=json.dumps(s.stack, ensure_ascii=False),
                  slots=json.dumps(s.slots, ensure_ascii=False, default=str),
                  buttons=json.dumps(s.buttons, ensure_ascii=False, default=str),
                  step=s.step, lang=s.lang, keyboard=s.keyboard, remind_at=s.remind_at,
                  abandon_at=s.abandon_at, updated_at=utcnow())
    if s.row_id is None:
        s.row_id = Conversation.insert(chat_id=s.chat_id, user_id=s.user_id, **fields).execute()
    else:
        Conversation.update(**fields).where(Conversation.id == s.row_id).execute()


def _supports_for_update() -> bool:
    from .storage import is_postgres
    return is_postgres()
