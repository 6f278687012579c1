"""Whole dialogs through the real python-telegram-bot stack against the fake Bot API."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from engine import outgoing
from engine.session import Conversation
from engine.telegram.inbox import InboxItem
from helpdesk.app import build_app
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import call, free_port, open_sample, running_bot, walk_sample


@pytest.fixture
def api():
    with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
def engine(database, settings):
    settings.notify.system.work_group_id = -100777   # the call-back dialog needs someone to call
    return build_app(settings, connect=False).engine


def test_polling_dialog_menu_to_sample(api, engine):
    with running_bot(engine, api):
        user = api.user(1001, "Иван")
        walk_sample(user)
        api.wait_for(-100777, contains="Иван")                 # the work group got the request
    conv = Conversation.get(Conversation.chat_id == 1001)
    assert conv.flow == "menu" and conv.state == "main"
    assert InboxItem.select().where(InboxItem.status == "pending").count() == 0
    assert outgoing.pending_count() == 0
    answered = {a["id"] for a in api.callback_answers}
    pressed = [u["callback_query"]["id"] for u in _updates(api) if "callback_query" in u]
    assert pressed and set(pressed) <= answered


def _updates(api):
    return [json.loads(r.raw) for r in InboxItem.select().order_by(InboxItem.update_id)]


SECRET = "s3cret-T0ken_42"


def _post(url, update, secret=None):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, json.dumps(update).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def _webhook(api, engine):
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg"
    return url, running_bot(engine, api, mode="webhook", webhook_url=url, port=port, path="/tg",
                            secret_token=SECRET)


def test_webhook_dialog_menu_to_sample(api, engine):
    url, bot = _webhook(api, engine)
    with bot:
        assert api.webhook["url"] == url and api.webhook["secret_token"] == SECRET
        walk_sample(api.user(1002, "Пётр"), name="Пётр")
    assert all(d["error"] is None for d in api.webhook_deliveries)
    assert InboxItem.select().count() == len(api.webhook_deliveries)


def test_webhook_refuses_wrong_secret_and_applies_a_duplicate_once(api, engine):
    url, bot = _webhook(api, engine)
    update = {"update_id": 777001, "message": {
        "message_id": 1, "date": 0, "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        "chat": {"id": 1003, "type": "private", "first_name": "A"},
        "from": {"id": 1003, "is_bot": False, "first_name": "A", "language_code": "ru"}}}
    with bot:
        assert _post(url, update) == 403
        assert _post(url, update, "wrong") == 403
        assert _post(url, {"no": "update_id"}, SECRET) == 400
        assert InboxItem.select().count() == 0
        assert _post(url, update, SECRET) == 200
        assert _post(url, update, SECRET) == 200           # Telegram re-delivers: same update_id
        api.wait_for(1003, contains="Главное меню", since=0)
        time.sleep(0.3)
    assert len(api.messages(1003)) == 1
    assert [r.status for r in InboxItem.select()] == ["done"]


def test_other_messages_get_a_helpful_reply(api, engine):
    with running_bot(engine, api):
        user = api.user(1004)
        user.send("/start")
        user.wait_for(contains="Главное меню")
        user._message(sticker={"file_id": "S1", "file_unique_id": "U1", "type": "regular",
                               "width": 512, "height": 512, "is_animated": False,
                               "is_video": False})
        user.wait_for(contains="Я понимаю текст")


def test_commands_menu_from_templates_and_reminders_on_timeout(api, engine, settings):
    from engine.session import utcnow
    from helpdesk.ops.bot import command_texts
    commands = command_texts(settings, engine.flowset.templates)
    with running_bot(engine, api, commands=commands) as bot:
        assert api.commands()[0] == {"command": "start", "description": "Начать / главное меню"}
        described = {n for n in settings.engine.commands if engine.flowset.templates.exists(f"commands/{n}", "en")}
        assert {"start", "menu", "help", "cancel"} <= described
        assert {c["command"] for c in api.commands(language_code="en")} == described
        user = api.user(1005)
        user.send("/start")
        user.wait_for(contains="Главное меню")
        open_sample(user)
        Conversation.update(remind_at=utcnow()).where(Conversation.chat_id == 1005).execute()
        assert call(bot, bot.check_timeouts()) == 1
        api.wait_for(1005, contains="Вы не закончили", since=0)
