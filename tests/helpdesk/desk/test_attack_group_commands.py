"""Outside attack (issue 16): dialog commands sent in the work group opened a dialog in front
of everyone (the main menu, the statistics, the erasure confirmation), and a command
addressed to another bot (`/staff@OtherBot`) was answered as ours. Over the real transport
and the fake Bot API: a dialog command in the group gets one short hint to write in private,
a command for another bot gets nothing, `/cmd@OurBot` works, and private chats keep their
dialogs."""
from __future__ import annotations

import pytest

from engine.session import load_session
from tests.support.desk import telegram_world
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import running_bot
from tests.support.tickets import GROUP

HINT = "Эта команда — для личного чата с ботом"
DIALOG = ("Главное меню", "Статистика", "удалить", "период")


@pytest.fixture
def api():
    with FakeTelegramAPI() as fake:
        fake.group(GROUP, "Поддержка")
        yield fake


@pytest.fixture
def tg_world(database, api):
    return telegram_world(api)


def _texts(api, chat_id) -> list[str]:
    return [m.plain_text or "" for m in api.messages(chat_id)]


def test_dialog_commands_in_the_work_group_open_no_dialog_there(tg_world, api):
    member = api.group(GROUP, "Поддержка").member(930, "Мария")
    with running_bot(tg_world.app.engine, api):
        for command in ("/start", "/stats", "/forget", "/menu@test_helpdesk_bot", "/help"):
            member.send(command)
            hint = api.wait_for(GROUP, contains=HINT, timeout=120)
            assert hint.reply_to is not None                       # answers that command
        member.send("Всем привет")                                 # chatter: nothing
        member.send("/staff")                                      # the group's own command
        api.wait_for(GROUP, contains="Состав поддержки", timeout=120)
    said = _texts(api, GROUP)
    assert not [t for t in said if any(word in t for word in DIALOG)], said
    assert len([t for t in said if HINT in t]) == 5
    assert not load_session(GROUP, 930).flow                       # no dialog waits there


def test_a_command_for_another_bot_is_ignored_and_ours_is_answered(tg_world, api):
    member = api.group(GROUP, "Поддержка").member(930, "Мария")
    client = api.user(101, "Имя101")
    with running_bot(tg_world.app.engine, api):
        member.send("/staff@OtherBot")
        member.send("/start@OtherBot")
        member.send("/staff@Test_Helpdesk_Bot")                    # ours: any letter case
        api.wait_for(GROUP, contains="Состав поддержки", timeout=120)
        client.send("/start@OtherBot")
        client.send("/start@test_helpdesk_bot")
        api.wait_for(101, contains="Главное меню", timeout=120)
    assert len(api.messages(GROUP)) == 1, _texts(api, GROUP)      # the roster, once
    assert len([t for t in _texts(api, 101) if "Главное меню" in t]) == 1
