"""Attack (issue 16, point 3): staff answer the private messages the desk sends them. The
assignee's private card and a dispatcher's breach ping are messages "about the ticket", so
a Telegram reply to them is read as the client writing on it, and the ticket's own
technician is told the ticket is not theirs to see."""
from __future__ import annotations

from engine import outgoing
from engine.testing import Chat
from tests.support.desk import CLIENT, DISPATCHER, TECH, TECH2, group_press, staff_roles
from tests.support.tickets import file_ticket, queued

DENIED = "Эта заявка вам недоступна"


def _sent(key_part: str, message_id: int) -> None:
    row = outgoing.Outgoing.get(outgoing.Outgoing.key.contains(key_part))
    outgoing.mark_sent(row.id, message_id)


def test_the_assignee_replying_to_their_private_card_is_not_told_the_ticket_is_not_theirs(world):
    staff_roles()
    t = file_ticket(world, CLIENT)
    group_press(world, DISPATCHER, f"as:{t.id}:{TECH2}:{t.version}")
    [card] = queued(TECH2, ":assigned:staff:")          # the card the assignee got privately
    _sent(":assigned:staff:", 4242)
    tech = Chat(world.app.engine, TECH2, first_name="Сидор")
    replies = tech.event(kind="text", text="Буду у вас в 15:00", message_id=77,
                         reply_to_message_id=4242, chat_type="private")
    texts = " ".join(r.text or "" for r in replies)
    # the ticket is assigned to them: "not available to you" is false and leaves them stuck
    assert DENIED not in texts, texts
    assert card.text


def test_a_dispatcher_replying_to_a_low_score_alert_is_not_told_the_ticket_is_not_theirs(world):
    from helpdesk.desk import ratings
    staff_roles()
    t = file_ticket(world, CLIENT)
    world.svc.take(TECH, "Пётр Петров", t.id)
    t = world.svc.done(TECH, "Пётр Петров", t.id)
    templates = world.app.engine.flowset.templates
    ratings.ask(templates, world.app.settings, t, t.closed)
    ratings.rate(templates, world.app.settings, CLIENT, t.id, 1)
    [alert] = queued(DISPATCHER, ":rate:low:")           # "оценка 1 из 5" to the dispatcher
    _sent(f":rate:low:{DISPATCHER}", 4343)
    dispatcher = Chat(world.app.engine, DISPATCHER, first_name="Диана")
    replies = dispatcher.event(kind="text", text="Разберусь, позвоню клиенту", message_id=78,
                               reply_to_message_id=4343, chat_type="private")
    texts = " ".join(r.text or "" for r in replies)
    assert DENIED not in texts, texts
    assert alert.text
