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
    assert walk.problems() == [], "\n".join(walk.problems())


def test_explore(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        "/as 4", press("Мои компании"), press("Выбрать компанию"), press("Лютик"),
        press("Создать заявку"), press("Другая компания"), press("Ромашка"),
        "/menu", press("Баланс"), press("Оплатить"), press("СБП"),
        "/menu", press("Баланс"), press("Пополнить"), press("Ромашка"), press("1 000"), press("Картой"),
        "/as 2", press("Статистика"), press("7"),
        "/help", "/as 0", press("обратный звонок"), press("Согласен"), "Олег", "/contact +79001234567",
    ])
    print(walk.text())
    assert walk.problems() == [], "\n".join(walk.problems())
