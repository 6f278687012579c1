"""Issue 14's Measure: scripted walks through the demo's terminal chat (`python run.py
demo`), by every role through every feature of the issue, each ending with no apology, no
English word in a Russian chat and no text that `flows check` cannot trace (the three rules
are tests/support/walkthrough.py's `Walk.problems`). Each walk reads like the transcript a
person would type; presses name the button, as a person reads it."""
from __future__ import annotations

from helpdesk import config
from tests.support.walkthrough import SBP_LINK, SUPPORT_PHONE, Walk, first_day, press

DESCRIPTION = "Не печатается чек на кассе у входа"
CLOSE = "Закрыть (работа выполнена)"


def assert_clean(walk: Walk) -> None:
    print(walk.text())                   # the transcript, shown when a rule fails
    problems = walk.problems()
    assert problems == [], "\n".join(problems)


def test_a_newcomer_consents_fills_the_questionnaire_and_the_director_lets_him_in(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        press("Зарегистрироваться"), press("Не согласен"),
        press("Зарегистрироваться"), press("Согласен"),
        "1", "+79000000009",                      # the contact button by its number, then the number
        "Олег Новичков", "7701123451", "Кассир",   # the questionnaire; Ромашка's INN is known
        "/as 1", press("Подтвердить"),              # Иванов, Ромашка's director
        "/as 0"])
    declined = walk.between("> 2", "Главное меню")
    assert "без согласия бот не спрашивает и не хранит" in declined and SUPPORT_PHONE in declined
    consent = walk.between("Согласие на обработку", "Согласен")
    assert "ООО «Сервис», ИНН 7707083893" in consent and "https://example.ru/privacy" in consent
    assert "Ваш номер телефона: +79000000009" in walk.text()    # asked when the button was pressed
    questionnaire = walk.after("короткую анкету")
    assert "3 вопроса (ФИО, ИНН компании, должность)" in questionnaire
    assert "название" not in walk.between("> Кассир", "Главное меню").split("нет в нашей базе")[0]
    assert "ООО «Ромашка» уже есть в нашей базе" in questionnaire
    request = walk.between("— в чате: Иванов", "> 1")
    assert ("Олег Новичков (должность: Кассир) просит доступ к компании ООО «Ромашка»" in request
            and "Телефон +79000000009 подтверждён Telegram" in request)
    assert "✅ Запрос подтверждён: Олег Новичков получает доступ к компании ООО «Ромашка»." in walk.after("> 1")
    assert "ООО «Ромашка» подтвердила ваш доступ" in walk.after("— в чате: вы")
    assert_clean(walk)


def test_a_ticket_from_filing_to_done_and_reopened_with_the_work_group(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        "/as 3",                                                       # Смирнов, a user of Ромашка
        press("Создать заявку"), press("Тверской"), press("Касса"),
        "Я" * 5000,                                                    # a 5,000-letter line
        DESCRIPTION, press("Готово"), press("Отправить"),
        press("Мои заявки"), press("#1"),                              # the card of a new ticket
        press("Изменить"), press("Описание"), DESCRIPTION + " и у выхода",
        "/as group", press("Беру"),                                    # the technician: Take
        "/as 3", press("К списку"), press("#1"),
        "/as group", press("Ждём клиента"), press("Комментарий"),
        "/as tech", "Проверьте, пожалуйста, бумагу в принтере",         # the comment, privately
        "/as group", press("Готово"),                                  # Done
        "/as 3", press("5 ⭐"), press("Без комментария"),               # the client rates it
        press("Мои заявки"), press("Закрытые"), press("#1"), press("Возобновить")])
    assert "Слишком длинно: не больше 3000 символов" in walk.after("> " + "Я" * 5000)
    created = walk.after("✅ Заявка #1 создана")
    assert "Сейчас нерабочее время: заявку посмотрят" in created.splitlines()[1]   # its own line
    new_card = walk.between("Заявка #1 · Новая\nКомпания", "К списку")
    assert CLOSE not in new_card and "Отменить заявку" in new_card      # "done" only when worked on
    group = walk.after("— в чате: рабочая группа")
    assert "Заявка #1 · Выполнена" in group and "(Заявка выполнена)" in group
    client = walk.between("— в чате: Смирнов", "> 4")
    assert "Ваша заявка #1 (Касса): взята в работу." in walk.text()
    assert "Комментарий: Проверьте, пожалуйста, бумагу в принтере" in client
    assert "Ваша заявка #1 (Касса): выполнена." in client
    assert "Активных заявок нет." in walk.after("> 4")                 # done: not active any more
    card = walk.between("Закрытые заявки за 90 дней: 1", "Возобновить")
    history = [line.split(" — ", 1)[1] for line in card[card.index("История:"):].splitlines()[1:]
               if " — " in line]                                 # the latest five, oldest first
    assert history == [
        "взята в работу (Сергей); статус: Новая → В работе",
        "ждёт ответа клиента (Сергей); статус: В работе → Ждёт ответа клиента",
        "комментарий (Сергей): Проверьте, пожалуйста, бумагу в принтере",
        "выполнена (Сергей); статус: Ждёт ответа клиента → Выполнена",
        "оценка клиента (Смирнов Олег Петрович): 5/5"], card
    assert "Можно возобновить до" in card
    reopened = walk.after("Заявка #1 возобновлена")
    assert "Заявка #1 · В работе" in reopened and CLOSE in reopened
    assert_clean(walk)


