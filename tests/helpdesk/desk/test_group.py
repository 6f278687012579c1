"""desk.topics auto (helpdesk/desk/group.py): a topic per ticket while the work group is a
forum, as Telegram says (getChat at every roster refresh, the group's own messages, a topic
creation refused "not a forum"); a group upgraded to a supergroup is followed."""
from __future__ import annotations

import pytest

from engine import outgoing
from engine.events import Reply
from engine.outgoing import Outgoing
from engine.storage import write_tx
from engine.testing import Chat
from helpdesk.desk import group
from helpdesk.ops import jobs
from tests.support.desk import telegram_world
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import running_bot
from tests.support.tickets import GROUP, TECH, file_ticket, make_settings, make_world

NEW_GROUP = -1009876


@pytest.fixture
def api():
    with FakeTelegramAPI() as fake:
        yield fake


@pytest.fixture
def tg_world(database, api):
    return telegram_world(api)


def has_topic_row(ticket_id: int) -> bool:
    return Outgoing.select().where(Outgoing.key == f"t{ticket_id}:topic").exists()


def say_in_group(world, uid: int = TECH, **kw) -> None:
    Chat(world.app.engine, uid, chat_id=GROUP, first_name="Пётр").event(
        kind="text", text="коллеги, кто на выезде?", chat_type="supergroup", **kw)


def test_the_default_is_auto_and_nothing_known_is_a_plain_card(database):
    world = make_world(make_settings())
    assert world.app.settings.desk.topics == "auto" and group.forum_state(GROUP) is None
    t = file_ticket(world, 101)
    assert not has_topic_row(t.id)


def test_auto_asks_telegram_at_every_refresh_a_forum_then_plain(tg_world, api):
    fake = api.group(GROUP, "Поддержка", forum=True)
    jobs.run_once(tg_world.app, "desk_admins")
    assert group.forum_state(GROUP) is True and api.stats()["requests"]["getChat"] == 1
    t1 = file_ticket(tg_world, 101)
    assert has_topic_row(t1.id)
    fake.set_forum(False)                                 # turned plain meanwhile
    jobs.run_once(tg_world.app, "desk_admins")
    assert group.forum_state(GROUP) is False
    t2 = file_ticket(tg_world, 102, description="Не работает ЕГАИС УТМ")
    assert not has_topic_row(t2.id)
    assert Outgoing.select().where(Outgoing.key == f"t{t2.id}:post").exists()


def test_the_groups_own_messages_tell_whether_it_is_a_forum(database):
    world = make_world(make_settings())
    say_in_group(world, chat_is_forum=True)
    assert group.forum_state(GROUP) is True
    assert has_topic_row(file_ticket(world, 101).id)
    say_in_group(world, chat_is_forum=False)
    assert group.forum_state(GROUP) is False
    assert not has_topic_row(file_ticket(world, 102, description="Не работает ЕГАИС УТМ").id)


def test_forced_settings_ignore_what_the_group_says(database):
    settings = make_settings()
    settings.desk.topics = False
    world = make_world(settings)
    say_in_group(world, chat_is_forum=True)
    assert group.forum_state(GROUP) is None                # auto only: nothing learnt
    assert not has_topic_row(file_ticket(world, 101).id)


def test_a_refused_topic_turns_topics_off_and_the_ticket_stays_a_group_post(database):
    world = make_world(make_settings())
    with write_tx():
        group.learn_forum(GROUP, True, "getChat")
    t1 = file_ticket(world, 101)
    topic = Outgoing.get(Outgoing.key == f"t{t1.id}:topic")
    outgoing.mark_failed(topic.id, "Bad Request: the chat is not a forum", retry_in=None)
    card = outgoing.to_reply(Outgoing.get(Outgoing.key == f"t{t1.id}:post"))
    assert card.thread_key == f"t{t1.id}:topic"    # the sender sends it to the group itself
    t2 = file_ticket(world, 102, description="Не работает ЕГАИС УТМ")
    assert not has_topic_row(t2.id) and group.forum_state(GROUP) is False
    assert outgoing.to_reply(Outgoing.get(Outgoing.key == f"t{t2.id}:post")).thread_key is None


def test_an_upgraded_group_is_followed_with_its_queued_messages(database):
    world = make_world(make_settings())
    with write_tx():
        waiting = outgoing.enqueue(Reply(GROUP, "в очереди"), key="wait-1")
    say_in_group(world, migrate_to_chat_id=NEW_GROUP)
    assert world.app.settings.notify.system.work_group_id == NEW_GROUP
    assert Outgoing.get_by_id(waiting).chat_id == NEW_GROUP
    t = file_ticket(world, 101)
    assert Outgoing.get(Outgoing.key == f"t{t.id}:post").chat_id == NEW_GROUP
    restarted = make_settings()                            # another worker, the next start
    assert group.follow_moves(restarted) == NEW_GROUP
    assert restarted.notify.system.work_group_id == NEW_GROUP


def test_over_telegram_a_group_turned_plain_meanwhile_loses_no_ticket(tg_world, api):
    fake = api.group(GROUP, "Поддержка", forum=True)
    jobs.run_once(tg_world.app, "desk_admins")            # a forum, as getChat says
    fake.set_forum(False)                                 # turned plain, no refresh since
    t1 = file_ticket(tg_world, 101)
    reports = []
    with running_bot(tg_world.app.engine, api, on_error=lambda where, e: reports.append(where)):
        card = api.wait_for(GROUP, contains=f"Заявка {t1.label}", timeout=120)
    assert card.thread_id is None and card.buttons and fake.topics() == []
    assert reports == []                                  # expected, no bug report
    t2 = file_ticket(tg_world, 102, description="Не работает ЕГАИС УТМ")
    assert not has_topic_row(t2.id) and group.forum_state(GROUP) is False
