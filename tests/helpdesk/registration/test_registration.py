"""Registration dialogs on the real app (flows, templates, actions), standalone mode with
the demo directory: every role, several companies, typed phones, bad input, join requests
confirmed by the company; a typed phone or INN proves nothing (issue 17 items 2 and 3).
CRM and DaData runs are in test_crm.py here, the CRM API's side in tests/helpdesk/api/test_api.py."""
from __future__ import annotations

import pytest

from engine.outgoing import Outgoing
from engine.testing import Chat
from helpdesk import directory, registration
from helpdesk.directory.roles import PermissionDenied, Right
from helpdesk.directory.tables import ContactPerson, Counterparty, Membership, TelegramUser
from helpdesk.ops import demo
from helpdesk.sync.outbox import OutboxItem
from tests.support.registration import (
    MY_TICKETS,
    NOBODY,
    REGISTER,
    ROMASHKA,
    STRANGER,
    button_data,
    chat,
    outgoing,
    register,
    registration_app,
    roles_of,
    romashka_world,
    start_questionnaire,
    transcript_text,
)

LUTIK = demo.DEMO_COMPANIES[1]["inn"]
PROFILE = "👤 Мои компании"


def refused(replies) -> bool:
    """Answered on the button only: no message, no edit (tests/helpdesk/test_callback_refusals.py)."""
    return [r.answer_only for r in replies] == [True]


@pytest.fixture
def app(database, db_url):
    return registration_app(db_url)


# --- found by phone ----------------------------------------------------------------

@pytest.mark.parametrize("phone, inn, role", [
    ("+79000000001", ROMASHKA, "DIRECTOR"),
    ("+79000000002", ROMASHKA, "ADMINISTRATOR"),
    ("+79000000003", ROMASHKA, "USER"),
    ("+79000000005", demo.DEMO_COMPANIES[2]["inn"], "DIRECTOR"),
])
def test_every_demo_role_registers_by_shared_contact(app, phone, inn, role):
    c = register(app, 5001, phone)
    assert c.said("Номер найден")
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
    with pytest.raises(PermissionDenied):
        registration.set_current_company(5005, stranger.id)
    assert registration.current_company(5005).inn == ROMASHKA


def test_someone_elses_contact_is_refused(app):
    c = chat(app, 5006)
    c.click(REGISTER)
    c.click("✅ Согласен")          # the consent comes first (152-ФЗ)
    c.share_contact("+79000000001", user_id=777)
    assert "Это не ваш контакт" in c.last_text
    assert roles_of(5006) == {}
    assert "📱 Отправить мой номер" in c.buttons


def test_garbage_phone_gets_a_hint(app):
    c = chat(app, 5007)
    c.click(REGISTER)
    c.click("✅ Согласен")          # the consent comes first (152-ФЗ)
    c.send("позвоните мне")
    assert "Не похоже на номер телефона" in c.last_text
    c.send("12345")
    assert "Не похоже на номер телефона" in c.last_text
    assert roles_of(5007) == {}


def test_typed_phone_is_normalised_but_its_links_wait_for_the_company(app):
    register(app, 5010, "+79000000001")                     # the director of Ромашка
    c = chat(app, 5008)
    c.click(REGISTER)
    c.click("✅ Согласен")          # the consent comes first (152-ФЗ)
    c.send("8 (900) 000-00-03")
    assert "Как вас зовут?" in c.last_text                  # typed: the company is told who asks
    c.send("Олег Новичков")
    assert roles_of(5008) == {ROMASHKA: ("USER", "pending")}
    user = TelegramUser.get_by_id(5008)
    assert (user.phone, user.unverified_phone) == (None, "+79000000003")
    assert c.said("Мы передали запрос компании")
    asks = outgoing(5010)
    assert len(asks) == 1 and "Запрос на доступ" in asks[0].text
    assert "введён вручную" in asks[0].text and "Смирнов" not in asks[0].text
    assert "Олег Новичков просит доступ к компании ООО «Ромашка»" in asks[0].text
    assert TelegramUser.get_by_id(5008).full_name == "Олег Новичков"   # his, not the owner's
    assert REGISTER not in c.buttons and PROFILE in c.buttons


# --- questionnaire (standalone: no DaData key, manual company name) -----------------


