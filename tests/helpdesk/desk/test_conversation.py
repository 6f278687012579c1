"""Conversation both ways (issue 16 point 2), as transcripts over the real engine: a staff
member writes in a ticket's forum topic (or, in a plain group, replies to its card) and the
client gets it from support; the client writes from the card or by replying to a message
about the ticket, and it lands in the thread. Every message is a ticket event and a CRM
comment; a note stays internal; chatter and strangers in the group change nothing; a
closed or deleted ticket gets a clear answer and nothing is relayed; a replayed update
doubles nothing."""
from __future__ import annotations

import pytest

from engine import outgoing
from engine.events import FileRef, Reply
from engine.session import load_session
from engine.testing import Chat
from helpdesk.desk import staff
from helpdesk.desk.conversation import Conversation, Message
from helpdesk.desk.topics import post_key, topic_key
from helpdesk.directory.roles import PermissionDenied
from helpdesk.sync.outbox import OutboxItem, payload_of
from helpdesk.tickets import DONE, Ticket, TicketEvent
from tests.support.tickets import GROUP, TECH, file_ticket, queued
from tests.support.tickets import world_chat as chat

THREAD = 555
STAFF = 950
WRITE = "✉️ Написать по заявке"


def open_topic(ticket_id: int, thread_id: int = THREAD) -> None:
    """The ticket's topic as Telegram created it: its outgoing row sent with the thread id."""
    row = outgoing.enqueue(Reply(GROUP, topic={"op": "create", "name": "#1"}), key=topic_key(ticket_id))
    outgoing.mark_sent(row, thread_id)


def sent(key: str, message_id: int) -> None:
    """The queued row `key` as Telegram delivered it, with its message id."""
    outgoing.mark_sent(outgoing.Outgoing.get(outgoing.Outgoing.key == key).id, message_id)


def _photo(file_id: str) -> FileRef:
    return FileRef(file_id, "photo", "", "image/jpeg", 1000)


def group_member(world, user_id: int = STAFF, **kw) -> Chat:
    """A person writing in the work group (first and last name as Telegram shows them)."""
    return Chat(world.app.engine, user_id, chat_id=GROUP, first_name=kw.pop("first_name", "Иван"), **kw)


def write(c: Chat, text: str, message_id: int, **where) -> list:
    return c.event(kind="text", text=text, message_id=message_id, chat_type="supergroup",
                   last_name="Петров", **where)


def events(ticket_id: int, what: str) -> list:
    return list(TicketEvent.select().where((TicketEvent.ticket == ticket_id) & (TicketEvent.what == what))
                .order_by(TicketEvent.id))


def comments(ticket_id: int) -> list[str]:
    rows = OutboxItem.select().where((OutboxItem.entity == "ticket") & (OutboxItem.entity_id == ticket_id))
    return [payload_of(r).get("comment") for r in rows.order_by(OutboxItem.id) if payload_of(r).get("comment")]


@pytest.fixture
def desk(world):
    staff.grant(STAFF, staff.TECHNICIAN, first_name="Иван", last_name="Петров")
    ticket = file_ticket(world, 101)
    open_topic(ticket.id)
    return ticket


# -- staff -> client ---------------------------------------------------------------------
def test_a_staff_message_in_the_topic_reaches_the_client_signed_with_the_staff_name(world, desk):
    replies = write(group_member(world), "Приеду завтра к 10", 7001, thread_id=THREAD)
    assert replies == []                                   # nothing said in the group
    [to_client] = queued(101, f"t{desk.id}:m{GROUP}:7001")
    assert "Поддержка · Иван Петров" in to_client.text and "Приеду завтра к 10" in to_client.text
    assert "#1" in to_client.text
    [event] = events(desk.id, "message")
    assert event.details["text"] == "Приеду завтра к 10" and event.details["by"] == "Иван Петров"
    assert event.source == "group"
    assert comments(desk.id) == ["Сообщение поддержки (Иван Петров): Приеду завтра к 10"]


def test_signed_as_support_only_when_the_setting_says_so(world, desk, monkeypatch):
    monkeypatch.setattr(world.app.settings.desk, "sign_with_name", False)
    write(group_member(world), "Проверьте питание", 7002, thread_id=THREAD)
    [to_client] = queued(101, ":m")
    assert "Поддержка</b>" in to_client.text and "Петров" not in to_client.text


def test_a_photo_goes_to_the_client_by_its_file_id_with_the_caption(world, desk):
    c = group_member(world)
    c.event(kind="file", files=(_photo("ph-1"),), text="Вот схема", message_id=7003,
            chat_type="supergroup", thread_id=THREAD)
    [to_client] = queued(101, ":m")
    assert to_client.photo == "ph-1" and "Вот схема" in to_client.text
    assert events(desk.id, "message")[0].details["files"] == [{"file_id": "ph-1", "kind": "photo", "name": ""}]


