"""The work group's Telegram admins, learnt from the fake Bot API (getChatAdministrators),
and the staff commands and buttons over the real transport: an admin grants a role by
replying to a member's message, the new technician takes a ticket from its card, a member
who is not staff presses it and gets the generic answer; the bot removed from the group is
told to the dispatchers once."""
from __future__ import annotations

import pytest

from engine import outgoing
from helpdesk.desk import staff
from helpdesk.ops import jobs
from helpdesk.tickets import IN_PROGRESS, Ticket
from tests.support.desk import telegram_world
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.telegram_harness import running_bot
from tests.support.tickets import GROUP, file_ticket, make_settings, make_world

KICKED = "Forbidden: bot was kicked from the supergroup chat"
REFUSED = "Эта кнопка устарела или недоступна"


@pytest.fixture
def api():
    with FakeTelegramAPI() as fake:
        fake.group(GROUP, "Поддержка")
        yield fake


@pytest.fixture
def tg_world(database, api):
    return telegram_world(api)


def _admins(api, *users):
    api.set_admins(GROUP, [api.user(*u).user for u in users])


def test_the_groups_admins_become_dispatchers_and_leave_with_their_status(tg_world, api):
    _admins(api, (920, "Анна"), (921, "Борис"))
    assert jobs.run_once(tg_world.app, "desk_admins") == ([920, 921], [])
    assert staff.is_dispatcher(920) and staff.full_name(921) == "Борис"
    _admins(api, (921, "Борис"))
    assert jobs.run_once(tg_world.app, "desk_admins") == ([], [920])
    assert staff.role_of(920) is None and staff.is_dispatcher(921)


def test_the_bot_among_the_admins_is_no_dispatcher(tg_world, api):
    bot = dict(api.bot_user)
    api.set_admins(GROUP, [bot, api.user(920, "Анна").user])
    assert jobs.run_once(tg_world.app, "desk_admins") == ([920], [])
    assert not staff.is_staff(api.bot_id)


def test_the_bot_removed_from_the_group_keeps_the_roster_and_tells_dispatchers_once(tg_world, api):
    _admins(api, (920, "Анна"))
    jobs.run_once(tg_world.app, "desk_admins")
    staff.grant(910, staff.DISPATCHER)
    api.set_member(GROUP, api.user(910, "Вера").user, "member")   # in the group: the refresh asks
    for _ in range(2):                                            # two refreshes in the outage
        api.fail_next("getChatAdministrators", 403, KICKED)
        assert jobs.run_once(tg_world.app, "desk_admins") is None
    told = [r for r in outgoing.Outgoing.select() if (r.key or "").startswith("desk:group-lost")]
    assert sorted(r.chat_id for r in told) == [910, 920]         # each dispatcher, once
    assert "удалили из группы" in outgoing.to_reply(told[0]).text
    assert staff.is_dispatcher(920)                              # the people did not change
    jobs.run_once(tg_world.app, "desk_admins")                   # back in the group
    api.fail_next("getChatAdministrators", 400, "Bad Request: chat not found")
    jobs.run_once(tg_world.app, "desk_admins")                   # a new outage: told again
    assert outgoing.Outgoing.select().where(outgoing.Outgoing.key.startswith("desk:group-lost")).count() == 4


def test_another_telegram_error_is_the_jobs_failure_not_a_lost_group(tg_world, api):
    api.fail_next("getChatAdministrators", 500, "Internal Server Error")
    with pytest.raises(Exception, match="Internal Server Error"):
        jobs.run_once(tg_world.app, "desk_admins")
    assert not outgoing.Outgoing.select().where(outgoing.Outgoing.key.startswith("desk:group-lost")).exists()


def test_no_work_group_or_no_token_asks_nothing(database, api):
    world = make_world(make_settings())                          # no token
    assert jobs.run_once(world.app, "desk_admins") is None
    assert api.stats()["requests"].get("getChatAdministrators") is None


def test_over_telegram_an_admin_grants_and_the_technician_takes_the_card(tg_world, api):
    _admins(api, (920, "Анна", ))
    jobs.run_once(tg_world.app, "desk_admins")
    group = api.group(GROUP, "Поддержка")
    admin = group.member(920, "Анна")
    masha = group.member(930, "Мария", last_name="Мастерова", username="masha")
    stranger = group.member(931, "Прохожий")
    t = file_ticket(tg_world, 101)
    with running_bot(tg_world.app.engine, api):
        card = api.wait_for(GROUP, contains=f"Заявка {t.label}", timeout=120)
        update = stranger.press("🙋 Беру")                       # not staff: the generic answer
        answer = api.wait_callback_answer(update["callback_query"]["id"], timeout=120)
        assert answer["text"] == REFUSED
        said = masha.send("Я новенькая, буду на выездах")
        masha.send("/technician")                                # not an admin: refused
        api.wait_for(GROUP, contains="только администраторы этой группы", timeout=120)
        admin.send("/technician", reply_to=said)
        api.wait_for(GROUP, contains="✅ Мария Мастерова — мастер.", timeout=120)
        update = masha.press("🙋 Беру")
        assert api.wait_callback_answer(update["callback_query"]["id"], timeout=120)["text"] == "Заявка ваша"
        admin.send("/staff")
        listed = api.wait_for(GROUP, contains="Состав поддержки", timeout=120)
    assert "Мария Мастерова — мастер" in listed.plain_text
    ticket = Ticket.get_by_id(t.id)
    assert (ticket.status, ticket.master_telegram_id) == (IN_PROGRESS, 930)
    assert card.message_id
