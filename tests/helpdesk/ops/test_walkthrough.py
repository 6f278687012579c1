"""Issue 14's Measure: a scripted walk through the demo's terminal chat, by every role
through every feature of the issue, ends with no apology, no English word in a Russian
chat and no text that `flows check` cannot trace (tests/support/walkthrough.py holds the
three rules). Each walk reads like the transcript a person would type."""
from __future__ import annotations

from tests.support.walkthrough import SUPPORT_PHONE, Walk, first_day, press


def test_a_newcomer_consents_fills_the_questionnaire_and_the_director_lets_him_in(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        press("Зарегистрироваться"), press("Не согласен"),
        press("Зарегистрироваться"), press("Согласен"),
        "1", "+79000000009",                     # the contact button by its number, the phone
        "Олег Новичков", "7701123451", "Кассир",  # the questionnaire; Ромашка's INN is known
        "/as 1", press("Подтвердить"),             # Иванов, Ромашка's director
        "/as 0"])
    print(walk.text())
    assert walk.problems() == []


def test_explore(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        "/as 3", press("Создать заявку"), press("Тверской"), press("Касса"),
        "Не печатается чек на кассе у входа", press("Готово"), press("Отправить"),
        press("Мои заявки"), press("#1"),
        "/as group", press("Беру"),
        "/as 3", press("К списку"), press("#1"),
        "/as group", press("Ждём клиента"), press("Комментарий"),
        "/as tech", "Проверьте, пожалуйста, бумагу в принтере",
        "/as group", press("Готово"),
        "/as 3", press("К списку"), press("Закрытые"), press("#1"), press("Возобновить"),
    ])
    print(walk.text())
    assert walk.problems() == []
