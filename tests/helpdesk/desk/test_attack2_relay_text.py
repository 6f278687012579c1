"""Attack (issue 16, point 2: "nothing lost"), through the real transport and the fake Bot
API (a plain group: the card is the thread).

* A text that starts with "/" is taken for a command wherever it is written. A technician
  answering in the thread "/opt/kassa/restart.sh — запустите и перезагрузите кассу" never
  reaches the client (the group handler drops every command that is no dialog's), and the
  technician sees no answer at all. A client replying to support with "/start не помогает"
  gets the main menu instead, and the thread never sees it.
* A text link (a word with a URL behind it, as Telegram's clients make with Ctrl+K) loses
  its URL: only the plain text is relayed, the client gets "скачайте обновление" with
  nothing to click.
"""
from __future__ import annotations

from tests.support.desk import eventually, known_sent, reply_json
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import running_bot
from tests.support.tickets import TECH, file_ticket

GROUP = -1234
URL = "https://updates.example.ru/kassa-5.2.exe"


def _desk(world, monkeypatch, api):
    monkeypatch.setattr(world.app.settings.notify.system, "work_group_id", GROUP)
    client, group = api.user(101, "Имя101"), api.group(GROUP)
    file_ticket(world, 101)
    card = known_sent(api.wait_for(GROUP, contains="#1", timeout=120))
    return client, group, card


def test_a_staff_answer_starting_with_a_slash_reaches_the_client(world, monkeypatch):
    with FakeTelegramAPI() as api, running_bot(world.app.engine, api):
        _, group, card = _desk(world, monkeypatch, api)
        tech = group.member(TECH, "Пётр")
        tech._message(text="/opt/kassa/restart.sh — запустите и перезагрузите кассу",
                      reply_to_message=reply_json(card, group.chat))
        tech._message(text="Потом напишите, помогло ли", reply_to_message=reply_json(card, group.chat))
        api.wait_for(101, contains="Потом напишите", timeout=120)    # the relay works
        assert any("restart.sh" in m.plain_text for m in api.messages(101))


def test_a_clients_reply_starting_with_a_slash_reaches_the_thread(world, monkeypatch):
    with FakeTelegramAPI() as api, running_bot(world.app.engine, api):
        client, group, card = _desk(world, monkeypatch, api)
        group.member(TECH, "Пётр")._message(text="Перезапустите кассу через /start в меню",
                                            reply_to_message=reply_json(card, group.chat))
        support = known_sent(api.wait_for(101, contains="Перезапустите", timeout=120))
        client._message(text="/start не помогает, касса так и висит",
                        reply_to_message=reply_json(support, client.chat))
        assert eventually(lambda: [m for m in api.messages(GROUP) if "не помогает" in m.plain_text]), \
            [m.plain_text[:60] for m in api.messages(101)][-3:]
def test_a_text_link_from_staff_reaches_the_client_with_its_url(world, monkeypatch):
    with FakeTelegramAPI() as api, running_bot(world.app.engine, api):
        _, group, card = _desk(world, monkeypatch, api)
        text = "Скачайте обновление и установите"
        group.member(TECH, "Пётр")._message(
            text=text, entities=[{"type": "text_link", "offset": 0, "length": 19, "url": URL}],
            reply_to_message=reply_json(card, group.chat))
        relayed = api.wait_for(101, contains="Скачайте обновление", timeout=120)
        assert URL in str(relayed.params), relayed.params


def test_a_reply_to_the_message_sent_confirmation_is_a_message_on_the_ticket(world, monkeypatch):
    """"✉️ Сообщение по заявке #1 отправлено в поддержку." names the ticket; a client who
    adds something by replying to it (as to any message about the ticket) gets the main menu
    and the thread never sees it: the confirmation is a dialog's answer, not a keyed row."""
    with FakeTelegramAPI() as api, running_bot(world.app.engine, api):
        client, group, card = _desk(world, monkeypatch, api)
        group.member(TECH, "Пётр")._message(text="Какая модель кассы?",
                                            reply_to_message=reply_json(card, group.chat))
        support = known_sent(api.wait_for(101, contains="Какая модель", timeout=120))
        client._message(text="Атол 30Ф", reply_to_message=reply_json(support, client.chat))
        sent = known_sent(api.wait_for(101, contains="отправлено в поддержку", timeout=120))
        api.wait_for(GROUP, contains="Атол 30Ф", timeout=120)
        client._message(text="И принтер этикеток тоже не печатает",
                        reply_to_message=reply_json(sent, client.chat))
        assert eventually(lambda: [m for m in api.messages(GROUP) if "принтер этикеток" in m.plain_text]), \
            [m.plain_text[:60] for m in api.messages(101)][-2:]
