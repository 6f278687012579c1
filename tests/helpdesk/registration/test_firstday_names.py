"""A support company's first day (issue 14 points 2-4), as transcripts on the real app in
standalone mode with the demo directory:

2. the CRM's name of a person wins once he is known; a typed name only until then; the
   access request names the person as he introduced himself, the phone, whether Telegram
   confirmed it, and the company, in one sentence, and the head presses it in the demo;
3. the questionnaire asks only what it does not know, and its intro counts it;
4. the current company is used when filing, with a button to file for another.
"""
from __future__ import annotations

import pytest

from engine.outgoing import Outgoing, to_reply
from engine.testing import Chat
from helpdesk import config, registration
from helpdesk.app import build_app
from helpdesk.directory.tables import TelegramUser
from helpdesk.ops import demo
from helpdesk.tickets.tables import Ticket
from tests.support.fakes.dadata_stub import DadataStub
from tests.support.privacy import agree
from tests.support.registration import chat, register

ROMASHKA = demo.DEMO_COMPANIES[0]["inn"]
LUTIK = demo.DEMO_COMPANIES[1]["inn"]
NEW_INN = "7707083893"
REGISTER, PROFILE = "🔑 Зарегистрироваться", "👤 Мои компании"
OTHER_PHONE = "📱 Зарегистрировать другой номер"
CREATE, CHANGE = "📝 Создать заявку", "🏢 Другая компания"
DIRECTOR, ADMIN = 5110, 5111          # Иванов and Петрова of ООО «Ромашка», shared contacts


@pytest.fixture
def app(database, db_url):
    settings = config.load(environ={"DATABASE_URL": db_url, "TICKETS__TECHNICIANS": "[990]",
                                    "NOTIFY__USER__COMPANY_NEW_TICKETS": "true"})
    app = build_app(settings)
    demo.seed_demo()
    return app


def outgoing(chat_id: int) -> list:
    rows = Outgoing.select().where(Outgoing.chat_id == chat_id).order_by(Outgoing.id)
    return [to_reply(r) for r in rows]


def text_of(c: Chat) -> str:
    return "\n".join(r.text + " " + " ".join(r.button_texts()) for r in c.transcript)


def file_ticket(c: Chat, description: str) -> None:
    if "Без точки" in c.buttons:
        c.click("Без точки")
    c.click("Другое")
    c.send(description)
    c.click("✅ Готово")
    c.click("📨 Отправить")


# --- 2. names -----------------------------------------------------------------------------

def test_the_crms_name_wins_over_the_name_a_guest_typed(app):
    register(app, ADMIN, "+79000000002")
    guest = register(app, 5101, demo.UNKNOWN_PHONE)          # nobody lists it: the questionnaire
    for answer in ("Алексей Гость", NEW_INN, "Кладовщик", "ООО «Новая»"):
        guest.send(answer)
    guest.click(PROFILE)
    assert "Вы уже зарегистрированы как <b>Алексей Гость</b>" in guest.last_text
    guest.click(OTHER_PHONE)
    guest.share_contact("+79000000001")                       # Иванов's own phone, proven
    assert guest.said("Номер найден")
    guest.click("ООО «Ромашка»")                              # two companies now: he chooses
    guest.click(PROFILE)
    assert "Вы уже зарегистрированы как <b>Иванов Иван Иванович</b>" in guest.last_text
    guest.click("🏠 В меню")
    guest.click(CREATE)
    file_ticket(guest, "Не печатает чек на кассе у входа")
    [ticket] = Ticket.select()
    told = "\n".join(r.text for r in outgoing(ADMIN))
    assert f"Новая заявка <b>{ticket.label}</b> в ООО «Ромашка» от Иванов Иван Иванович" in told
    assert "Алексей Гость" not in told
    colleague = chat(app, ADMIN)
    colleague.click("📋 Мои заявки")
    colleague.click(next(b for b in colleague.buttons if ticket.label in b))
    assert "Автор: Иванов Иван Иванович" in colleague.last_text


