"""The work group's membership as Telegram tells it (helpdesk/desk/members.py): staff who
leave lose their role, an admin who leaves is no dispatcher; the bot removed from the group
gives up the group's queue once and says so, and back it posts the tickets filed meanwhile."""
from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from engine import outgoing
from engine.events import Reply
from engine.outgoing import DEAD, PENDING, Outgoing
from engine.storage import write_tx
from engine.testing import Chat
from helpdesk.desk import members, staff
from tests.support.desk import ADMIN, DISPATCHER, staff_roles
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import running_bot
from tests.support.tickets import GROUP, TECH, TECH2, file_ticket, make_settings, make_world

BUG_USER = 777


def membership(world, who: int, uid: int, old: str, new: str, *, me: bool = False) -> None:
    """Telegram's chat_member (my_chat_member with `me`) update, as the adapter makes it."""
    Chat(world.app.engine, who, chat_id=GROUP, first_name="Анна").event(
        kind="member", chat_type="supergroup",
        member={"id": uid, "first_name": "Пётр", "last_name": "", "username": "", "is_bot": me,
                "old": old, "new": new, "me": me})


@pytest.fixture
def world(database):
    settings = make_settings()
    settings.notify.bug.telegram_user_id = BUG_USER
    w = make_world(settings)
    staff_roles()
    return w


def test_a_technician_who_leaves_loses_the_role_for_good(world):
    membership(world, TECH, TECH, "member", "left")
    assert not staff.is_staff(TECH) and staff.is_staff(TECH2)
    assert staff.seed(world.app.settings) == 0 and not staff.is_staff(TECH)   # a restart
    membership(world, ADMIN, TECH2, "member", "kicked")
    assert not staff.is_staff(TECH2)


def test_an_admin_who_leaves_or_is_demoted_is_no_dispatcher(world):
    membership(world, ADMIN, ADMIN, "administrator", "left")
    assert not staff.is_dispatcher(ADMIN)
    membership(world, ADMIN, 950, "member", "administrator")
    assert staff.is_dispatcher(950)
    membership(world, ADMIN, 950, "administrator", "member")
    assert not staff.is_dispatcher(950) and staff.is_dispatcher(DISPATCHER)


def test_the_bot_removed_gives_up_the_groups_queue_once_and_tells_people(world):
    with write_tx():
        queued = outgoing.enqueue(Reply(GROUP, "в очереди"), key="g-1")
        private = outgoing.enqueue(Reply(101, "клиенту"), key="p-1")
    membership(world, ADMIN, 1, "administrator", "kicked", me=True)
    assert members.is_out(GROUP)
    assert Outgoing.get_by_id(queued).status == DEAD and Outgoing.get_by_id(private).status == PENDING
    told = sorted(r.chat_id for r in Outgoing.select().where(
        Outgoing.key.startswith("desk:group-lost") | Outgoing.key.startswith("desk:bot-out")))
    assert told == sorted([BUG_USER, *staff.dispatcher_ids()])
    membership(world, ADMIN, 1, "administrator", "kicked", me=True)   # told once per outage
    assert Outgoing.select().where(Outgoing.key.startswith("desk:group-lost")).count() == \
        len(staff.dispatcher_ids())


def test_back_in_the_group_the_tickets_filed_meanwhile_are_posted(world):
    membership(world, ADMIN, 1, "administrator", "kicked", me=True)
    t = file_ticket(world, 101)
    post = Outgoing.get(Outgoing.key == f"t{t.id}:post")
    outgoing.mark_failed(post.id, "Forbidden: bot was kicked from the supergroup chat", retry_in=None)
    gone = file_ticket(world, 102, description="Не работает ЕГАИС УТМ")
    outgoing.mark_failed(Outgoing.get(Outgoing.key == f"t{gone.id}:post").id, "Forbidden", retry_in=None)
    world.svc.cancel(102, gone.id, "Уже не нужно, разобрались сами")
    membership(world, ADMIN, 1, "left", "administrator", me=True)
    assert not members.is_out(GROUP)
    again = Outgoing.get_by_id(post.id)
    assert again.status == PENDING and again.attempts == 0 and f"Заявка #{t.id}" in outgoing.to_reply(again).text
    assert Outgoing.get(Outgoing.key == f"t{gone.id}:post").status == DEAD     # cancelled meanwhile


def wait(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_over_telegram_removed_and_added_back_nothing_is_lost(database):
    with FakeTelegramAPI() as api:
        settings = make_settings()
        settings.bot.token, settings.bot.api_url = SecretStr(api.token), api.url
        w = make_world(settings)
        staff_roles()
        fake = api.group(GROUP, "Поддержка")
        admin = fake.member(ADMIN, "Анна", status="creator")
        tech = fake.member(TECH, "Пётр", last_name="Петров")
        with running_bot(w.app.engine, api):
            fake.member_changed(tech, "left", by=admin)
            wait(lambda: not staff.is_staff(TECH))
            fake.bot_removed(admin)
            api.wait_for(DISPATCHER, contains="удалили из группы", timeout=120)
            t = file_ticket(w, 101)                       # filed while the bot is out
            wait(lambda: Outgoing.get(Outgoing.key == f"t{t.id}:post").status == DEAD)
            fake.bot_added(admin)
            card = api.wait_for(GROUP, contains=f"Заявка {t.label}", timeout=120)
        assert card.buttons and members.is_out(GROUP) is False