def test_questionnaire_without_dadata_creates_the_company_and_an_unverified_link(app):
    """A new INN: the company goes to the CRM at once; the person is its unverified USER
    (anyone can type an INN) until support, asked because the company has nobody yet,
    confirms; only then the contact exists and goes to the CRM."""
    c = start_questionnaire(app, 5020)
    c.send("Новиков Николай")
    c.send("7707083893")
    c.send("Кладовщик")
    assert "Напишите название вашей компании" in c.last_text
    c.send("ООО «Новая»")
    assert c.said("Компания <b>ООО «Новая»</b> добавлена")
    assert c.said("видите только свои")
    company = Counterparty.get(Counterparty.inn == "7707083893")
    assert company.name == "ООО «Новая»" and ContactPerson.select().where(
        ContactPerson.counterparty == company).count() == 0
    assert roles_of(5020) == {"7707083893": ("USER", "unverified")}
    assert registration.current_company(5020).id == company.id       # files tickets for it
    assert {(o.entity, o.entity_id) for o in OutboxItem.select()} == {("counterparty", company.id)}
    [ask] = outgoing(990)                                     # support: the company has nobody
    chat(app, 990).press_data(button_data(ask, "Подтвердить"))
    assert roles_of(5020) == {"7707083893": ("USER", "confirmed")}
    contact = ContactPerson.get(ContactPerson.counterparty == company)
    assert (contact.full_name, contact.phone, contact.position, contact.role) == \
        ("Новиков Николай", demo.UNKNOWN_PHONE, "Кладовщик", "USER")   # shared: proven phone
    queued = {(o.entity, o.entity_id) for o in OutboxItem.select()}
    assert queued == {("counterparty", company.id), ("contact", contact.id)}


def test_bad_inn_and_huge_name_are_refused_with_hints_and_nothing_stored(app):
    c = start_questionnaire(app, 5021)
    c.send("Я" * 5000)
    assert "Слишком длинно" in c.last_text and "200" in c.last_text
    c.send("Н")
    assert "Слишком коротко" in c.last_text
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
    before = ContactPerson.select().count()
    c = start_questionnaire(app, 5032)
    for answer in ("Незнакомцев Пётр", ROMASHKA, "Менеджер"):   # a known INN: no name asked
        c.send(answer)
    assert c.said("уже есть в нашей базе")
    assert roles_of(5032) == {ROMASHKA: ("USER", "unverified")}
    assert ContactPerson.select().count() == before               # no contact until confirmed
    assert Counterparty.get(Counterparty.inn == ROMASHKA).name == "ООО «Ромашка»"
    assert OutboxItem.select().count() == 0
    assert outgoing(5031) == []                             # a USER is not asked
    [ask] = outgoing(5030)
    assert "Незнакомцев Пётр" in ask.text and "Менеджер" in ask.text
    assert "введён вручную" not in ask.text                  # shared with the contact button
    confirm = button_data(ask, "Подтвердить")
    membership_id = int(confirm.rsplit(":", 1)[1])

    stranger = chat(app, 5033)
    assert refused(stranger.press_data(confirm))
    user = chat(app, 5031)
    assert refused(user.press_data(confirm))
    forged = chat(app, 5030)
    for data in ("mb:confirm:999999", "mb:confirm:abc", "mb:delete:%d" % membership_id,
                 "mb:confirm:" + "9" * 40):
        assert refused(forged.press_data(data))
    assert roles_of(5032) == {ROMASHKA: ("USER", "unverified")}

    admin = chat(app, 5030)
    admin.press_data(confirm)
    assert "подтверждён" in admin.last_text
    assert roles_of(5032) == {ROMASHKA: ("USER", "confirmed")}
    contact = ContactPerson.get(ContactPerson.phone == demo.UNKNOWN_PHONE)
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
    for answer in ("Незнакомцев Пётр", ROMASHKA, "Менеджер"):
        c.send(answer)
    [ask] = outgoing(5040)
    director = chat(app, 5040)
    director.press_data(button_data(ask, "Отклонить"))
    assert "отклонён" in director.last_text
    assert roles_of(5041) == {}
    assert "не подтвердила" in outgoing(5041)[0].text
    assert refused(director.press_data(button_data(ask, "Подтвердить")))   # the request is gone


