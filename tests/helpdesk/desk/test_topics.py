"""A topic per ticket, at the queue: what the real TicketService and the work group's buttons
leave in the outgoing queue for the work group (topic rows, the card, its edits), keyed so
nothing is queued twice, with no edit that changes nothing; staff named by their full name."""
from __future__ import annotations

from engine import outgoing
from engine.events import Event
from engine.outgoing import Outgoing
from engine.testing import Chat
from helpdesk import directory
from helpdesk.desk import staff, topics
from helpdesk.tickets import Ticket
from tests.support.tickets import GROUP, TECH, TECH2, file_ticket, make_settings, make_world

CARD_ID = 555          # the card's message id in the group, once "sent"


def group_rows() -> list[tuple[str, object]]:
    """(key, Reply) of every row queued for the work group, oldest first."""
    rows = Outgoing.select().where(Outgoing.chat_id == GROUP).order_by(Outgoing.id)
    return [(r.key, outgoing.to_reply(r)) for r in rows]


def topic_ops(ticket_id: int) -> list[tuple[str, str]]:
    """(op, name) of every topic row of the ticket, in order."""
    return [(r.topic["op"], r.topic.get("name", "")) for key, r in group_rows()
            if r.topic and key and key.startswith(f"t{ticket_id}:")]


def send(key: str, message_id: int) -> None:
    """The sender sent the row of `key` and Telegram gave it `message_id`."""
    outgoing.mark_sent(Outgoing.get(Outgoing.key == key).id, message_id)


def press(world, uid: int, data: str, *, first: str = "Иван", last: str | None = "Петров",
          message_id: int = CARD_ID) -> list:
    """A staff member presses a button on message `message_id` of the work group."""
    g = Chat(world.app.engine, uid, chat_id=GROUP, first_name=first)
    return g.engine.handle(Event(GROUP, uid, kind="button", data=data, message_id=message_id,
                                 first_name=first, last_name=last, chat_type="supergroup",
                                 language="ru"))


def test_a_new_ticket_queues_its_topic_then_its_card_inside_it(forum):
    t = file_ticket(forum, 101)
    (topic_key, topic), (card_key, card) = group_rows()
    assert topic_key == f"t{t.id}:topic" and topic.topic == {"op": "create",
                                                             "name": "🆕 #1 · Касса · ООО Ромашка"}
    assert topic.text == "" and topic.thread_key is None
    assert card_key == f"t{t.id}:post" and card.thread_key == f"t{t.id}:topic"
    assert "<b>Заявка #1</b>" in card.text and card.buttons[0][0].data == f"wg:take:{t.id}"


def test_the_topic_follows_the_status_renamed_closed_and_reopened(forum):
    t = file_ticket(forum, 101)
    send(f"t{t.id}:topic", 77)
    send(f"t{t.id}:post", CARD_ID)
    press(forum, TECH, f"wg:take:{t.id}")
    press(forum, TECH, f"wg:done:{t.id}")
    forum.svc.reopen(101, t.id)
    assert topic_ops(t.id) == [
        ("create", "🆕 #1 · Касса · ООО Ромашка"),
        ("edit", "🛠 #1 · Касса · ООО Ромашка"),            # taken
        ("edit", "✅ #1 · Касса · ООО Ромашка"), ("close", ""),   # done: final name, then closed
        ("reopen", ""), ("edit", "🛠 #1 · Касса · ООО Ромашка")]  # back to its technician
    ops = [(k, r) for k, r in group_rows() if r.topic and r.topic["op"] != "create"]
    assert all(r.thread_key == f"t{t.id}:topic" for _, r in ops)
    assert [k for k, _ in ops] == [f"t{t.id}:v2:topic-edit", f"t{t.id}:v3:topic-edit",
                                   f"t{t.id}:v3:topic-close", f"t{t.id}:v4:topic-reopen",
                                   f"t{t.id}:v4:topic-edit"]


