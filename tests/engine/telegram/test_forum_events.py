"""Group and topic messages as the fake Bot API words them (like Telegram), turned into
`Event`s by engine/telegram/incoming.py; and relays out: copies and replies into topics, sent by the real
transport."""
from __future__ import annotations

import time

from engine import Reply, outgoing
from engine.storage import write_tx
from engine.telegram.incoming import to_event
from tests.support.telegram_harness import running_bot

GROUP = -1005002
CLIENT = 3201


def event_of(update: dict):
    return to_event(update)


def sent_rows(ids: list[int], timeout: float = 30) -> list[outgoing.Outgoing]:
    deadline = time.monotonic() + timeout
    while True:
        rows = [outgoing.Outgoing.get_by_id(i) for i in ids]
        if all(r.status in ("sent", "dead") for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_topic_message_a_reply_and_a_photo_become_events_with_their_thread(api):
    group = api.group(GROUP, "Заявки", forum=True)
    thread = api.call(api.token, "createForumTopic", {"chat_id": GROUP, "name": "#3"})["message_thread_id"]
    created = event_of(api.pending_updates()[-1])
    staff = group.member(7, "Анна", last_name="Петрова").in_topic(thread)
    text = event_of(staff.send("Проверьте кабель"))
    reply = event_of(staff.send("Это ответ", reply_to=text.message_id))
    photo = event_of(staff.send_photo(caption="схема"))
    outside = event_of(group.member(8, "Олег").send("в общий чат"))

    assert created.topic == {"op": "created", "name": "#3"} and created.thread_id == thread
    assert (text.chat_type, text.thread_id, text.reply_to_message_id) == ("supergroup", thread, None)
    assert (text.first_name, text.last_name) == ("Анна", "Петрова")
    assert reply.thread_id == thread and reply.reply_to_message_id == text.message_id
    assert photo.kind == "file" and photo.thread_id == thread and photo.text == "схема"
    assert outside.thread_id is None and outside.reply_to_message_id is None


def test_topic_service_messages_name_their_operation(api):
    api.group(GROUP, forum=True)
    thread = api.call(api.token, "createForumTopic", {"chat_id": GROUP, "name": "#3"})["message_thread_id"]
    for method, extra in (("editForumTopic", {"name": "✅ #3"}), ("closeForumTopic", {}),
                          ("reopenForumTopic", {})):
        api.call(api.token, method, {"chat_id": GROUP, "message_thread_id": thread, **extra})
    ops = [event_of(u).topic for u in api.pending_updates()]
    assert ops == [{"op": "created", "name": "#3"}, {"op": "edited", "name": "✅ #3"},
                   {"op": "closed", "name": ""}, {"op": "reopened", "name": ""}]


def test_copies_and_replies_go_where_they_are_aimed(api, forum_engine):
    group = api.group(GROUP, "Заявки", forum=True)
    with running_bot(forum_engine, api) as bot:
        with write_tx():
            topic = outgoing.enqueue(Reply(GROUP, topic={"op": "create", "name": "#3"}), key="t3:topic")
            card = outgoing.enqueue(Reply(GROUP, "карточка", thread_key="t3:topic"))
        bot.loop.call_soon_threadsafe(bot.sender.kick)
        thread, card_id = [r.message_id for r in sent_rows([topic, card])]
        staff = group.member(7, "Анна").in_topic(thread)
        said = staff.send_photo(caption="фото")["message"]["message_id"]
        client = api.user(CLIENT).send("спасибо")["message"]["message_id"]
        with write_tx():
            ids = [outgoing.enqueue(Reply(CLIENT, "Анна: фото", copy_from={"chat_id": GROUP, "message_id": said})),
                   outgoing.enqueue(Reply(GROUP, "", copy_from={"chat_id": CLIENT, "message_id": client},
                                          thread_key="t3:topic")),
                   outgoing.enqueue(Reply(GROUP, "ответ на карточку", reply_to_message_id=card_id,
                                          thread_id=thread)),
                   outgoing.enqueue(Reply(GROUP, "на удалённое", reply_to_message_id=9999))]
        bot.loop.call_soon_threadsafe(bot.sender.kick)
        rows = sent_rows(ids)
    assert [r.status for r in rows] == ["sent"] * 4
    [to_client] = [m for m in api.messages(CLIENT) if m.method == "copyMessage"]
    assert to_client.photo and to_client.caption == "Анна: фото"
    in_topic = group.in_topic(thread)
    assert [m.content for m in in_topic] == ["карточка", "спасибо", "ответ на карточку"]
    assert in_topic[2].reply_to == card_id
    [gone] = [m for m in api.messages(GROUP) if m.content == "на удалённое"]
    assert gone.reply_to is None                         # the replied message is gone: sent anyway


def test_membership_changes_and_an_upgrade_become_events(api):
    group = api.group(GROUP, "Заявки", forum=True)
    admin = group.member(5, "Анна", status="creator")
    tech = group.member(7, "Пётр", last_name="Петров")
    group.member_changed(tech, "left")
    left = event_of(api.pending_updates()[-1])
    assert left.kind == "member" and left.chat_id == GROUP and left.user_id == 7
    assert left.member["id"] == 7 and (left.member["old"], left.member["new"]) == ("member", "left")
    assert not left.member["me"] and left.chat_is_forum is True
    group.bot_removed(admin)
    removed = event_of(api.pending_updates()[-1])
    assert removed.kind == "member" and removed.user_id == 5 and removed.member["me"]
    assert removed.member["new"] == "kicked" and removed.member["id"] == api.bot_id
    group.bot_added(admin)
    assert event_of(api.pending_updates()[-1]).member["new"] == "administrator"
    plain = api.group(-5003, "Старая")
    said = event_of(plain.member(5, "Анна").send("привет"))
    assert said.chat_is_forum is False and said.migrate_to_chat_id is None
    plain.migrate(-1005003, admin)
    assert event_of(api.pending_updates()[-1]).migrate_to_chat_id == -1005003


def test_a_private_chats_membership_is_no_event(api):
    user = api.user(41, "Ира")
    update = {"update_id": 1, "my_chat_member": {"chat": user.chat, "from": user.user, "date": 1,
                                 "old_chat_member": {"status": "member", "user": api.bot_user},
                                 "new_chat_member": {"status": "kicked", "user": api.bot_user,
                                                     "until_date": 0}}}
    assert event_of(update) is None


def test_a_row_to_a_group_upgraded_meanwhile_goes_to_its_supergroup(api, forum_engine):
    old = api.group(-5004, "Старая")
    old.migrate(-1005004, old.member(5, "Анна"))
    with running_bot(forum_engine, api) as bot:
        with write_tx():
            row = outgoing.enqueue(Reply(-5004, "карточка"))
        bot.loop.call_soon_threadsafe(bot.sender.kick)
        [sent] = sent_rows([row])
    assert sent.status == "sent" and "карточка" in [m.text for m in api.messages(-1005004)]
    assert api.messages(-5004) == []
