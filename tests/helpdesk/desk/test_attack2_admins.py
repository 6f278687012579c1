"""Attack (issue 16, point 3: roles "checked on every press"; a member who leaves keeps
pressing). Telegram sends `chat_member` updates only to a bot that is an administrator of
the group (docs/tickets.md says so). A bot added as a plain member, or one whose update
was lost, never hears that a technician left: the refresh job (`desk_admins`) asks only
for the administrators, so the roster keeps the technician for good, and from their
private chat ("🛠 Назначенные мне", the assigned card's buttons) they keep taking and
closing tickets of every company although they are no member of the work group."""
from __future__ import annotations

import pytest
from pydantic import SecretStr

from helpdesk.desk import staff
from helpdesk.ops import jobs
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.tickets import GROUP, TECH, make_settings, make_world


@pytest.fixture
def api():
    with FakeTelegramAPI() as fake:
        fake.group(GROUP, "Поддержка")
        yield fake


def test_a_technician_gone_from_the_group_without_an_update_is_no_staff_after_the_refresh(database, api):
    settings = make_settings()
    settings.bot.token, settings.bot.api_url = SecretStr(api.token), api.url
    world = make_world(settings)
    admin = api.user(920, "Анна").user
    api.set_admins(GROUP, [admin])
    tech = api.user(TECH, "Пётр", last_name="Петров").user
    api.set_member(GROUP, tech, "member")
    jobs.run_once(world.app, "desk_admins")
    assert staff.is_staff(TECH)
    api.set_member(GROUP, tech, "left")      # Telegram's truth; no chat_member reached the bot
    assert api.call(api.token, "getChatMember", {"chat_id": GROUP, "user_id": TECH})["status"] == "left"
    jobs.run_once(world.app, "desk_admins")
    assert not staff.is_staff(TECH)