def test_support_is_asked_when_the_company_has_no_admins_and_may_confirm(app):
    c = start_questionnaire(app, 5050)
    for answer in ("Незнакомцев Пётр", LUTIK, "Официант"):
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
    for answer in (ROMASHKA, "Продавец"):               # his name is the CRM's: not asked
        c.send(answer)
    assert c.said("Вы уже зарегистрированы в <b>ООО «Ромашка»</b>")
    assert roles_of(5060) == {ROMASHKA: ("USER", "confirmed")}


def test_english_texts(app):
    c = Chat(app.engine, user_id=5070, language="en")
    c.send("/start")
    c.click("🔑 Register")
    c.click("✅ I agree")             # the consent comes first (152-ФЗ)
    assert "Registration" in c.last_text
    c.share_contact("+79000000002")
    assert c.said("Number found") and c.said("administrator")


def test_english_texts_of_a_typed_phone(app):
    c = Chat(app.engine, user_id=5071, language="en")
    c.send("/start")
    c.click("🔑 Register")
    c.click("✅ I agree")             # the consent comes first (152-ФЗ)
    c.send("+79000000002")
    assert "What is your full name?" in c.last_text
    c.send("John Smith")
    assert c.said("You typed the number") and not c.said("Ромашка")


def test_demo_banner_lists_every_phone_with_its_roles(app):
    text = demo.banner(demo.seed_demo())
    for person in demo.seed_demo()["people"]:
        assert f"/contact {person['phone']}" in text
    assert "Кузнецова Мария Игоревна: ООО «Лютик»: директор; ООО «Ромашка»: администратор" in text
    assert f"/contact {demo.UNKNOWN_PHONE}" in text and "анкета" in text
    assert "&" not in text and "<" not in text                 # plain text for the terminal
    assert "/contact +79000000001" in demo.banner(demo.seed_demo(), "en")


# --- issue 17 item 2: a typed phone proves nothing ------------------------------------


def test_a_stranger_typing_the_directors_phone_learns_and_gets_nothing(app):
    register(app, 5010, "+79000000001")                     # the real director of Ромашка
    c = chat(app, 5080)
    c.click(REGISTER)
    c.click("✅ Согласен")          # the consent comes first (152-ФЗ)
    c.send("+7 900 000-00-01")                              # typed, not shared
    c.send("Пётр Незнакомцев")                              # who he says he is
    user = TelegramUser.get_by_id(5080)
    assert (user.phone, user.unverified_phone, user.full_name) == (None, "+79000000001", "Пётр Незнакомцев")
    assert roles_of(5080) == {ROMASHKA: ("USER", "pending")}   # a request for a USER, nothing more
    assert c.said("Мы передали запрос компании")
    c.click(PROFILE)
    assert "ждёт её подтверждения" in c.last_text
    c.click("📋 Мои заявки") if "📋 Мои заявки" in c.buttons else None
    seen = transcript_text(c)
    for secret in ("Ромашка", ROMASHKA, "директор", "Иванов", "Тверск", "1 500"):
        assert secret not in seen, secret
    assert registration.company_choices(5080) == [] and registration.current_company(5080) is None
    [ask] = outgoing(5010)                                  # the director sees who asks
    assert "введён вручную" in ask.text and "+79000000001" in ask.text
    assert "Пётр Незнакомцев просит доступ" in ask.text and "Иванов" not in ask.text


def test_a_stranger_typing_the_directors_phone_files_tickets_for_nobody(app):
    register(app, 5010, "+79000000001")
    c = chat(app, 5081)
    c.click(REGISTER)
    c.click("✅ Согласен")          # the consent comes first (152-ФЗ)
    c.send("+79000000001")
    c.send("Пётр")                                          # his name: asked with a typed phone
    c.click("📝 Создать заявку")
    assert "Без точки" not in c.buttons and "ООО «Ромашка»" not in c.buttons
    c.click("Другое")
    c.send("Не печатает чек на кассе")
    c.click("✅ Готово")
    assert "Ромашка" not in c.last_text
    c.click("📨 Отправить")
    [ticket] = app.services.tickets.visible(5081)[0]
    assert ticket.counterparty_id is None and ticket.contact_phone == "+79000000001"
    assert ticket.contact_name == "Пётр"                    # the owner's name is not lent
    assert outgoing(5010) and all("Новая заявка" not in r.text for r in outgoing(5010))


