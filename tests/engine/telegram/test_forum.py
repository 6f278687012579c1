"""Forum topics through the real transport and the fake Bot API: a topic row creates the
topic, rows aimed at it by key wait for it and land in it in order, a dead or deleted topic
sends to the group itself, a topic is created exactly once across a 429, a crash and a lost
answer, and an edit that changes nothing is never sent."""
from __future__ import annotations

import time

import pytest

from engine import Button, Reply, outgoing
from engine.storage import write_tx
from engine.telegram import forum
from tests.support.fakes.telegram_api import NOT_MODIFIED
from tests.support.telegram_harness import running_bot

GROUP = -1005001
TOPIC = "t1:topic"
NAME = "#1 · Касса · ООО «Лютик»"
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")


def queue(bot, *rows) -> list[int]:
    """(reply, key, priority) rows into the outgoing queue, then the sender drains them."""
    with write_tx():
        ids = [outgoing.enqueue(reply, key=key, priority=priority) for reply, key, priority in rows]
    bot.loop.call_soon_threadsafe(bot.sender.kick)
    return ids


def create(name: str = NAME) -> tuple:
    return Reply(GROUP, topic={"op": "create", "name": name}), TOPIC, 5


def into(text: str, priority: int = 5, **extra) -> tuple:
    return Reply(GROUP, text, thread_key=TOPIC, **extra), None, priority


