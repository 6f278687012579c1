"""The whole desk loop in a forum work group, through the real transport and the fake Bot API:
a ticket opens its own topic with its card, a technician writes in the topic and the client
reads it from support, the client answers and it lands in the topic, an internal note stays
in the group, Done closes the topic and asks the client for a rating."""
from __future__ import annotations

import time

import pytest

from helpdesk.tickets import TicketEvent
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import running_bot
from tests.support.tickets import GROUP, TECH, file_ticket


def _until(condition, timeout: float = 120):
    """A liveness bound, not a timing assertion: the condition usually holds at once."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def _events(ticket_id: int, what: str) -> list[str]:
    rows = TicketEvent.select().where((TicketEvent.ticket == ticket_id) & (TicketEvent.what == what))
    return [e.details.get("text", "") for e in rows.order_by(TicketEvent.id)]


@pytest.mark.timeout(600)            # a dozen steps, each waiting on the real transport
def test_a_ticket_lives_in_its_topic_from_card_to_rating(world, monkeypatch):
    monkeypatch.setattr(world.app.settings.desk, "topics", True)
    with FakeTelegramAPI() as api, running_bot(world.app.engine, api):
        client, group = api.user(101, "Имя101"), api.group(GROUP, "Заявки", forum=True)
        ticket = file_ticket(world, 101)
        topic = _until(lambda: next(iter(api.topics(GROUP)), None))
        assert topic.name.startswith("🆕") and f"#{ticket.id}" in topic.name
        card = _until(lambda: next((m for m in api.in_topic(GROUP, topic.thread_id)
                                    if f"#{ticket.id}" in (m.plain_text or "")), None))
        assert card.buttons                                         # the staff buttons open it

        tech = group.member(TECH, "Пётр", last_name="Иванов").in_topic(topic.thread_id)
        tech.send("Еду, буду к 10")
        tech.send("!клиент раздражён, аккуратно")                   # an internal note
        support = api.wait_for(101, contains="Еду, буду к 10", timeout=120)
        assert "Пётр Иванов" in support.plain_text or "Поддержка" in support.plain_text

        client.send("Жду", reply_to=support.message_id)
        _until(lambda: [m for m in api.in_topic(GROUP, topic.thread_id) if "Жду" in (m.plain_text or "")])
        assert _until(lambda: _events(ticket.id, "message") == ["Еду, буду к 10", "Жду"])
        assert _events(ticket.id, "note") == ["клиент раздражён, аккуратно"] or \
            _events(ticket.id, "note") == ["!клиент раздражён, аккуратно"]
        assert not [m for m in api.messages(101) if "раздражён" in (m.plain_text or "")]

        group.member(TECH, "Пётр", last_name="Иванов").press_data(
            next(b["callback_data"] for b in card.buttons if b["callback_data"].startswith("wg:take")),
            message_id=card.message_id)
        _until(lambda: api.topic(GROUP, topic.thread_id).name.startswith("🛠"))
        done = _until(lambda: next((b["callback_data"] for m in api.in_topic(GROUP, topic.thread_id)
                                    for b in m.buttons if b["callback_data"].startswith("wg:done")), None))
        group.member(TECH, "Пётр", last_name="Иванов").press_data(done, message_id=card.message_id)
        _until(lambda: api.topic(GROUP, topic.thread_id).closed)
        rating = api.wait_for(101, lambda m: any(b.get("callback_data", "").startswith("rt:")
                                                 for b in m.buttons), timeout=120)
        assert [b["text"] for b in rating.buttons if b["callback_data"].startswith("rt:")][:5]
        assert len(api.topics(GROUP)) == 1                          # one topic, never two