def test_a_typed_name_is_kept_until_the_crm_names_the_person(app):
    register(app, DIRECTOR, "+79000000001")
    c = chat(app, 5102)
    c.click(REGISTER)
    agree(c)
    c.send("+7 900 000-00-03")                                # Смирнов's phone, typed
    assert "Как вас зовут?" in c.last_text
    c.send("Олег Смирнов")
    [ask] = outgoing(DIRECTOR)
    chat(app, DIRECTOR).press_data(next(b.data for row in ask.buttons for b in row if "Подтвердить" in b.text))
    c.click(PROFILE)
    assert "Вы уже зарегистрированы как <b>Олег Смирнов</b>" in c.last_text
    c.click(OTHER_PHONE)
    c.share_contact("+79000000003")                           # now proven: the CRM names him
    c.click(PROFILE)
    assert "Вы уже зарегистрированы как <b>Смирнов Олег Петрович</b>" in c.last_text


def test_a_person_the_crm_knows_keeps_that_name_when_he_fills_the_questionnaire(app):
    c = register(app, 5103, "+79000000003")                   # Смирнов, named by the directory
    c.click(PROFILE)
    c.click(OTHER_PHONE)
    c.share_contact(demo.UNKNOWN_PHONE)
    assert c.said("короткую анкету: 2 вопроса (ИНН компании, должность)")   # no name question
    for answer in (NEW_INN, "Кладовщик", "ООО «Новая»"):
        c.send(answer)
    assert TelegramUser.get_by_id(5103).full_name == "Смирнов Олег Петрович"
    c.click(PROFILE)
    assert "Вы уже зарегистрированы как <b>Смирнов Олег Петрович</b>" in c.last_text


def test_the_access_request_for_a_typed_phone_reads_as_one_sentence(app):
    register(app, DIRECTOR, "+79000000001")
    c = Chat(app.engine, user_id=5104, username="oleg_n", first_name="Console")
    c.send("/start")
    c.click(REGISTER)
    agree(c)
    c.send("+7 900 000-00-03")
    c.send("Олег Новичков")
    [ask] = outgoing(DIRECTOR)
    assert ask.text.splitlines() == [
        "🔔 <b>Запрос на доступ к компании ООО «Ромашка»</b>",
        "Олег Новичков просит доступ к компании ООО «Ромашка» с ролью «пользователь».",
        "Телефон +79000000003 введён вручную: Telegram его не подтвердил.",
        "В Telegram: @oleg_n.",
        "Подтвердите, если это ваш сотрудник."]
    assert "Console" not in ask.text and "Смирнов" not in ask.text
    assert ask.button_texts() == ["✅ Подтвердить", "🚫 Отклонить"]


def test_the_access_request_of_the_questionnaire_says_telegram_confirmed_the_phone(app):
    register(app, DIRECTOR, "+79000000001")
    c = register(app, 5105, demo.UNKNOWN_PHONE)               # shared: proven, not listed
    for answer in ("Незнакомцев Пётр", ROMASHKA, "Менеджер"):
        c.send(answer)
    [ask] = outgoing(DIRECTOR)
    assert ("Незнакомцев Пётр (должность: Менеджер) просит доступ к компании ООО «Ромашка» "
            "с ролью «пользователь».") in ask.text
    assert (f"Телефон {demo.UNKNOWN_PHONE} подтверждён Telegram: отправлен кнопкой "
            "«Отправить мой номер».") in ask.text


def test_the_access_request_in_english(app):
    register(app, DIRECTOR, "+79000000001")
    TelegramUser.update(language="en").where(TelegramUser.id == DIRECTOR).execute()
    c = chat(app, 5106, language="en")
    c.click("🔑 Register")
    agree(c, "en")
    c.send("+79000000003")
    c.send("John Smith")
    [ask] = outgoing(DIRECTOR)
    assert "John Smith asks for access to ООО «Ромашка» as «user»." in ask.text
    assert "The phone +79000000003 was typed by hand: Telegram has not confirmed it." in ask.text


