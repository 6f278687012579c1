"""Whole dialogs through the real python-telegram-bot stack against the fake Bot API."""
from __future__ import annotations

import pytest

from engine import notify
from engine.session import Conversation
from engine.telegram.inbox import InboxItem
from helpdesk.app import build_app
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import free_port, running_bot, walk_sample


@pytest.fixture
def api():
    with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
def engine(database, settings):
    return build_app(settings, connect=False).engine


def test_polling_dialog_menu_to_sample(api, engine):
    with running_bot(engine, api):
        user = api.user(1001, "Иван")
        walk_sample(user)
    conv = Conversation.get(Conversation.chat_id == 1001)
    assert conv.flow == "menu" and conv.state == "main"
    assert InboxItem.select().where(InboxItem.status == "pending").count() == 0
    assert notify.pending_count() == 0
    answered = {a["id"] for a in api.callback_answers}
    pressed = [u["callback_query"]["id"] for u in _updates(api) if "callback_query" in u]
    assert pressed and set(pressed) <= answered


def _updates(api):
    return [json_row(r) for r in InboxItem.select().order_by(InboxItem.update_id)]


def json_row(row):
    import json
    return json.loads(row.raw)