def test_a_cancelled_ticket_closes_its_topic_once(forum):
    t = file_ticket(forum, 101)
    forum.svc.cancel(101, t.id, "Уже не нужно, разобрались сами")
    assert topic_ops(t.id)[1:] == [("edit", "❌ #1 · Касса · ООО Ромашка"), ("close", "")]
    told = dict(group_rows())[f"t{t.id}:v2:cancelled:group"]          # the group is told...
    assert "разобрались сами" in told.text and told.thread_key == f"t{t.id}:topic"   # ...in it
    forum.svc.crm_update(t.id, master_name="Сидоров")       # a later change of a closed ticket
    assert topic_ops(t.id)[1:] == [("edit", "❌ #1 · Касса · ООО Ромашка"), ("close", "")]


def test_a_replayed_press_queues_nothing_twice(forum):
    t = file_ticket(forum, 101)
    send(f"t{t.id}:post", CARD_ID)
    first = press(forum, TECH, f"wg:take:{t.id}")
    rows = group_rows()
    replay = press(forum, TECH, f"wg:take:{t.id}")            # the same update again
    assert "В работе" in first[-1].text and first[-1].edit_message_id == CARD_ID
    assert [(r.answer_only, r.callback_answer[:10]) for r in replay] == [(True, "Уже нельзя")]
    assert group_rows() == rows and Ticket.get_by_id(t.id).version == 2


def test_a_press_that_changes_nothing_is_only_answered(forum):
    t = file_ticket(forum, 101)
    send(f"t{t.id}:post", CARD_ID)
    press(forum, TECH, f"wg:take:{t.id}")
    late = press(forum, TECH2, f"wg:take:{t.id}", first="Пётр", last="Сидоров")
    assert [(r.answer_only, "Иван Петров" in r.callback_answer) for r in late] == [(True, True)]
    comment = [r for r in press(forum, TECH, f"wg:comment:{t.id}") if r.chat_id == GROUP]
    assert [(r.answer_only, r.edit_message_id) for r in comment] == [(True, None)]


def test_an_unchanged_card_from_the_crm_is_not_edited(forum):
    t = file_ticket(forum, 101)
    send(f"t{t.id}:topic", 77)
    send(f"t{t.id}:post", CARD_ID)
    before = group_rows()
    forum.svc.crm_update(t.id, crm_id="crm-1")                # nothing the card or topic shows
    assert group_rows() == before
    forum.svc.crm_update(t.id, master_name="Сидоров")
    (key, edit), = group_rows()[len(before):]
    assert key == f"t{t.id}:v3:post" and edit.edit_message_id == CARD_ID and "Сидоров" in edit.text


def test_an_edit_before_the_card_went_out_reaches_it(forum):
    t = file_ticket(forum, 101)
    forum.svc.crm_update(t.id, master_name="Сидоров")         # the card is still pending
    card = dict(group_rows())[f"t{t.id}:post"]
    assert "Сидоров" in card.text and card.thread_key == f"t{t.id}:topic"
    assert [k for k, r in group_rows() if r.edit_message_id or r.edit_key] == []
    outgoing.claim()                                            # now a sender is sending it
    forum.svc.crm_update(t.id, type="ЕГАИС")
    key, edit = group_rows()[-2]
    assert key == f"t{t.id}:v3:post" and edit.edit_key == f"t{t.id}:post"
    assert edit.edit_message_id is None and "ЕГАИС" in edit.text
    assert topic_ops(t.id)[-1] == ("edit", "🆕 #1 · ЕГАИС · ООО Ромашка")


def test_a_press_in_a_private_chat_also_edits_the_card(forum):
    t = file_ticket(forum, 101)
    send(f"t{t.id}:post", CARD_ID)
    g = Chat(forum.app.engine, TECH, first_name="Иван")
    g.event(kind="button", data=f"wg:take:{t.id}", message_id=12, last_name="Петров")
    assert g.turn[-1].edit_message_id == 12
    (key, edit), = [(k, r) for k, r in group_rows() if r.edit_message_id == CARD_ID]
    assert key == f"t{t.id}:v2:post" and "Иван Петров" in edit.text


