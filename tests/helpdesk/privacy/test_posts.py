"""After /forget, what the bot keeps of its messages to others names the person no more:
the work group's post of their ticket is edited to the anonymised author (in the chat and
in the stored copy), the older messages about the ticket and the access requests to the
company's heads are gone (helpdesk/privacy/posts.py), walked in the demo's terminal chat."""
from __future__ import annotations

from engine.outgoing import Outgoing
from tests.support.walkthrough import Walk, first_day, press

SMIRNOV, SMIRNOV_PHONE = "Смирнов Олег Петрович", "+79000000003"


def stored_about(*needles: str) -> list[str]:
    return [row.body for row in Outgoing.select() if any(n in row.body for n in needles)]


def test_the_group_post_of_an_erased_authors_ticket_is_edited_and_no_copy_keeps_him(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        "/as 3", press("Создать заявку"), press("Тверской"), press("Касса"),
        "Не печатается чек на кассе у входа", press("Готово"), press("Отправить"),
        "/as group", press("Беру"),                        # the post is out, and edited once
        "/as 3", "/forget", press("Удалить мои данные"),
        "/as group"])
    group = walk.after("— в чате: рабочая группа")
    assert "(изменено) 🛠 Заявка #1 · В работе" in group      # the icon follows the status (issue 16 attack)
    assert "От: автор удалил свои данные" in group and SMIRNOV not in group
    assert stored_about(SMIRNOV, SMIRNOV_PHONE) == []
    assert walk.problems() == []


def test_an_access_request_naming_an_erased_person_is_not_kept_for_the_heads(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        press("Зарегистрироваться"), press("Согласен"),
        "+7 900 000-00-07", "Олег Новичков",               # a typed phone, then his name
        "7701123451", "Кассир",
        "/forget", press("Удалить мои данные")])
    assert "Олег Новичков" in walk.text()
    assert stored_about("Олег Новичков", "+79000000007") == []
    assert walk.problems() == []
