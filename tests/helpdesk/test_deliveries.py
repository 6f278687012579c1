"""No promise the bot cannot keep: with the current settings, who receives what
(helpdesk.deliveries); one warning at start lists what goes nowhere; texts and the menu
promise a call, a reply or a notice only when someone will receive it."""
from __future__ import annotations

import logging

import pytest

from engine.testing import Chat
from helpdesk import config
from helpdesk.app import build_app
from helpdesk.deliveries import Deliveries, log_undelivered
from tests.support.privacy import agree

CALL_BACK = "📞 Заказать обратный звонок"


def settings(**env):
    return config.load(environ=env)


def test_the_shipped_defaults_deliver_to_nobody_and_say_so_once(caplog):
    s = settings()
    d = Deliveries.from_settings(s)
    assert (d.callbacks, d.tickets_seen, d.status_notices, d.bug_reports) == (False,) * 4
    with caplog.at_level(logging.WARNING, logger="helpdesk.deliveries"):
        gaps = log_undelivered(s)
    [record] = caplog.records                                    # one warning, every gap in it
    for needle in ("call-back requests", "new tickets", "status notices", "error reports",
                   "notify.system.work_group_id", "notify.bug.telegram_user_id"):
        assert needle in record.getMessage()
    assert len(gaps) == 5                                        # card payments without a token too


def test_a_work_group_with_technicians_and_a_bug_recipient_leave_nothing_to_warn(caplog):
    s = settings(NOTIFY__SYSTEM__WORK_GROUP_ID="-100123", TICKETS__TECHNICIANS="[7]",
                 NOTIFY__BUG__TELEGRAM_USER_ID="42", PAY__CARD="false")
    with caplog.at_level(logging.WARNING, logger="helpdesk.deliveries"):
        assert log_undelivered(s) == []
    assert caplog.records == []


@pytest.mark.parametrize("env,seen,notices", [
    ({"CRM__KIND": "rest", "CRM__URL": "http://127.0.0.1:9/"}, True, True),   # a CRM takes tickets
    ({"API__TOKENS": '["t-1234567890abcdef"]'}, True, True),                  # a CRM pulls them
    ({"NOTIFY__SYSTEM__WORK_GROUP_ID": "-1"}, True, True),                    # its admins take them
    ({"NOTIFY__SYSTEM__WORK_GROUP_ID": "-1", "NOTIFY__SYSTEM__USE": "false"}, False, False),
])
def test_who_sees_tickets_and_who_can_move_them(env, seen, notices):
    d = Deliveries.from_settings(settings(**env))
    assert (d.tickets_seen, d.status_notices) == (seen, notices)


def _chat(database, **env) -> Chat:
    c = Chat(build_app(settings(**env), connect=False).engine, 8101)
    c.send("/start")
    return c


def test_without_a_work_group_the_menu_offers_no_call_back(database):
    assert CALL_BACK not in _chat(database).buttons
    assert CALL_BACK in _chat(database, NOTIFY__SYSTEM__WORK_GROUP_ID="-100123").buttons


def test_a_call_back_that_reaches_nobody_says_how_to_get_help_instead(database):
    from engine.outgoing import pending_count
    c = _chat(database, NOTIFY__SYSTEM__WORK_GROUP_ID="-100123")
    c.click(CALL_BACK)
    agree(c)                                      # the consent comes first (152-ФЗ)
    c.send("Иван")
    c.share_contact("+79123456789")
    c.click("🌇 Вечером")
    c.engine.services.settings.notify.system.work_group_id = 0   # the group removed meanwhile
    c.click("✅ Да")
    assert c.said("позвонить вам некому") and not c.said("Мы позвоним")
    assert pending_count() == 0                                   # nothing queued to nobody