def run_demo(settings, lines: list[str]) -> list[str]:
    """The demo's terminal chat (`python run.py demo`) fed `lines`; a callable line is
    given the output so far. Everything it wrote."""
    from helpdesk.ops.commands import demo_console
    out: list[str] = []
    feed = iter(lines)

    def read(prompt):
        out.append(prompt)
        try:
            line = next(feed)
        except StopIteration:
            raise EOFError from None
        return line(out) if callable(line) else line
    demo_console(settings, user_id=700000001, lang="ru", read=read, write=out.append,
                 connect=False).run()
    return out


def press(label: str):
    """The number of the latest button with `label` (what a person types to press it)."""
    def number(out: list[str]) -> str:
        line = next(x for x in reversed(out) if label in x and x.strip().startswith("["))
        return line.strip()[1:line.strip().index("]")]
    return number


def test_the_head_sees_and_presses_the_request_in_the_demo(database, settings):
    out = run_demo(settings, ["1", press("Согласен"),                   # you: register, consent (152-ФЗ)
                              "+7 900 000-00-03", "Олег Новичков",        # typed phone, name
                              "/as 1", press("Подтвердить"),                # Иванов confirms
                              "/as 0"])
    text = "\n".join(out)
    director = text[text.index("— в чате: Иванов"):text.rindex("— в чате: вы")]
    assert ("Олег Новичков просит доступ к компании ООО «Ромашка» с ролью «пользователь»."
            in director)
    assert "✅ Запрос подтверждён: Олег Новичков получает доступ к компании ООО «Ромашка»." in director
    assert "Компания ООО «Ромашка» подтвердила ваш доступ." in text[text.rindex("— в чате: вы"):]
    assert "Извините" not in text


# --- 3. the questionnaire asks only what it does not know -----------------------------------

def test_a_known_inn_asks_no_company_name_and_the_intro_counts_the_questions(app):
    c = register(app, 5120, demo.UNKNOWN_PHONE)
    assert c.said("короткую анкету: 3 вопроса (ФИО, ИНН компании, должность)")
    asked = [c.last_text]
    for answer in ("Незнакомцев Пётр", ROMASHKA, "Менеджер"):
        c.send(answer)
        asked.append(c.transcript[-1].text)
    assert asked[:3] == ["Как вас зовут? Напишите фамилию, имя и отчество.",
                         "Введите ИНН вашей компании: 10 цифр, или 12 цифр для ИП.",
                         "Ваша должность?"]
    assert c.said("Компания <b>ООО «Ромашка»</b> уже есть в нашей базе")
    assert "Напишите название" not in text_of(c)
    assert registration.company_choices(5120)[0].inn == ROMASHKA


def test_a_new_inn_without_dadata_asks_its_name_as_the_intro_said(app):
    c = register(app, 5121, demo.UNKNOWN_PHONE)
    assert c.said("Если компании с этим ИНН нет в нашей базе, спросим ещё её название.")
    for answer in ("Новиков Николай", NEW_INN, "Кладовщик"):
        c.send(answer)
    assert "Напишите название вашей компании" in c.last_text


def test_an_inn_dadata_knows_is_confirmed_not_typed(database, db_url):
    with DadataStub() as dadata:
        dadata.add_company(NEW_INN, "ООО «НОВАЯ»")
        settings = config.load(environ={"DATABASE_URL": db_url, "DADATA__API_KEY": dadata.api_key,
                                        "DADATA__URL": dadata.url, "DADATA__TIMEOUT": "2"})
        app = build_app(settings)
        demo.seed_demo()
        c = register(app, 5122, demo.UNKNOWN_PHONE)
        for answer in ("Новиков Николай", NEW_INN, "Кладовщик"):
            c.send(answer)
        assert "Это ваша компания?" in c.last_text and "✅ Да" in c.buttons
        c.click("✅ Да")
    assert c.said("Компания <b>ООО «НОВАЯ»</b> добавлена")
    assert "Напишите название" not in text_of(c)


# --- 4. the current company is used when filing --------------------------------------------