def test_a_note_stays_internal_and_off_the_clients_card(world, desk):
    write(group_member(world), "! клиент просил не звонить до обеда", 7004, thread_id=THREAD)
    assert queued(101, ":m") == []
    [note] = events(desk.id, "note")
    assert note.details["text"] == "клиент просил не звонить до обеда"
    assert all(e.what != "note" for e in world.svc.events(desk))
    assert comments(desk.id) == ["Заметка (Иван Петров): клиент просил не звонить до обеда"]


def test_messages_of_a_ticket_are_queued_in_the_order_they_came(world, desk):
    c = group_member(world)
    for i, text in enumerate(("первое", "второе", "третье")):
        write(c, text, 7100 + i, thread_id=THREAD)
    assert [r.text.split("\n")[1] for r in queued(101, ":m")] == ["первое", "второе", "третье"]


def test_the_same_update_applied_twice_is_relayed_once(world, desk):
    c = group_member(world)
    write(c, "Приеду завтра", 7005, thread_id=THREAD)
    write(c, "Приеду завтра", 7005, thread_id=THREAD)         # replayed after a SIGKILL
    assert len(queued(101, ":m")) == 1 and len(events(desk.id, "message")) == 1
    assert len(comments(desk.id)) == 1


def test_in_a_plain_group_a_reply_to_the_card_is_the_conversation(world):
    ticket = file_ticket(world, 101)
    sent(post_key(ticket.id), 8000)
    group_member(world, TECH).event(kind="text", text="Уже еду", message_id=7006, chat_type="group",
                                    reply_to_message_id=8000)
    [to_client] = queued(101, ":m")
    assert "Уже еду" in to_client.text


def test_chatter_and_strangers_in_the_group_change_nothing_and_start_no_menu(world, desk):
    stranger = group_member(world, 4242, first_name="Гость")
    assert write(stranger, "Когда починят?", 7007, thread_id=THREAD) == []          # not staff
    assert write(group_member(world), "обед в час", 7008) == []                    # no thread
    assert queued(101, ":m") == [] and events(desk.id, "message") == []
    assert load_session(GROUP, 4242).flow is None and load_session(GROUP, STAFF).flow is None


def test_a_staff_message_on_a_closed_ticket_is_answered_in_the_topic_and_not_relayed(world, desk):
    world.svc.done(TECH, "Петров", desk.id)
    [answer] = write(group_member(world), "Ещё вопрос", 7009, thread_id=THREAD)
    assert "закрыта" in answer.text and "«!»" in answer.text
    assert answer.thread_id == THREAD and answer.reply_to_message_id == 7009
    assert queued(101, ":m") == [] and events(desk.id, "message") == []


def test_a_staff_message_in_the_topic_of_a_deleted_ticket_is_answered_there(world, desk):
    TicketEvent.delete().where(TicketEvent.ticket == desk.id).execute()
    Ticket.delete().where(Ticket.id == desk.id).execute()
    [answer] = write(group_member(world), "Есть кто?", 7010, thread_id=THREAD)
    assert "больше нет" in answer.text and answer.thread_id == THREAD
    assert queued(101, ":m") == []


# -- client -> staff ---------------------------------------------------------------------
def test_a_reply_to_a_notification_lands_in_the_topic(world, desk):
    world.svc.take(TECH, "Петров", desk.id)
    [notice] = [r for r in outgoing.Outgoing.select() if r.chat_id == 101 and ":taken:" in (r.key or "")]
    outgoing.mark_sent(notice.id, 9001)
    c = Chat(world.app.engine, 101)
    c.event(kind="text", text="Жду после обеда", message_id=31, reply_to_message_id=9001)
    assert c.said("отправлено в поддержку")
    [to_thread] = queued(GROUP, f"t{desk.id}:m101:31")
    assert to_thread.thread_key == topic_key(desk.id) and "Жду после обеда" in to_thread.text
    assert "Имя101" in to_thread.text
    assert events(desk.id, "message")[0].source == "bot"
    assert comments(desk.id)[-1] == "Сообщение клиента (Имя101): Жду после обеда"


def test_a_client_replying_to_a_support_message_answers_in_the_topic(world, desk):
    write(group_member(world), "Пришлите фото чека", 7011, thread_id=THREAD)
    sent(f"t{desk.id}:m{GROUP}:7011", 9002)
    c = Chat(world.app.engine, 101)
    c.event(kind="file", files=(_photo("ph-2"),), message_id=32, reply_to_message_id=9002)
    [to_thread] = queued(GROUP, ":m101:32")
    assert to_thread.photo == "ph-2"