def test_a_plain_group_has_no_topic_and_the_card_is_the_thread(database):
    w = make_world(make_settings())     # desk.topics auto (settings.yaml): never told it is a forum
    t = file_ticket(w, 101)
    (key, card), = group_rows()
    assert key == f"t{t.id}:post" and card.thread_key is None and card.topic is None
    send(key, CARD_ID)
    press(w, TECH, f"wg:take:{t.id}")
    press(w, TECH, f"wg:done:{t.id}")
    assert topic_ops(t.id) == [] and [k for k, _ in group_rows()] == [key]
    t2 = file_ticket(w, 102, description="Не работает ЕГАИС УТМ")
    send(f"t{t2.id}:post", CARD_ID + 1)
    w.svc.cancel(102, t2.id, "Уже не нужно, разобрались сами")
    told = dict(group_rows())[f"t{t2.id}:v2:cancelled:group"]
    assert told.reply_to_message_id == CARD_ID + 1 and told.thread_key is None   # a reply to the card


def test_a_topic_telegram_refused_gets_no_more_topic_rows(forum):
    t = file_ticket(forum, 101)
    topic = Outgoing.get(Outgoing.key == f"t{t.id}:topic")
    outgoing.mark_failed(topic.id, "Bad Request: the chat is not a forum", retry_in=None)
    press(forum, TECH, f"wg:take:{t.id}")
    assert topic_ops(t.id) == [("create", "🆕 #1 · Касса · ООО Ромашка")]
    assert not topics.has_topic(t.id)


def test_icon_ids_from_settings_go_with_the_topic_and_names_are_cut_to_128(database):
    settings = make_settings()
    settings.desk.topics = True
    settings.desk.topic_icon_ids = {"new": "5312536423851630001", "done": "5312536423851630002"}
    w = make_world(settings)
    t = file_ticket(w, 101)
    press(w, TECH, f"wg:done:{t.id}")
    creates, edits = [[r.topic for _, r in group_rows() if r.topic and r.topic["op"] == op]
                      for op in ("create", "edit")]
    assert creates[0]["icon_custom_emoji_id"] == "5312536423851630001"
    assert edits[0]["icon_custom_emoji_id"] == "5312536423851630002"
    view = {"id": t.id, "status": "new", "label": "#1", "type": "Касса", "counterparty": "Я" * 200,
            "author": ""}
    name, _ = topics.topic_name(settings, w.app.engine.flowset.templates, view)
    assert len(name) == 128 and name.startswith("🆕 #1 · Касса · ЯЯЯ")


# --- staff named by their full name ---------------------------------------------------
def test_the_card_and_history_name_staff_by_telegrams_first_and_last_name(forum):
    t = file_ticket(forum, 101)
    press(forum, TECH, f"wg:take:{t.id}", first="Иван", last="Петров")
    assert Ticket.get_by_id(t.id).master_name == "Иван Петров"


def test_the_crms_name_wins_and_the_roster_fills_a_missing_last_name(forum):
    contact, _ = directory.upsert_contact(forum.a, full_name="Петров Иван Сергеевич")
    directory.link_user(TECH, forum.a, "USER", contact=contact)
    t1, t2 = file_ticket(forum, 101), file_ticket(forum, 102, description="Не работает ЕГАИС УТМ")
    press(forum, TECH, f"wg:take:{t1.id}", first="Ваня", last=None)
    staff.grant(TECH2, staff.TECHNICIAN, first_name="Пётр", last_name="Сидоров")
    press(forum, TECH2, f"wg:take:{t2.id}", first="Пётр", last=None)
    assert Ticket.get_by_id(t1.id).master_name == "Петров Иван Сергеевич"
    assert Ticket.get_by_id(t2.id).master_name == "Пётр Сидоров"