def test_a_director_of_two_companies_files_for_the_current_one_and_pays(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        "/as 4",                                                   # Кузнецова: Лютик and Ромашка
        press("Мои компании"), press("Выбрать компанию"), press("Лютик"),
        press("Создать заявку"), press("Другая компания"), press("Ромашка"),
        press("Арбате"), press("ЕГАИС"), "Не уходят данные в ЕГАИС", press("Готово"), press("Отправить"),
        press("Баланс"), press("Оплатить долг"), press("СБП"),
        "/menu", press("Баланс"), press("Пополнить"), press("Ромашка"), press("1 000"), press("Картой"),
        "/menu", press("Мои заявки"), press("#1"), press("Отменить заявку"), "Уже не нужно",
        "/as 2", press("Статистика"), press("7 дней")])            # Петрова, Ромашка's administrator
    assert "Текущая компания: ООО «Лютик»." in walk.text()
    filing = walk.between("Текущая компания: ООО «Лютик».", "Другая компания")
    assert "Заявка от компании ООО «Лютик»." in filing and "От какой" not in filing   # not asked again
    assert "организац" not in walk.text() and "обращени" not in walk.text()        # one vocabulary
    assert "Лютик: -250,00 ₽" in walk.text() or "ООО «Лютик» (ИНН 5002233440): -250,00 ₽" in walk.text()
    assert "[1] 💳 Оплатить долг 250,00 ₽" in walk.text()
    assert f"🔗 🏦 Оплатить через СБП: {SBP_LINK}" in walk.text()    # the SBP link is a button
    assert "[2] 1 000,00 ₽" in walk.text() and "Пополнение баланса на 1 000,00 ₽." in walk.text()
    assert "🧾 [счёт: Пополнение баланса]" in walk.text()
    assert "[picture]" not in walk.text() and "🖼 [картинка]" in walk.text()
    assert_clean(walk)


def test_help_the_call_back_request_and_forgetting_a_person(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        "/help",
        press("обратный звонок"), press("Согласен"), "Олег", "/contact +79001234567",
        press("Вечером"), press("Да"),
        "/as group",
        "/as 5", "/forget", press("Удалить мои данные"), press("Мои заявки"),
        "/start"])
    help_text = walk.between("Я бот техподдержки", "Главное меню")
    assert f"Телефон: {SUPPORT_PHONE}" in help_text and "Часы работы поддержки" in help_text
    assert "/forget" in help_text and "нерабочее время" in help_text
    assert "Мы позвоним по номеру +79001234567" in walk.text()
    assert "+79001234567" in walk.after("— в чате: рабочая группа")  # the request reached the group
    assert "удалены" in walk.after("> /forget") or "удалён" in walk.after("> /forget")
    assert "Сидоров" not in walk.after("— в чате: Сидоров").split("\n", 1)[1]
    assert_clean(walk)


def test_an_administrator_cancels_a_colleagues_ticket_and_counts_the_week(database, monkeypatch):
    walk = Walk(monkeypatch, first_day()).run([
        "/as 3", press("Создать заявку"), press("Склад"), press("Маркировка"),
        "Сканер не читает коды маркировки", "/photo", press("Готово"), press("Отправить"),
        "/as 2",                                                   # Петрова, Ромашка's administrator
        press("Мои заявки"), press("#1"), press("Отменить заявку"), "Дубль, уже решили по телефону",
        press("В меню"), press("Статистика"), press("7 дней"),
        "/as 3", press("Мои заявки"), press("Закрытые")])
    card = walk.between("Заявка #1 · Новая", "Отменить заявку")         # the colleague's ticket
    assert "Автор: Смирнов Олег Петрович" in card and "Вложения: 1 файл" in card
    stats = walk.after("Заявки за 7 дней (ООО «Ромашка»)")
    assert "Всего: 1" in stats and "Отменена: 1" in stats
    client = walk.after("— в чате: Смирнов")
    assert "Ваша заявка #1 (Маркировка): отменена" in client
    assert "Активных заявок нет." in client and "#1 · Маркировка · Отменена" in client
    assert_clean(walk)


def test_the_demo_on_default_settings_warns_in_russian_and_walks_clean(database, monkeypatch):
    """`python run.py demo` as shipped: no bug recipient, no card token, no SBP link."""
    walk = Walk(monkeypatch, config.load(environ={})).run([
        "/help", "/as 3", press("Баланс"), "/menu",
        press("Создать заявку"), press("Тверской"), press("Касса"), DESCRIPTION,
        press("Готово"), press("Отправить"), "/as group", press("Беру"), "/as 3"])
    warning = walk.out[0]
    assert warning.startswith("⚠️ С этими настройками некоторые сообщения никуда не уходят:")
    assert "отчёты об ошибках: получатель не задан (notify.bug.telegram_user_id)" in warning
    assert "warning" not in walk.text()
    assert "Ваша заявка #1 (Касса): взята в работу." in walk.after("— в чате: Смирнов")
    assert_clean(walk)