def test_the_client_writes_from_the_card_and_sees_it_in_the_history(world, desk):
    c = chat(world, 101)
    c.click("📋 Мои заявки")
    c.click(next(b for b in c.buttons if b.startswith("#1")))
    c.click(WRITE)
    assert c.said("Напишите сообщение по заявке #1")
    c.event(kind="text", text="Касса снова мигает", message_id=33)
    assert c.said("отправлено в поддержку")
    assert "сообщение (Имя101): Касса снова мигает" in c.last_text       # back on the card
    assert "Касса снова мигает" in queued(GROUP, ":m101:33")[0].text


def test_a_client_writing_on_a_ticket_closed_meanwhile_keeps_the_message_and_may_reopen(world, desk):
    c = chat(world, 101)
    c.click("📋 Мои заявки")
    c.click(next(b for b in c.buttons if b.startswith("#1")))
    c.click(WRITE)
    world.svc.take(TECH, "Петров", desk.id)
    world.svc.done(TECH, "Петров", desk.id)                    # closed while the client types
    c.event(kind="text", text="И ещё принтер", message_id=34)
    assert c.said("уже закрыта") and c.said("Ваше сообщение: И ещё принтер")
    assert queued(GROUP, ":m101:") == []
    c.click("↩️ Возобновить (проблема не решена)")
    assert c.said("возобновлена") and c.said("отправлено в поддержку")
    assert Ticket.get_by_id(desk.id).status != DONE
    assert "И ещё принтер" in queued(GROUP, ":m101:34")[0].text


def test_a_reply_on_a_closed_ticket_offers_reopening_with_the_message_kept(world, desk):
    world.svc.take(TECH, "Петров", desk.id)
    key = next(r.key for r in outgoing.Outgoing.select() if r.chat_id == 101 and ":taken:" in (r.key or ""))
    sent(key, 9003)
    world.svc.done(TECH, "Петров", desk.id)
    c = Chat(world.app.engine, 101)
    c.event(kind="text", text="Не работает опять", message_id=35, reply_to_message_id=9003)
    assert c.said("уже закрыта") and "↩️ Возобновить (проблема не решена)" in c.buttons
    c.click("↩️ Возобновить (проблема не решена)")
    assert "Не работает опять" in queued(GROUP, ":m101:35")[0].text


def test_someone_elses_ticket_is_refused_by_the_service(world, desk):
    conversation = Conversation(world.app.settings, world.svc, world.app.engine.flowset.templates)
    with pytest.raises(PermissionDenied):
        conversation.from_client(105, desk.id, Message(105, 36, "чужая заявка"))
    assert events(desk.id, "message") == [] and queued(GROUP, ":m105:") == []


def test_a_reply_to_an_ordinary_message_is_left_to_the_dialogs(world, desk):
    c = chat(world, 101)
    c.event(kind="text", text="привет", message_id=37, reply_to_message_id=12345)
    assert queued(GROUP, ":m101:") == [] and not c.said("отправлено в поддержку")



# -- found by an outside attack --------------------------------------------------------------
def test_an_albums_uncaptioned_photos_stay_in_a_note_the_caption_made(world, desk):
    """Telegram puts an album's caption on its first item: the second photo of a note's
    album was relayed to the client."""
    c = group_member(world)
    for message_id, caption in ((7101, "!внутреннее: пароль кассы"), (7102, "")):
        c.event(kind="file", files=(_photo(f"ph-{message_id}"),), text=caption, message_id=message_id,
                chat_type="supergroup", thread_id=THREAD, media_group_id="album-1")
    assert queued(101, ":m") == []
    assert [len(e.details["files"]) for e in events(desk.id, "note")] == [1, 1]
    c.event(kind="file", files=(_photo("ph-other"),), text="", message_id=7103,
            chat_type="supergroup", thread_id=THREAD, media_group_id="album-2")
    assert [r.photo for r in queued(101, ":m")] == ["ph-other"]          # another album: relayed


def test_a_long_staff_message_reaches_the_client_as_one_message(world, desk):
    """4,096 '<' escape to 16,384 characters: relayed whole it went out in parts, each
    resent after a 429 on a later one. Now it is one message, the full text in the event."""
    write(group_member(world), "<" * 4096, 7201, thread_id=THREAD)
    [to_client] = queued(101, ":m")
    assert len(to_client.text) <= 4096 and to_client.text.rstrip().endswith("…") or "…" in to_client.text
    assert events(desk.id, "message")[0].details["text"] == "<" * 4096


def test_a_colleague_who_sees_the_card_cannot_write_on_it(world, desk):
    """Staff answer the author: a director writing on his employee's ticket got no answer,
    and the author an answer to what they never wrote."""
    conv = Conversation(world.app.settings, world.svc, world.app.engine.flowset.templates)
    with pytest.raises(PermissionDenied):
        conv.from_client(103, desk.id, Message(103, 8001, "Что там с кассой?"))
    assert events(desk.id, "message") == []