def test_a_typed_phone_that_nobody_lists_goes_to_the_questionnaire_unproven(app):
    c = chat(app, 5082)
    c.click(REGISTER)
    c.click("✅ Согласен")          # the consent comes first (152-ФЗ)
    c.send(demo.UNKNOWN_PHONE)
    c.send("Новиков Николай")                               # typed: the name comes first
    assert c.said("короткую анкету: 2 вопроса (ИНН компании, должность)")
    for answer in ("7707083893", "Кладовщик", "ООО «Новая»"):
        c.send(answer)
    [ask] = outgoing(990)
    assert "введён вручную" in ask.text
    chat(app, 990).press_data(button_data(ask, "Подтвердить"))
    contact = ContactPerson.get(ContactPerson.full_name == "Новиков Николай")
    assert contact.phone is None                            # a typed number finds nobody later
    assert TelegramUser.get_by_id(5082).phone is None


# --- issue 17 item 3: an INN proves nothing ---------------------------------------------


@pytest.fixture
def romashka(app):
    return romashka_world(app)


def tickets_of(app, uid: int) -> set[str]:
    return {t.description.split(":")[0] for t in app.services.tickets.visible(uid)[0]}


def test_an_unverified_member_files_for_the_company_and_sees_only_his_own(app, romashka):
    svc = app.services.tickets
    mine = svc.visible(STRANGER)[0]
    assert [t.counterparty.inn for t in mine] == [ROMASHKA]     # filed for the company
    assert mine[0].trade_point_id is None                        # its shops are not shown to him
    romashka.click(MY_TICKETS)
    assert "Колега" not in transcript_text(romashka)
    colleague = next(t for t in svc.visible(5012)[0])
    with pytest.raises(PermissionDenied):
        svc.get(STRANGER, colleague.id)


@pytest.mark.parametrize("uid, sees", [
    (5010, {"Колега", "Незнакомец"}),          # DIRECTOR: every ticket of the company
    (5011, {"Колега", "Незнакомец"}),          # ADMINISTRATOR: its active tickets
    (5012, {"Колега"}),                        # USER: own only
    (STRANGER, {"Незнакомец"}),                # unverified: own only
    (NOBODY, set()),                           # UNAUTHORIZED
])
def test_tickets_seen_by_every_role(app, romashka, uid, sees):
    directory.get_or_create_user(uid)
    assert tickets_of(app, uid) == sees


@pytest.mark.parametrize("uid, company_balance", [
    (5010, True), (5011, True), (5012, False), (STRANGER, False), (NOBODY, False)])
def test_company_balance_by_every_role(app, romashka, uid, company_balance):
    from helpdesk import payments
    directory.get_or_create_user(uid)
    company = Counterparty.get(Counterparty.inn == ROMASHKA)
    keys = [a.key for a in payments.accounts_of(uid)]
    assert keys == (["own", f"c{company.id}"] if company_balance else ["own"])
    if not company_balance:
        with pytest.raises(PermissionDenied):
            payments.account_for(uid, f"c{company.id}", Right.VIEW_OWN_BALANCE)


def test_company_notifications_skip_the_unverified_member(app, romashka):
    colleague = next(t for t in app.services.tickets.visible(5012)[0])
    told = {r.chat_id for r in Outgoing.select()
            .where(Outgoing.key.startswith(f"t{colleague.id}:") & Outgoing.key.contains(":created:"))}
    assert told == {5010, 5011}                # the company's confirmed people, not the author
    assert STRANGER not in told


def test_the_unverified_member_sees_no_company_data_in_his_profile(app, romashka):
    romashka.click(PROFILE)
    assert "ждёт подтверждения компании" in romashka.last_text
    assert "Тверск" not in transcript_text(romashka) and "1 500" not in transcript_text(romashka)


def test_a_confirm_button_makes_him_a_user_and_opens_company_rights(app, romashka):
    request = Membership.get(Membership.telegram_user == STRANGER)
    chat(app, 5012).press_data(f"mb:confirm:{request.id}")             # a USER may not
    assert roles_of(STRANGER) == {ROMASHKA: ("USER", "unverified")}
    chat(app, 5010).press_data(f"mb:confirm:{request.id}")             # the request's button
    assert roles_of(STRANGER) == {ROMASHKA: ("USER", "confirmed")}    # the seed's "always USER"
    assert directory.access_in(STRANGER, Counterparty.get(Counterparty.inn == ROMASHKA)).can(
        "company_notifications")
    assert tickets_of(app, STRANGER) == {"Незнакомец"}                  # a USER: still own only
