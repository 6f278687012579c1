"""Working hours (settings `support`): /help tells what the bot does, the hours, the phone and
the commands; a ticket filed outside the hours is told when it will be looked at."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from engine.testing import Chat
from helpdesk import config
from helpdesk.context import support_info
from helpdesk.hours import WorkingHours
from tests.support.tickets import CREATE, file_through_dialog

MSK = ZoneInfo("Europe/Moscow")
WEEKDAYS = WorkingHours(frozenset({1, 2, 3, 4, 5}), time(9), time(18), MSK,
                        frozenset({date(2027, 1, 1)}))


def utc(local: str) -> datetime:
    """A Moscow wall-clock time as the naive UTC the bot stores."""
    return datetime.fromisoformat(local).replace(tzinfo=MSK).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


@pytest.mark.parametrize("now,is_open,opens", [
    ("2026-12-02 10:00", True, "2026-12-02 10:00"),       # Wednesday morning: open
    ("2026-12-02 08:59", False, "2026-12-02 09:00"),      # before opening: the same day
    ("2026-12-02 18:00", False, "2026-12-03 09:00"),      # closing time: tomorrow
    ("2026-12-04 19:30", False, "2026-12-07 09:00"),      # Friday evening: Monday
    ("2026-12-05 12:00", False, "2026-12-07 09:00"),      # Saturday
    ("2026-12-31 20:00", False, "2027-01-04 09:00"),      # a holiday Friday, then the weekend
])
def test_open_and_next_opening_in_the_desks_own_time(now, is_open, opens):
    assert WEEKDAYS.is_open(utc(now)) is is_open
    assert WEEKDAYS.opens_at(utc(now)) == datetime.fromisoformat(opens).replace(tzinfo=MSK)


def test_a_desk_that_never_opens_says_so_instead_of_looping():
    never = WorkingHours(frozenset(), time(9), time(18), MSK)
    assert never.opens_at(utc("2026-12-02 10:00")) is None and not never.is_open(utc("2026-12-02 10:00"))


@pytest.mark.parametrize("hours,problem", [({"days": [0]}, "ISO weekdays"),
                                           ({"start": "18:00", "end": "09:00"}, "must be after")])
def test_impossible_hours_are_refused_with_the_reason(hours, problem):
    with pytest.raises(ValidationError, match=problem):
        config.Hours(**hours)


def _settings(**support):
    from tests.support.tickets import make_settings
    s = make_settings()
    for key, value in support.items():
        setattr(s.support, key, value)
    return s


def _local_now() -> datetime:
    return datetime.now(MSK)


def closed_until_the_day_after_tomorrow():
    """Hours that keep the desk closed today and tomorrow and open the day after at 10:00."""
    day = (_local_now() + timedelta(days=2)).date()
    return config.Hours(days=[day.isoweekday()], start="10:00", end="11:00"), day


def _chat(world, settings, uid=101):
    from helpdesk.app import build_app
    c = Chat(build_app(settings, connect=False).engine, uid)
    c.send("/start")
    return c


def test_help_tells_what_the_bot_does_the_hours_the_phone_and_the_commands(world):
    settings = _settings(phone="+7 (495) 123-45-67", email="help@example.ru",
                         hours=config.Hours(days=[1, 2, 3, 4, 5, 6, 7], start="00:00", end="23:59:59"))
    c = _chat(world, settings)
    c.send("/help")
    text = c.transcript[-2].text                     # the help, then the menu it returns to
    assert "оставить заявку" in text and "кто над ними работает" in text
    assert "<b>Часы работы поддержки:</b> ежедневно с 00:00 до 23:59." in text
    assert "<b>Телефон:</b> +7 (495) 123-45-67" in text and "help@example.ru" in text
    assert "/menu — главное меню" in text and "/stats" not in text      # a USER has no stats


def test_help_for_a_director_lists_stats_and_hides_what_is_not_set(world):
    c = _chat(world, _settings(), uid=103)
    c.send("/help")
    text = c.transcript[-2].text
    assert "пн–пт с 09:00 до 18:00" in text and "/stats — статистика" in text
    assert "Телефон" not in text and "Почта" not in text


def test_a_ticket_filed_when_the_desk_is_closed_is_told_when_it_will_be_seen(world):
    hours, day = closed_until_the_day_after_tomorrow()
    c = _chat(world, _settings(hours=hours))
    file_through_dialog(c)
    c.click("📨 Отправить")
    weekday = {1: "в понедельник", 2: "во вторник", 3: "в среду", 4: "в четверг", 5: "в пятницу",
               6: "в субботу", 7: "в воскресенье"}[day.isoweekday()]
    assert c.said(f"Сейчас нерабочее время: заявку посмотрят {weekday}, {day:%d.%m}, в 10:00.")


def test_a_ticket_filed_in_working_hours_gets_no_such_line(world):
    always = config.Hours(days=[1, 2, 3, 4, 5, 6, 7], start="00:00", end="23:59:59")
    c = _chat(world, _settings(hours=always))
    file_through_dialog(c)
    c.click("📨 Отправить")
    assert c.said("создана") and not c.said("нерабочее")
    assert c.buttons and CREATE in c.buttons                  # back at the menu


def test_the_support_variable_in_english_hours(world):
    settings = _settings(hours=config.Hours(days=[1, 3, 5], start="10:00", end="16:00"))
    info = support_info(settings, utc("2026-12-03 12:00"))              # a Thursday
    assert info["open_now"] is False and info["opens_at"].isoweekday() == 5
    c = _chat(world, settings)
    c.language = "en"
    c.send("/help")
    assert "<b>Support hours:</b> Mon, Wed, Fri, 10:00–16:00" in c.transcript[-2].text
