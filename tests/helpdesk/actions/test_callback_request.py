"""The call-back request reaches the work group (queued durably), in the group's language."""
from __future__ import annotations

from engine.outgoing import Outgoing
from engine.testing import Chat
from helpdesk import config
from helpdesk.app import build_app
from tests.support.privacy import agree


def walk(engine, user_id=5150):
    chat = Chat(engine, user_id)
    chat.send("/start")
    chat.click("📞 Заказать обратный звонок")
    agree(chat)                                   # the consent comes first (152-ФЗ)
    chat.send("Пётр")
    chat.share_contact("+79123456780")
    chat.click("🌇 Вечером")
    chat.click("✅ Да")
    return chat


def test_request_goes_to_the_work_group(database):
    app = build_app(config.load(environ={"NOTIFY__SYSTEM__WORK_GROUP_ID": "-100777"}), connect=False)
    chat = walk(app.engine)
    assert chat.said("Мы позвоним по номеру +79123456780")
    rows = list(Outgoing.select().where(Outgoing.chat_id == -100777))
    assert len(rows) == 1
    assert "Пётр, +79123456780, вечером (пользователь Telegram 5150)" in rows[0].body


def test_without_a_work_group_no_call_back_is_offered_and_nothing_is_queued(database):
    app = build_app(config.load(environ={}), connect=False)
    chat = Chat(app.engine, 5150)
    chat.send("/start")
    assert "📞 Заказать обратный звонок" not in chat.buttons     # nobody would call
    chat.click("📝 Создать заявку")                              # the rest of the menu works
    assert Outgoing.select().where(Outgoing.chat_id < 0).count() == 0
