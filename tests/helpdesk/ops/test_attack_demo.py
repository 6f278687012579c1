"""Outside attack (issue 16) on the terminal demo: a press carried no message id, so "Беру"
posted a second card instead of editing the first; no dispatcher could be played, so
"Назначить" was always refused; the client was told to reply to a support message the
terminal could not reply to; the banner named buttons the card does not show; `/staff`
listed the seeded technician as a bare number; and a done ticket's card still began with
🆕. Each walk is the transcript a person types (tests/support/walkthrough.py)."""
from __future__ import annotations

from helpdesk.ops import demo
from tests.support.walkthrough import Walk, first_day, press

DESCRIPTION = "Не печатается чек на кассе у входа"
FILE_TICKET = ["/as 3", press("Создать заявку"), press("Тверской"), press("Касса"), DESCRIPTION,
               press("Готово"), press("Отправить")]


def _clean(walk: Walk) -> None:
    print(walk.text())                   # the transcript, shown when a rule fails
    problems = walk.problems()
    assert problems == [], "\n".join(problems)


def _cards(shown: str) -> list[str]:
    """The card's lines as shown in the group: new messages and edits."""
    return [line for line in shown.splitlines() if "Заявка #1</b>" in line or " Заявка #1 · " in line]


def test_a_press_edits_the_card_it_was_on_and_the_icon_follows_the_status(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        *FILE_TICKET, "/as group", press("Беру"), press("Готово")])
    group = walk.after("— в чате: рабочая группа")
    cards = _cards(group)
    assert cards[0].startswith("🆕 Заявка #1 · Новая"), group
    assert [c.split(" Заявка")[0] for c in cards[1:]] == ["(изменено) 🛠", "(изменено) ✅"], group
    assert "(Заявка выполнена)" in group and "[общий чат группы]" not in group   # edits stay in the topic
    _clean(walk)


def test_the_dispatcher_persona_assigns_and_staff_are_named(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        *FILE_TICKET, "/as dispatcher", "/staff", press("Назначить"), press("Сергей")])
    roster = walk.after("Состав поддержки")
    assert "Сергей — мастер" in roster and "Ольга Диспетчерова — диспетчер" in roster
    assert str(demo.TECHNICIAN_ID) not in roster
    assert "(Назначено: Сергей)" in walk.after("Кому назначить заявку?"), walk.tail()
    assert "Эта кнопка устарела или недоступна" not in walk.text()
    _clean(walk)


def test_the_banner_names_the_cards_buttons_and_reply_works_as_printed(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        *FILE_TICKET, "/as group", press("Беру"), "/topic 1", "Проверьте бумагу в принтере",
        "/as 3", "/reply Бумага есть, не помогло", "/as group"])
    banner = walk.out[0] if "Демо" in walk.out[0] else walk.out[1]
    assert "«🙋 Беру»" in banner and "«✅ Готово»" in banner and "«Взять»" not in banner
    assert "/reply" in banner and "/as dispatcher" in banner
    assert "Проверьте бумагу в принтере" in walk.after("— в чате: Смирнов")
    assert "Бумага есть, не помогло" in walk.after("— в чате: рабочая группа")
    assert "недоступна" not in walk.after("> /reply")
    _clean(walk)
