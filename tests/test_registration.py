"""Registration dialogs on the real app (flows, templates, actions), standalone mode with
the demo directory: every role, several companies, typed phones, bad input, join requests
confirmed by the company; a typed phone or INN proves nothing (issue 17 items 2 and 3).
CRM and DaData runs are in test_registration_crm.py, the CRM API's side in test_api.py."""
from __future__ import annotations

import pytest

from engine import notify
from engine.testing import Chat
from helpdesk import config, demo, directory, registration
from helpdesk.app import build_app
from helpdesk.models import Contact, Counterparty, Membership, TelegramUser
from helpdesk.outbox import OutboxItem

ROMASHKA = demo.DEMO_COMPANIES[0]["inn"]
LUTIK = demo.DEMO_COMPANIES[1]["inn"]
REGISTER = "🔑 Зарегистрироваться"
PROFILE = "👤 Мои компании"


@pytest.fixture
def app(database, db_url):
    settings = config.load(environ={"DATABASE_URL": db_url, "TICKETS__TECHNICIANS": "[990]",
                                    "NOTIFY__USER__COMPANY_NEW_TICKETS": "true"})
    app = build_app(settings)
    demo.seed_demo()
    return app


def chat(app, user_id: int, **kw) -> Chat:
    c = Chat(app.engine, user_id=user_id, **kw)
    c.send("/start")
    return c


def register(app, user_id: int, phone: str) -> Chat:
    c = chat(app, user_id)
    c.click(REGISTER)
    c.share_contact(phone)
    return c


def roles_of(user_id: int) -> dict[str, tuple[str, str]]:
    return {m.counterparty.inn: (m.role, m.status) for m in directory.memberships_of(user_id)}


def outgoing(chat_id: int) -> list:
    rows = notify.Outgoing.select().where(notify.Outgoing.chat_id == chat_id)
    return [notify.to_reply(r) for r in rows.order_by(notify.Outgoing.id)]


def button_data(reply, label_part: str) -> str:
    return next(b.data for row in reply.buttons for b in row if label_part in b.text)


# --- found by phone ----------------------------------------------------------------

@pytest.mark.parametrize("phone, inn, role", [
    ("+79000000001", ROMASHKA, "DIRECTOR"),
    ("+79000000002", ROMASHKA, "ADMINISTRATOR"),
    ("+79000000003", ROMASHKA, "USER"),
    ("+79000000005", demo.DEMO_COMPANIES[2]["inn"], "DIRECTOR"),
])
def test_every_demo_role_registers_by_shared_contact(app, phone, inn, role):
    c = register(app, 5001, phone)
    assert "Номер найден" in c.last_text or c.said("Номер найден")
    assert roles_of(5001) == {inn: (role, "confirmed")}
    assert TelegramUser.get_by_id(5001).phone == phone
    assert registration.current_company(5001).inn == inn
    assert c.said("Главное меню") and PROFILE in c.buttons and REGISTER not in c.buttons


def test_unregistered_user_sees_register_not_profile(app):
    c = chat(app, 5002)
    assert REGISTER in c.buttons and PROFILE not in c.buttons


def test_person_in_two_companies_gets_both_roles_and_chooses_current(app):
    c = register(app, 5003, "+79000000004")
    assert roles_of(5003) == {ROMASHKA: ("ADMINISTRATOR", "confirmed"),
                              LUTIK: ("DIRECTOR", "confirmed")}
    assert c.said("ООО «Ромашка»") and c.said("директор")
    assert sorted(c.buttons) == ["ООО «Лютик»", "ООО «Ромашка»"]
    assert registration.current_company(5003) is None       # two companies: none chosen
    c.click("ООО «Лютик»")
    assert "Текущая компания: <b>ООО «Лютик»</b>" in c.transcript[-2].text
    assert registration.current_company(5003).inn == LUTIK


def test_registered_user_sees_already_registered_and_can_switch_company(app):
    c = register(app, 5004, "+79000000004")
    c.click("ООО «Лютик»")
    c.click(PROFILE)
    assert "Вы уже зарегистрированы как <b>Кузнецова Мария Игоревна</b>" in c.last_text
    assert "Текущая компания: <b>ООО «Лютик»</b>" in c.last_text
    c.click("🏢 Выбрать компанию")
    c.click("ООО «Ромашка»")
    assert registration.current_company(5004).inn == ROMASHKA


def test_choosing_a_company_that_is_not_yours_is_refused(app):
    register(app, 5005, "+79000000003")
    stranger = Counterparty.get(Counterparty.inn == LUTIK)
    with pytest.raises(registration.PermissionDenied):
        registration.set_current_company(5005, stranger.id)
    assert registration.current_company(5005).inn == ROMASHKA