def test_the_current_company_is_used_and_can_be_changed_for_one_ticket(app):
    c = register(app, 5130, "+79000000004")                   # Кузнецова: Лютик and Ромашка
    c.click("ООО «Лютик»")
    assert "Текущая компания: <b>ООО «Лютик»</b>" in text_of(c)
    c.click(CREATE)
    assert "От какой компании заявка?" not in text_of(c)
    assert c.last_text == "Заявка от компании <b>ООО «Лютик»</b>.\nВыберите тип заявки."
    assert CHANGE in c.buttons
    file_ticket(c, "Не работает эквайринг в кафе")
    c.click(CREATE)
    c.click(CHANGE)
    assert c.last_text == "От какой компании заявка?"
    c.click("ООО «Ромашка»")
    assert c.last_text.startswith("Заявка от компании <b>ООО «Ромашка»</b>.\nВыберите торговую точку.")
    file_ticket(c, "Не печатает чек на кассе у входа")
    by_number = {t.number: t.counterparty.inn for t in Ticket.select()}
    assert by_number == {1: LUTIK, 2: ROMASHKA}
    assert registration.current_company(5130).inn == LUTIK    # the change was for one ticket


def test_several_companies_and_none_chosen_are_asked(app):
    c = register(app, 5131, "+79000000004")                   # leaves the choice unanswered
    c.send("/menu")
    c.click(CREATE)
    assert c.last_text == "От какой компании заявка?"
    assert sorted(c.buttons) == ["ООО «Лютик»", "ООО «Ромашка»"]


def test_one_company_shows_no_change_button(app):
    c = register(app, 5132, "+79000000003")
    c.click(CREATE)
    c.click("Без точки")                                      # Ромашка has three points
    assert c.last_text == "Выберите тип заявки." and CHANGE not in c.buttons


def test_the_change_button_in_english(app):
    c = register(app, 5133, "+79000000004")
    c.click("ООО «Лютик»")
    TelegramUser.update(language="en").where(TelegramUser.id == 5133).execute()
    c = chat(app, 5133, language="en")
    c.click("📝 Create ticket")
    assert c.last_text == "The ticket is from <b>ООО «Лютик»</b>.\nChoose the ticket type."
    assert "🏢 Another company" in c.buttons


def test_a_question_added_as_docs_flows_md_says_is_counted_by_the_intro(database, settings, tmp_path):
    """The walk-through "добавить вопрос в анкету регистрации": e-mail after the position.
    Nobody touches a number: the intro reads the flow (engine/ahead.py)."""
    import shutil

    from helpdesk.app import PROJECT_ROOT
    shutil.copytree(f"{PROJECT_ROOT}/flows", tmp_path / "flows", ignore=shutil.ignore_patterns("tests"))
    shutil.copytree(f"{PROJECT_ROOT}/templates", tmp_path / "templates")
    flows = tmp_path / "flows" / "registration.yaml"
    source = flows.read_text(encoding="utf-8")
    old = "    ask: {type: text, min: 2, max: 200, save: position}\n    next: confirm_company\n"
    assert old in source
    flows.write_text(source.replace(old, (
        "    ask: {type: text, min: 2, max: 200, save: position}\n    next: ask_email\n\n"
        "  ask_email:\n    say: registration/ask_email\n"
        "    ask: {type: text, min: 5, max: 100, save: email}\n    next: confirm_company\n")),
        encoding="utf-8")
    for lang, text in (("ru", "Ваш e-mail для уведомлений?"), ("en", "Your e-mail for notifications?")):
        (tmp_path / "templates" / lang / "registration" / "ask_email.j2").write_text(text, encoding="utf-8")
    engine = settings.engine.model_copy(update={"flows_dir": str(tmp_path / "flows"),
                                                "templates_dir": str(tmp_path / "templates")})
    app = build_app(settings.model_copy(update={"engine": engine}), connect=False)
    demo.seed_demo()
    c = register(app, 5140, demo.UNKNOWN_PHONE)
    assert c.said("короткую анкету: 4 вопроса (ФИО, ИНН компании, должность)")
    for answer in ("Новиков Николай", NEW_INN, "Кладовщик"):
        c.send(answer)
    assert c.last_text == "Ваш e-mail для уведомлений?"
