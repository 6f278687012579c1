"""Pressing buttons as an attacker: a world with a ticket, a payment request and a pending
membership, and the check that a press was refused showing and changing nothing."""
from __future__ import annotations

import logging

from engine import storage
from engine.session import Conversation
from engine.testing import Chat
from helpdesk import payments as pay
from helpdesk.directory.tables import Membership
from tests.support.tickets import TECH, file_ticket, make_world

REFUSED = "Эта кнопка устарела или недоступна"
STRANGER, USER, ADMIN, DIRECTOR, PENDING, OTHER_ADMIN = 555, 101, 102, 103, 104, 105


def snapshot() -> dict:
    """Every row of every table, but conversations only by where they are, and an empty one
    as none (the engine keeps a row for each chat it has heard from: that is no target's
    state, and being at nowhere with nothing is the same as having no row)."""
    out = {}
    for model in storage.ALL_MODELS:
        if model is Conversation:
            rows = model.select(model.chat_id, model.user_id, model.flow, model.state,
                                model.stack, model.slots).where(
                model.flow.is_null(False) | (model.slots != "{}")).tuples()
        else:
            rows = model.select().tuples()
        out[model._meta.table_name] = sorted(map(repr, rows))
    return out


def press(world, user_id: int, data: str, *, chat_id: int | None = None):
    c = Chat(world.app.engine, user_id, chat_id=chat_id or user_id, first_name="Злоумышленник")
    return c.event(kind="button", data=data, message_id=1)


def assert_refused(world, user_id, data, caplog, chat_id=None):
    before = snapshot()
    with caplog.at_level(logging.INFO):
        replies = press(world, user_id, data, chat_id=chat_id)
    assert [(r.answer_only, r.callback_answer) for r in replies] == [(True, REFUSED)], replies
    assert snapshot() == before
    assert world.errors == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    for secret in ("Ромашка", "7701123456", "Касса", "1 500", "Имя101", "#1"):
        assert all(secret not in (r.callback_answer or "") for r in replies)


def refusal_world(monkeypatch):
    """The ticket world with a ticket of USER, a payment request on it, PENDING's membership
    and the engine's errors collected (a refusal must log none)."""
    w = make_world()
    w.errors = []
    monkeypatch.setattr(w.app.engine, "on_error", lambda event, error: w.errors.append(error))
    w.ticket = file_ticket(w, USER)
    w.request = pay.require_payment(w.app, w.ticket.id, 150000, by="crm")
    w.pending = Membership.get((Membership.telegram_user == PENDING)).id
    return w


def done_world(monkeypatch):
    """refusal_world with USER's ticket taken and done by TECH: its rating request is queued."""
    w = refusal_world(monkeypatch)
    w.svc.take(TECH, "Иван Петров", w.ticket.id)
    w.ticket = w.svc.done(TECH, "Иван Петров", w.ticket.id)
    return w