def test_someone_elses_contact_is_refused(app):
    c = chat(app, 5006)
    c.click(REGISTER)
    c.share_contact("+79000000001", user_id=777)
    assert "Это не ваш контакт" in c.last_text
    assert roles_of(5006) == {}
    assert "📱 Отправить мой номер" in c.buttons


def test_garbage_phone_gets_a_hint(app):
    c = chat(app, 5007)
    c.click(REGISTER)
    c.send("позвоните мне")
    assert "Не похоже на номер телефона" in c.last_text
    c.send("12345")
    assert "Не похоже на номер телефона" in c.last_text
    assert roles_of(5007) == {}


def test_typed_phone_is_normalised_but_its_links_wait_for_the_company(app):
    register(app, 5010, "+79000000001")                     # the director of Ромашка
    c = chat(app, 5008)
    c.click(REGISTER)
    c.send("8 (900) 000-00-03")
    assert roles_of(5008) == {ROMASHKA: ("USER", "pending")}
    user = TelegramUser.get_by_id(5008)
    assert (user.phone, user.unverified_phone) == (None, "+79000000003")
    assert c.said("Мы передали запрос компании")
    asks = outgoing(5010)
    assert len(asks) == 1 and "Запрос на доступ" in asks[0].text
    assert "введён вручную" in asks[0].text and "Смирнов" not in asks[0].text
    assert TelegramUser.get_by_id(5008).full_name is None    # not the number owner's name
    assert REGISTER not in c.buttons and PROFILE in c.buttons


# --- questionnaire (standalone: no DaData key, manual company name) -----------------

def start_questionnaire(app, user_id: int) -> Chat:
    c = register(app, user_id, demo.UNKNOWN_PHONE)
    assert c.said("Заполните, пожалуйста, короткую анкету")
    return c


def test_questionnaire_without_dadata_creates_the_company_and_an_unverified_link(app):
    """A new INN: the company goes to the CRM at once; the person is its unverified USER
    (anyone can type an INN) until support, asked because the company has nobody yet,
    confirms; only then the contact exists and goes to the CRM."""
    c = start_questionnaire(app, 5020)
    c.send("Новиков Николай")
    c.send("7707083893")
    c.send("Кладовщик")
    assert "Напишите название вашей организации" in c.last_text
    c.send("ООО «Новая»")
    assert c.said("Организация <b>ООО «Новая»</b> добавлена")
    assert c.said("видите только свои")
    company = Counterparty.get(Counterparty.inn == "7707083893")
    assert company.name == "ООО «Новая»" and Contact.select().where(
        Contact.counterparty == company).count() == 0
    assert roles_of(5020) == {"7707083893": ("USER", "unverified")}
    assert registration.current_company(5020).id == company.id       # files tickets for it
    assert {(o.entity, o.entity_id) for o in OutboxItem.select()} == {("counterparty", company.id)}
    [ask] = outgoing(990)                                     # support: the company has nobody
    chat(app, 990).press_data(button_data(ask, "Подтвердить"))
    assert roles_of(5020) == {"7707083893": ("USER", "confirmed")}
    contact = Contact.get(Contact.counterparty == company)
    assert (contact.full_name, contact.phone, contact.position, contact.role) == \
        ("Новиков Николай", demo.UNKNOWN_PHONE, "Кладовщик", "USER")   # shared: proven phone
    queued = {(o.entity, o.entity_id) for o in OutboxItem.select()}
    assert queued == {("counterparty", company.id), ("contact", contact.id)}


def test_bad_inn_and_huge_name_are_refused_with_hints_and_nothing_stored(app):
    c = start_questionnaire(app, 5021)
    c.send("Я" * 5000)
    assert "Слишком длинно" in c.last_text and "200" in c.last_text
    c.send("Н")
    assert "Слишком коротко" in c.last_text or "коротк" in c.last_text.lower()
    c.send("Новиков Николай")
    c.send("7707083894")
    assert "контрольная сумма" in c.last_text
    c.send("12345")
    assert "10 цифр" in c.last_text
    c.send("77070838" + "93")
    assert "должность" in c.last_text.lower()
    assert TelegramUser.get_by_id(5021).full_name is None
    assert Counterparty.select().where(Counterparty.inn == "7707083893").count() == 0
    assert OutboxItem.select().count() == 0


