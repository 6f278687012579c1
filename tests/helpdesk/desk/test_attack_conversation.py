"""Outside attack on the conversation (issue 16, point 2: "attachments too ... nothing
lost"). A client who answers "✉️ Написать по заявке" with an album (three photos picked
at once: Telegram sends three messages sharing a media_group_id) has the first photo
relayed; the flow ends with it, and the other two arrive at the main menu, where they are
nobody's input: lost without a word."""
from __future__ import annotations

import pytest

from engine import outgoing
from engine.events import FileRef, Reply
from helpdesk.desk.topics import topic_key
from tests.support.tickets import GROUP, file_ticket, queued
from tests.support.tickets import world_chat as chat

THREAD = 555
WRITE = "✉️ Написать по заявке"


@pytest.fixture
def desk(world):
    ticket = file_ticket(world, 101)
    row = outgoing.enqueue(Reply(GROUP, topic={"op": "create", "name": "#1"}), key=topic_key(ticket.id))
    outgoing.mark_sent(row, THREAD)
    return ticket


def _photo(file_id: str) -> FileRef:
    return FileRef(file_id, "photo", "", "image/jpeg", 1000)


def test_an_album_written_from_the_card_reaches_the_thread_whole(world, desk):
    c = chat(world, 101)
    c.click("📋 Мои заявки")
    c.click(next(b for b in c.buttons if b.startswith("#1")))
    c.click(WRITE)
    for n, caption in ((41, "Вот что на экране"), (42, ""), (43, "")):
        c.event(kind="file", files=(_photo(f"ph-{n}"),), text=caption, message_id=n,
                media_group_id="album-7")
    relayed = [r.photo for r in queued(GROUP, ":m101:")]
    assert relayed == ["ph-41", "ph-42", "ph-43"], f"only {relayed} of the album reached the thread"


def _sent(key: str, message_id: int) -> None:
    outgoing.mark_sent(outgoing.Outgoing.get(outgoing.Outgoing.key == key).id, message_id)


def test_a_staff_message_to_an_author_who_erased_their_data_is_answered_in_the_thread(world, desk):
    """The author used /forget (152-ФЗ): the ticket stays, its author is nobody
    (ERASED_USER_ID) and helpdesk.notices drops whatever is queued for nobody. A
    technician's answer in the topic is recorded as "relayed" and goes nowhere, and the
    thread is told nothing: the technician waits for an answer that cannot come."""
    from engine.testing import Chat
    from helpdesk.privacy.erase import forget
    from tests.support.tickets import TECH
    forget(101)
    g = Chat(world.app.engine, TECH, chat_id=GROUP, first_name="Пётр")
    replies = g.event(kind="text", text="Уточните адрес", message_id=7003, thread_id=THREAD,
                      chat_type="supergroup")
    assert [r for r in replies if r.chat_id == GROUP and r.text], \
        "nothing tells the thread that the message reached nobody"


def test_the_write_button_a_director_is_shown_does_not_end_in_a_refusal(world, desk):
    """Only the author writes on a ticket (conversation.from_client), yet the card offers
    "✉️ Написать по заявке" to whoever sees it (flows/tickets.yaml: when "ticket.active"):
    the director opens his employee's ticket, presses it, types the message, and only then
    is told "⛔ Эта заявка вам недоступна." about the ticket on his screen."""
    c = chat(world, 103)                                       # DIRECTOR of company A
    c.click("📋 Мои заявки")
    c.click(next(b for b in c.buttons if b.startswith("#1")))
    offered, refused = WRITE in c.buttons, False
    if offered:
        c.click(WRITE)
        c.event(kind="text", text="Что там с кассой?", message_id=35)
        refused = c.said("недоступна")
    assert not (offered and refused), "the button shown to him refuses what he wrote"
