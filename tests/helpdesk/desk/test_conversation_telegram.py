"""The conversation through the real transport and the fake Bot API (a plain group: the
card is the thread, replies to it are the conversation): a technician's reply to the card
reaches the client as a message from support, the client's reply to that lands in the
group, and chatter in the group starts no menu there."""
from __future__ import annotations

import time

from helpdesk.tickets import TicketEvent
from tests.support.desk import eventually, known_sent, reply_json
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import running_bot
from tests.support.tickets import GROUP, TECH, file_ticket


def _messages(ticket_id: int) -> list[str]:
    rows = TicketEvent.select().where((TicketEvent.ticket == ticket_id) & (TicketEvent.what == "message"))
    return [e.details["text"] for e in rows.order_by(TicketEvent.id)]


def test_a_reply_to_the_card_and_the_clients_reply_to_it_go_both_ways(world, monkeypatch):
    monkeypatch.setattr(world.app.settings.notify.system, "work_group_id", -1234)  # a plain group
    with FakeTelegramAPI() as api, running_bot(world.app.engine, api):
        client, group = api.user(101, "Имя101"), api.group(-1234)
        ticket = file_ticket(world, 101)
        card = known_sent(api.wait_for(-1234, contains="#1", timeout=120))
        guest, tech = group.member(4242, "Гость"), group.member(TECH, "Пётр")
        guest._message(text="Когда починят?")                     # chatter: no menu
        tech._message(text="Еду, буду к 10", reply_to_message=reply_json(card, group.chat))
        support = known_sent(api.wait_for(101, contains="Еду, буду к 10", timeout=120))
        assert "Поддержка · Пётр" in support.plain_text
        client._message(text="Жду", reply_to_message=reply_json(support, client.chat))
        api.wait_for(-1234, contains="Жду", timeout=120)
        assert eventually(lambda: _messages(ticket.id) == ["Еду, буду к 10", "Жду"])
        assert not [m for m in api.messages(-1234) if "Главное меню" in (m.plain_text or "")]


def _until(condition, timeout: float = 120):
    """A liveness bound that fails the test: the value the condition gives."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def test_answers_quicker_than_the_bots_marks_are_neither_lost_nor_doubled(forum):
    """Telegram answers each send slowly: the topic exists and the support message is read
    before the bot wrote their ids down. A technician writing in the new topic at once, and
    the client replying to support's message the instant it arrives, still land, once each
    and in order (the lookup is put off until the mark is there). Failed before NotYet: the
    client's reply went to the dialogs and the technician's first message was dropped."""
    with FakeTelegramAPI(slow_answers=0.4) as api, running_bot(forum.app.engine, api):
        client, group = api.user(101, "Имя101"), api.group(GROUP, "Заявки", forum=True)
        ticket = file_ticket(forum, 101)
        topic = _until(lambda: next(iter(api.topics(GROUP)), None))
        tech = group.member(TECH, "Пётр", last_name="Иванов").in_topic(topic.thread_id)
        tech.send("Еду, буду к 10")                     # the topic's id is not marked yet
        support = api.wait_for(101, contains="Еду, буду к 10", timeout=120)
        client.send("Жду", reply_to=support.message_id)  # nor is this message's
        _until(lambda: [m for m in api.in_topic(GROUP, topic.thread_id) if "Жду" in (m.plain_text or "")])
        tech.send("Уже рядом")                           # a dialogue: each waits for the last
        api.wait_for(101, contains="Уже рядом", timeout=120)
        client.send("Хорошо", reply_to=api.last(101).message_id)
        assert _until(lambda: _messages(ticket.id) == ["Еду, буду к 10", "Жду", "Уже рядом", "Хорошо"])
        in_topic = _until(lambda: [m.plain_text for m in api.in_topic(GROUP, topic.thread_id)
                                   if "Хорошо" in (m.plain_text or "")] and
                          [m.plain_text or "" for m in api.in_topic(GROUP, topic.thread_id)])
    assert sum("Жду" in t for t in in_topic) == 1 and sum("Хорошо" in t for t in in_topic) == 1
    assert not [m for m in api.messages(101) if "Главное меню" in (m.plain_text or "")]
