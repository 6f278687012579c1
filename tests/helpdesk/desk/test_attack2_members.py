"""Attack (issue 16, "bad input": the bot removed from the group, nothing lost). The client
writes on a ticket while the bot is out of the work group (or just before it is removed,
the message still queued): the client is told it was sent, the group's queue is given up,
and when the bot is added back only the cards are queued again: the client's message never
reaches the ticket's thread."""
from __future__ import annotations

import pytest

from engine import outgoing
from engine.outgoing import PENDING, Outgoing
from engine.testing import Chat
from helpdesk.desk import staff
from helpdesk.desk.conversation import Conversation, Message
from helpdesk.desk.topics import post_key
from tests.support.desk import ADMIN, TECH, group_press, staff_roles
from tests.support.tickets import GROUP, file_ticket

TEXT = "Касса снова не печатает, мы на месте до 18:00"


def membership(world, old: str, new: str) -> None:
    """Telegram's my_chat_member update for the bot, as the adapter makes it."""
    Chat(world.app.engine, ADMIN, chat_id=GROUP, first_name="Анна").event(
        kind="member", chat_type="supergroup",
        member={"id": 1, "first_name": "bot", "last_name": "", "username": "", "is_bot": True,
                "old": old, "new": new, "me": True})


def _for_group(text: str) -> list:
    return [r for r in Outgoing.select().where((Outgoing.chat_id == GROUP) & (Outgoing.status == PENDING))
            if text in (outgoing.to_reply(r).text or "")]


@pytest.mark.parametrize("when", ["before the removal", "while the bot is out"])
def test_a_clients_message_written_around_an_outage_reaches_the_thread_when_the_bot_is_back(world, when):
    staff_roles()
    t = file_ticket(world, 101)
    card = Outgoing.get(Outgoing.key == post_key(t.id))
    outgoing.mark_sent(card.id, 555)                     # the card reached the group before
    talk = Conversation(world.app.settings, world.svc, world.app.engine.flowset.templates)
    if when == "before the removal":
        talk.from_client(101, t.id, Message(101, 9001, TEXT))
        membership(world, "administrator", "kicked")
    else:
        membership(world, "administrator", "kicked")
        talk.from_client(101, t.id, Message(101, 9001, TEXT))
        for row in _for_group(TEXT):                    # what the sender makes of it: a 403
            outgoing.mark_failed(row.id, "Forbidden: bot was kicked from the supergroup chat",
                                 retry_in=None)
    membership(world, "kicked", "administrator")
    # the client was told "sent": the thread must get it once the bot can post again
    assert len(_for_group(TEXT)) == 1


def test_a_card_changed_while_the_bot_was_out_shows_the_ticket_as_it_is_when_it_is_back(world):
    """The card reached the group; while the bot is out a technician takes the ticket from
    a private chat: the card's edit is refused (403) and given up. Back in the group only
    cards that never went out are posted again, so the group's card still says "Новая"
    with "🙋 Беру" on a ticket somebody works on, and the desk's record of the card
    (DeskThread.card) says it was edited, so nothing will correct it."""
    staff_roles()
    t = file_ticket(world, 101)
    outgoing.mark_sent(Outgoing.get(Outgoing.key == post_key(t.id)).id, 555)
    membership(world, "administrator", "kicked")
    group_press(world, TECH, f"wg:take:{t.id}", in_group=False)   # from the private card
    refused = list(Outgoing.select().where((Outgoing.chat_id == GROUP) & (Outgoing.status == PENDING)))
    assert any(outgoing.to_reply(r).edit_message_id == 555 for r in refused)   # the edit was queued
    for row in refused:
        outgoing.mark_failed(row.id, "Forbidden: bot was kicked from the supergroup chat", retry_in=None)
    membership(world, "kicked", "administrator")
    edits = [outgoing.to_reply(r) for r in Outgoing.select().where(
        (Outgoing.chat_id == GROUP) & (Outgoing.status == PENDING))]
    assert any(e.edit_message_id == 555 and "В работе" in (e.text or "") for e in edits), \
        [(e.edit_message_id, (e.text or "")[:40]) for e in edits]


def test_the_active_tickets_of_a_technician_who_leaves_are_not_left_with_nobody(world):
    """A technician who leaves the group loses the role, but the tickets they were working
    on stay "В работе, мастер: Пётр Петров" with nobody able to act as that master: no
    dispatcher is told, the tickets do not go back to the queue, the client waits."""
    from helpdesk.tickets import NEW, Ticket
    staff_roles()
    t = file_ticket(world, 101)
    group_press(world, TECH, f"wg:take:{t.id}")
    before = {r.id for r in Outgoing.select()}
    Chat(world.app.engine, ADMIN, chat_id=GROUP, first_name="Анна").event(
        kind="member", chat_type="supergroup",
        member={"id": TECH, "first_name": "Пётр", "last_name": "Петров", "username": "",
                "is_bot": False, "old": "member", "new": "left", "me": False})
    told = [r for r in Outgoing.select() if r.id not in before and r.chat_id in staff.dispatcher_ids()
            and f"#{t.id}" in (outgoing.to_reply(r).text or "")]
    assert Ticket.get_by_id(t.id).status == NEW or told, "nobody knows the ticket lost its master"
    if told:        # what the dispatcher reads names the leaver and the ticket
        text = outgoing.to_reply(told[0]).text
        assert "Пётр Петров" in text and "{" not in text, text


def test_a_message_refused_for_its_own_reason_is_not_tried_again_when_the_bot_is_back(world):
    """Only what the outage gave up is queued again: a row Telegram refused for itself
    (a 400 of its own) would only fail again and spend the group's 20 messages a minute."""
    staff_roles()
    t = file_ticket(world, 101)
    outgoing.mark_sent(Outgoing.get(Outgoing.key == post_key(t.id)).id, 555)
    talk = Conversation(world.app.settings, world.svc, world.app.engine.flowset.templates)
    talk.from_client(101, t.id, Message(101, 9001, TEXT))
    for row in _for_group(TEXT):
        outgoing.mark_failed(row.id, "Bad Request: message is too long", retry_in=None)
    membership(world, "administrator", "kicked")
    membership(world, "kicked", "administrator")
    assert _for_group(TEXT) == []