def test_questionnaire_with_a_known_inn_gives_an_unverified_link_the_admin_confirms(app):
    register(app, 5030, "+79000000002")                     # administrator of Ромашка
    register(app, 5031, "+79000000003")                     # a mere user of Ромашка
    before = Contact.select().count()
    c = start_questionnaire(app, 5032)
    for answer in ("Незнакомцев Пётр", ROMASHKA, "Менеджер", "Самозванец"):
        c.send(answer)
    assert c.said("уже есть в нашей базе")
    assert roles_of(5032) == {ROMASHKA: ("USER", "unverified")}
    assert Contact.select().count() == before               # no contact until confirmed
    assert Counterparty.get(Counterparty.inn == ROMASHKA).name == "ООО «Ромашка»"
    assert OutboxItem.select().count() == 0
    assert outgoing(5031) == []                             # a USER is not asked
    [ask] = outgoing(5030)
    assert "Незнакомцев Пётр" in ask.text and "Менеджер" in ask.text
    assert "введён вручную" not in ask.text                  # shared with the contact button
    confirm = button_data(ask, "Подтвердить")
    membership_id = int(confirm.rsplit(":", 1)[1])

    stranger = chat(app, 5033)
    stranger.press_data(confirm)
    assert "нет прав" in stranger.last_text
    user = chat(app, 5031)
    user.press_data(confirm)
    assert "нет прав" in user.last_text
    forged = chat(app, 5030)
    for data in ("mb:confirm:999999", "mb:confirm:abc", "mb:delete:%d" % membership_id,
                 "mb:confirm:" + "9" * 40):
        forged.press_data(data)
        assert "нет прав" in forged.last_text
    assert roles_of(5032) == {ROMASHKA: ("USER", "unverified")}

    admin = chat(app, 5030)
    admin.press_data(confirm)
    assert "подтверждён" in admin.last_text
    assert roles_of(5032) == {ROMASHKA: ("USER", "confirmed")}
    contact = Contact.get(Contact.phone == demo.UNKNOWN_PHONE)
    assert (contact.full_name, contact.position, contact.role) == ("Незнакомцев Пётр", "Менеджер", "USER")
    assert [(o.entity, o.entity_id) for o in OutboxItem.select()] == [("contact", contact.id)]
    told = [r.text for r in outgoing(5032)]
    assert len(told) == 1 and "подтвердила ваш доступ" in told[0]
    admin.press_data(confirm)                                # a second press changes nothing
    assert "уже подтверждён" in admin.last_text
    assert len(outgoing(5032)) == 1 and OutboxItem.select().count() == 1


def test_reject_deletes_the_request_and_tells_the_requester(app):
    register(app, 5040, "+79000000001")
    c = start_questionnaire(app, 5041)
    for answer in ("Незнакомцев Пётр", ROMASHKA, "Менеджер", "Самозванец"):
        c.send(answer)
    [ask] = outgoing(5040)
    director = chat(app, 5040)
    director.press_data(button_data(ask, "Отклонить"))
    assert "отклонён" in director.last_text
    assert roles_of(5041) == {}
    assert "не подтвердила" in outgoing(5041)[0].text
    director.press_data(button_data(ask, "Подтвердить"))      # the request is gone
    assert "нет прав" in director.last_text


def test_support_is_asked_when_the_company_has_no_admins_and_may_confirm(app):
    c = start_questionnaire(app, 5050)
    for answer in ("Незнакомцев Пётр", LUTIK, "Официант", "Кафе"):
        c.send(answer)
    [ask] = outgoing(990)                                     # settings tickets.technicians
    support = chat(app, 990)
    support.press_data(button_data(ask, "Подтвердить"))
    assert roles_of(5050) == {LUTIK: ("USER", "confirmed")}
    assert Membership.get(Membership.telegram_user == 5050).confirmed_by_id == 990


def test_questionnaire_by_a_member_of_that_company_keeps_the_confirmed_link(app):
    c = register(app, 5060, "+79000000003")
    c.click(PROFILE)
    c.click("📱 Зарегистрировать другой номер")
    c.share_contact(demo.UNKNOWN_PHONE)
    for answer in ("Смирнов Олег", ROMASHKA, "Продавец", "Ромашка"):
        c.send(answer)
    assert c.said("Вы уже зарегистрированы в <b>ООО «Ромашка»</b>")
    assert roles_of(5060) == {ROMASHKA: ("USER", "confirmed")}


def test_english_texts(app):
    c = Chat(app.engine, user_id=5070, language="en")
    c.send("/start")
    c.click("🔑 Register")
    assert "Registration" in c.last_text
    c.share_contact("+79000000002")
    assert c.said("Number found") and c.said("administrator")


def test_english_texts_of_a_typed_phone(app):
    c = Chat(app.engine, user_id=5071, language="en")
    c.send("/start")
    c.click("🔑 Register")
    c.send("+79000000002")
    assert c.said("You typed the number") and not c.said("Ромашка")


def test_demo_banner_lists_every_phone_with_its_roles(app):
    text = demo.banner(demo.seed_demo())
    for person in demo.seed_demo()["people"]:
        assert f"/contact {person['phone']}" in text
    assert "Кузнецова Мария Игоревна: ООО «Лютик»: директор; ООО «Ромашка»: администратор" in text
    assert f"/contact {demo.UNKNOWN_PHONE}" in text and "анкета" in text
    assert "&" not in text and "<" not in text                 # plain text for the terminal
    assert "/contact +79000000001" in demo.banner(demo.seed_demo(), "en")
