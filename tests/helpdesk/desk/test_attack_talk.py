"""Outside attack (issue 16, point 2): the technician a ticket is assigned to replies
(Telegram's Reply) to the assignment notice in his private chat with the bot, and was told
the ticket is "недоступна": the reply went down the client's path, which only the author
may take. Through the real transport and the fake Bot API: his reply reaches the client as
a message from support (an event of the ticket, like one written in its thread) and he is
told so; a staff member the ticket is not assigned to is told where to write instead."""
from __future__ import annotations

import time

import pytest

from helpdesk.tickets import Ticket, TicketEvent
from tests.support.desk import (
    CLIENT,
    DISPATCHER,
    GROUP,
    TECH,
    TECH2,
    group_press,
    staff_roles,
    telegram_world,
)
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import running_bot
from tests.support.tickets import file_ticket


@pytest.fixture
def api():
    with FakeTelegramAPI() as fake:
        fake.group(GROUP, "Поддержка")
        yield fake


@pytest.fixture
def tg_world(database, api):
    world = telegram_world(api)
    staff_roles()
    return world


def _messages(ticket_id: int) -> list[str]:
    rows = TicketEvent.select().where((TicketEvent.ticket == ticket_id) & (TicketEvent.what == "message"))
    return [e.details["text"] for e in rows.order_by(TicketEvent.id)]


def _until(condition, timeout: float = 120):
    """A liveness bound, not a timing assertion: the condition usually holds at once."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_assignee_replying_to_his_notice_reaches_the_client(tg_world, api):
    t = file_ticket(tg_world, CLIENT)
    group_press(tg_world, DISPATCHER, f"as:{t.id}:{TECH}:{t.version}", name="Диана")
    tech = api.user(TECH, "Пётр", last_name="Петров")
    with running_bot(tg_world.app.engine, api):
        notice = api.wait_for(TECH, contains="Вам назначена заявка", timeout=120)
        tech.send("Буду у вас в 15:00", reply_to=notice.message_id)
        told = api.wait_for(TECH, contains="клиенту", timeout=120)
        support = api.wait_for(CLIENT, contains="Буду у вас в 15:00", timeout=120)
        group_press(tg_world, DISPATCHER, f"as:{t.id}:{TECH2}:{Ticket.get_by_id(t.id).version}",
                    name="Диана")                                  # given to another technician
        tech.send("Я всё-таки заеду", reply_to=notice.message_id)
        api.wait_for(TECH, contains="назначена не вам", timeout=120)
    assert "недоступна" not in told.plain_text and "#1" in told.plain_text
    assert "Поддержка" in support.plain_text and "Пётр Петров" in support.plain_text
    assert _until(lambda: _messages(t.id) == ["Буду у вас в 15:00"])
    assert not [m for m in api.messages(CLIENT) if "Я всё-таки заеду" in (m.plain_text or "")]