def settled(ids: list[int], timeout: float = 30) -> list[outgoing.Outgoing]:
    """The rows once none is pending or being sent (a liveness bound, not a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = [outgoing.Outgoing.get_by_id(i) for i in ids]
        if all(r.status in (outgoing.SENT, outgoing.DEAD) for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_topic_is_created_and_its_messages_land_in_it_in_order(api, forum_engine):
    group = api.group(GROUP, "Заявки", forum=True)
    with running_bot(forum_engine, api) as bot:
        # the messages are queued ahead of the topic (priority 0): they wait for it, in order
        ids = queue(bot, create(), into("карточка", 0), into("первое", 0), into("второе", 5))
        rows = settled(ids)
        ops = queue(bot, (Reply(GROUP, thread_key=TOPIC, topic={"op": "edit", "name": "✅ #1"}), None, 5),
                    (Reply(GROUP, thread_key=TOPIC, topic={"op": "close"}), None, 5))
        settled(ops)
    [topic] = group.topics()
    assert [r.status for r in rows] == ["sent"] * 4 and rows[0].message_id == topic.thread_id
    assert [m.text for m in group.in_topic(topic.thread_id)] == ["карточка", "первое", "второе"]
    assert topic.name == "✅ #1" and topic.closed
    assert api.requests["createForumTopic"] == 1


def test_a_dead_topic_row_sends_its_messages_to_the_group_itself(api, forum_engine):
    group = api.group(GROUP, "Заявки")                      # not a forum
    reports = []
    with running_bot(forum_engine, api, on_error=lambda where, e: reports.append(where)) as bot:
        ids = queue(bot, create(), into("карточка"),
                    (Reply(GROUP, thread_key=TOPIC, topic={"op": "close"}), None, 5))
        rows = settled(ids)
    assert rows[0].status == "dead" and "not a forum" in rows[0].error
    assert reports == []                       # a group that is not a forum: no bug report
    assert rows[1].status == "sent" and [m.text for m in api.messages(GROUP)] == ["карточка"]
    assert api.messages(GROUP)[0].thread_id is None
    assert rows[2].status == "dead" and "never created" in rows[2].error
    assert group.topics() == [] and forum.TopicAttempt.select().count() == 0


def test_a_deleted_topic_or_a_group_turned_plain_gets_its_messages_in_the_group(api, forum_engine):
    group = api.group(GROUP, "Заявки", forum=True)
    reports = []
    with running_bot(forum_engine, api, on_error=lambda where, e: reports.append(where)) as bot:
        settled(queue(bot, create(), into("в теме")))
        thread = group.topics()[0].thread_id
        group.set_forum(False)                              # "turned plain meanwhile"
        rows = settled(queue(bot, into("после"), into("фото", photo=b"\xff\xd8 jpeg"),
                             (Reply(GROUP, thread_key=TOPIC, topic={"op": "close"}), None, 5)))
    assert [r.status for r in rows[:2]] == ["sent", "sent"]
    assert rows[2].status == "dead" and "not a forum" in rows[2].error.lower()   # nothing to close
    assert reports == []                                    # expected, not a bug
    after = api.messages(GROUP)[-2:]
    assert [m.content for m in after] == ["после", "фото"]
    assert [m.thread_id for m in after] == [None, None]
    assert [m.text for m in group.in_topic(thread)] == ["в теме"]


def test_a_429_on_create_is_not_a_topic_and_is_retried(api, forum_engine):
    group = api.group(GROUP, "Заявки", forum=True)
    api.fail_next("createForumTopic", 429, "Too Many Requests: retry after 1", retry_after=1)
    with running_bot(forum_engine, api) as bot:
        rows = settled(queue(bot, create(), into("карточка")))
    assert [r.status for r in rows] == ["sent", "sent"]
    assert len(group.topics()) == 1 and api.requests["createForumTopic"] == 2
    assert [m.text for m in group.in_topic(rows[0].message_id)] == ["карточка"]


def test_a_crash_after_telegram_created_the_topic_adopts_it(api, forum_engine):
    """The earlier run called createForumTopic (its attempt is written), Telegram made the
    topic and announced it, the run died before the mark: no second topic."""
    group = api.group(GROUP, "Заявки", forum=True)
    with write_tx():
        row_id = outgoing.enqueue(create()[0], key=TOPIC)
        forum.record_attempt(row_id, GROUP, NAME)
    made = api.call(api.token, "createForumTopic", {"chat_id": GROUP, "name": NAME})
    with running_bot(forum_engine, api, topic_grace=60) as bot:
        rows = settled(queue(bot, into("карточка")) + [row_id])
    assert [r.status for r in rows] == ["sent", "sent"]
    assert rows[1].message_id == made["message_thread_id"] and len(group.topics()) == 1
    assert api.requests["createForumTopic"] == 1            # only the earlier run's call
    assert [m.text for m in group.in_topic(made["message_thread_id"])] == ["карточка"]


def test_a_create_whose_answer_is_lost_on_the_way_back_adopts_what_it_made(api, forum_engine):
    """Telegram made the topic, the bot got a 502 instead of the answer: the retry finds the
    topic in its service update instead of making a second one."""
    group = api.group(GROUP, "Заявки", forum=True)
    api.lose_next_answer("createForumTopic")
    with running_bot(forum_engine, api, topic_grace=60) as bot:
        rows = settled(queue(bot, create(), into("карточка")))
    [topic] = group.topics()
    assert [r.status for r in rows] == ["sent", "sent"] and rows[0].message_id == topic.thread_id
    assert api.requests["createForumTopic"] == 1 and bot.sender.threads.stats["topics_adopted"] == 1
    assert [m.text for m in group.in_topic(topic.thread_id)] == ["карточка"]


def test_a_lost_answer_whose_news_comes_late_leaves_one_topic(api, forum_engine):
    """The earlier attempt's topic was made but neither its answer nor (in time) its service
    update arrived: after the grace a new topic is made; when the old one's news comes, the
    old one is deleted and nothing was ever posted into it."""
    group = api.group(GROUP, "Заявки", forum=True)
    with write_tx():
        row_id = outgoing.enqueue(create()[0], key=TOPIC)
        forum.record_attempt(row_id, GROUP, NAME)
    api.topic_service_updates = False
    lost = api.call(api.token, "createForumTopic", {"chat_id": GROUP, "name": NAME})["message_thread_id"]
    api.topic_service_updates = True
    with running_bot(forum_engine, api, topic_grace=1) as bot:
        rows = settled(queue(bot, into("карточка")) + [row_id])
        api.push_update({"message": {
            "message_id": lost, "from": api.bot_user, "date": int(time.time()),
            "chat": {"id": GROUP, "type": "supergroup", "title": "Заявки", "is_forum": True},
            "message_thread_id": lost, "is_topic_message": True,
            "forum_topic_created": {"name": NAME, "icon_color": 7322096}}})
        deadline = time.monotonic() + 30
        while not group.api.topic(GROUP, lost).deleted and time.monotonic() < deadline:
            time.sleep(0.05)
    kept = rows[1].message_id
    assert kept != lost and [r.status for r in rows] == ["sent", "sent"]
    assert api.topic(GROUP, lost).deleted and not api.topic(GROUP, kept).deleted
    assert [m.text for m in group.in_topic(kept)] == ["карточка"]


def test_an_edit_that_changes_nothing_is_not_sent(api, forum_engine):
    buttons = [[Button("Взять", "tk:1")]]
    with running_bot(forum_engine, api) as bot:
        [first] = settled(queue(bot, (Reply(GROUP, "карточка", buttons=buttons), None, 5)))
        same = Reply(GROUP, "карточка", buttons=buttons, edit_message_id=first.message_id)
        changed = Reply(GROUP, "карточка: в работе", buttons=buttons, edit_message_id=first.message_id)
        rows = settled(queue(bot, (same, None, 5)))
        rows += settled(queue(bot, (changed, None, 5)))
        rows += settled(queue(bot, (changed, None, 5)))       # unchanged again
        api.fail_next("editMessageText", 400, NOT_MODIFIED)    # Telegram's own "not modified"
        back = Reply(GROUP, "карточка", buttons=buttons, edit_message_id=first.message_id)
        rows += settled(queue(bot, (back, None, 5)))
    assert [r.status for r in rows] == ["sent"] * 4 and all(r.attempts == 0 for r in rows)
    assert api.requests["editMessageText"] == 2                # `changed` once, `back` once
    assert bot.sender.threads.stats["edits_skipped"] == 2


def test_a_kicked_bot_gives_rows_up_and_other_chats_go_on(api, forum_engine):
    group = api.group(GROUP, "Заявки", forum=True)
    with running_bot(forum_engine, api) as bot:
        group.kick_bot()
        rows = settled(queue(bot, create(), into("карточка"), (Reply(3101, "клиенту"), None, 5)))
    assert [r.status for r in rows] == ["dead", "dead", "sent"]
    assert all("kicked" in r.error for r in rows[:2])
    assert [m.text for m in api.messages(3101)] == ["клиенту"]
