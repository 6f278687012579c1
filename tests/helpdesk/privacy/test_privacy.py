"""Personal data (152-ФЗ, issue 14 item 7) as transcripts: the consent before the first phone
or name, recorded with time and text version, asked again for a new text; /forget and the
profile's button erase the person's data in one transaction with the outbox item, which
reaches the REST CRM stub over real HTTP (and, for 1c-seed, a dead letter naming the 1C
guids); a repeat erases nothing more; nobody can erase anybody else."""
from __future__ import annotations

import contextlib
import json

import pytest

from engine import outgoing
from engine.errors import ActionError
from engine.session import Conversation
from engine.storage import db, write_tx
from engine.testing import Chat
from helpdesk import config, directory
from helpdesk.app import build_app
from helpdesk.directory.tables import ERASED_USER_ID, ContactPerson, Membership, TelegramUser
from helpdesk.privacy.tables import Consent
from helpdesk.sync import drain, outbox
from helpdesk.sync.outbox import OutboxItem
from helpdesk.tickets import Ticket
from helpdesk.tickets.view import ticket_view
from tests.support.fakes.crm_1c_stub import OneCStub
from tests.support.fakes.crm_rest_stub import RestCrmStub

PHONE, OTHER = "+79161234567", "+79167654321"
REGISTER, ACCEPT, DECLINE = "🔑 Зарегистрироваться", "✅ Согласен", "Не согласен"
FORGET, CANCEL, CREATE = "🗑 Удалить мои данные", "❌ Отмена", "📝 Создать заявку"
SHARE = "📱 Отправить мой номер"
OPERATOR = "ООО «Сервис Плюс», ИНН 7707083893"
POLICY = "https://service.example/privacy"
PRIVACY = {"PRIVACY__OPERATOR": OPERATOR, "PRIVACY__POLICY_URL": POLICY,
           "SUPPORT__PHONE": "+7 495 000-00-00"}


def make_app(db_url, **env):
    return build_app(config.load(environ={"DATABASE_URL": db_url, **PRIVACY, **env}))


def rest_env(stub: RestCrmStub) -> dict:
    return {"CRM__KIND": "rest", "CRM__URL": stub.url, "CRM__TOKEN": stub.token,
            "CRM__TIMEOUT": "10", "CRM__RETRIES": "0"}


def onec_env(stub: OneCStub) -> dict:
    return {"CRM__KIND": "1c-seed", "CRM__URL": stub.url, "CRM__LOGIN": stub.login,
            "CRM__PASSWORD": stub.password, "CRM__TOKEN": stub.token,
            "CRM__TIMEOUT": "10", "CRM__RETRIES": "0"}


@pytest.fixture
def rest():
    with RestCrmStub() as stub:
        yield stub


@pytest.fixture
def onec():
    with OneCStub() as stub:
        yield stub


def consents(uid: int) -> list[tuple[str, bool, bool]]:
    """(version, accepted, withdrawn) of every decision, oldest first."""
    return [(c.version, c.accepted, c.withdrawn_at is not None)
            for c in Consent.select().where(Consent.telegram_user == uid).order_by(Consent.id)]


def erasures() -> list[OutboxItem]:
    return list(OutboxItem.select().where(OutboxItem.entity == "person").order_by(OutboxItem.id))


def register(app, uid: int, phone: str = PHONE) -> Chat:
    """/start, Register, accept the consent, share one's own contact."""
    c = Chat(app.engine, user_id=uid)
    c.send("/start")
    c.click(REGISTER)
    c.click(ACCEPT)
    c.share_contact(phone)
    return c


# ---- consent ---------------------------------------------------------------------------

def test_the_consent_comes_before_the_phone_and_is_recorded_with_its_version(database, db_url):
    app = make_app(db_url)
    c = Chat(app.engine, user_id=7001)
    c.send("/start")
    c.click(REGISTER)
    assert c.said("Согласие на обработку персональных данных")
    assert c.said(OPERATOR) and c.said(f'<a href="{POLICY}">') and c.said("редакция текста 1")
    assert c.buttons == [ACCEPT, DECLINE]              # no phone asked yet
    assert consents(7001) == []
    c.click(ACCEPT)
    assert c.said("согласие записано") and c.said("Отправить мой номер")
    assert SHARE in c.buttons
    assert consents(7001) == [("1", True, False)]
    assert Consent.get(Consent.telegram_user == 7001).at is not None


def test_a_decline_says_what_is_left_and_how_to_change_ones_mind(database, db_url):
    app = make_app(db_url)
    c = Chat(app.engine, user_id=7002)
    c.send("/start")
    c.click(REGISTER)
    c.click(DECLINE)
    assert c.said("без согласия бот не спрашивает и не хранит")
    assert c.said("/help") and c.said("+7 495 000-00-00")
    assert c.said("Передумаете") and c.said("Главное меню")
    assert not c.said("Отправить мой номер")
    assert consents(7002) == [("1", False, False)]
    declined = TelegramUser.get_by_id(7002)            # no name kept without the consent
    assert (declined.first_name, declined.username) == (None, None)
    c.click(REGISTER)                                  # changed their mind
    assert c.buttons == [ACCEPT, DECLINE]
    c.click(ACCEPT)
    assert SHARE in c.buttons
    assert consents(7002) == [("1", False, False), ("1", True, False)]


def crm_person(rest: RestCrmStub) -> dict:
    company = rest.add_counterparty("ООО «Гамма»", "7707083893")
    return rest.add_person(PHONE, "Орлова Ольга Петровна", [(company, "Бухгалтер", "USER")])


def test_a_consent_given_once_is_not_asked_again(database, db_url, rest):
    crm_person(rest)
    app = make_app(db_url, **rest_env(rest))
    c = register(app, 7003)
    c.send("/start")
    c.click("👤 Мои компании")
    c.click("📱 Зарегистрировать другой номер")
    assert SHARE in c.buttons and not c.said("Согласие на обработку")


def test_a_new_text_version_asks_again_at_the_menu(database, db_url, rest):
    crm_person(rest)
    register(make_app(db_url, **rest_env(rest)), 7004)
    app = make_app(db_url, PRIVACY__TEXT_VERSION="2", **rest_env(rest))
    c = Chat(app.engine, user_id=7004)
    c.send("/start")
    assert c.said("редакция текста 2") and c.buttons == [ACCEPT, DECLINE]
    c.click(ACCEPT)
    assert c.said("Главное меню")
    assert consents(7004) == [("1", True, False), ("2", True, False)]
    c.send("/start")
    assert not c.said("Согласие на обработку")


def test_a_ticket_of_a_person_with_no_company_asks_the_consent_before_the_phone(database, db_url):
    app = make_app(db_url)
    c = Chat(app.engine, user_id=7005)
    c.send("/start")
    c.click(CREATE)
    assert c.buttons == [ACCEPT, DECLINE]
    c.click(DECLINE)
    assert c.said("Передумаете")
    assert Ticket.select().count() == 0
    assert TelegramUser.get_by_id(7005).phone is None


# ---- erasure ---------------------------------------------------------------------------

def _person_with_a_ticket(rest, db_url, uid: int):
    person = crm_person(rest)
    app = make_app(db_url, **rest_env(rest))
    c = register(app, uid)
    assert c.said("Номер найден") and TelegramUser.get_by_id(uid).full_name == "Орлова Ольга Петровна"
    ticket, _ = app.services.tickets.create(uid, type="Касса", description="Не печатает чек с утра",
                                            counterparty_id=Membership.get().counterparty_id)
    return app, c, person, ticket


def test_forget_asks_first_then_erases_and_the_rest_crm_is_told(database, db_url, rest):
    app, c, person, ticket = _person_with_a_ticket(rest, db_url, 7101)
    drain(app)                                          # the ticket reached the CRM
    c.send("/forget")
    assert c.said("Удалить ваши персональные данные?") and c.said("получит запрос")
    assert c.buttons == [FORGET, CANCEL]
    c.click(CANCEL)
    assert c.said("ничего не удалено")
    assert TelegramUser.get_by_id(7101).phone == PHONE

    c.send("/forget")
    c.click(FORGET)
    assert c.said("ваши персональные данные удалены")
    user = TelegramUser.get_by_id(7101)
    assert (user.username, user.first_name, user.phone, user.full_name) == (None, None, None, None)
    assert Membership.select().where(Membership.telegram_user == 7101).count() == 0
    assert ContactPerson.select().where(ContactPerson.phone == PHONE).count() == 0
    kept = Ticket.get_by_id(ticket.id)
    assert kept.author_id == ERASED_USER_ID and kept.description == "Не печатает чек с утра"
    assert ticket_view(kept)["author_erased"] and ticket_view(kept)["author"] == ""
    assert consents(7101) == [("1", True, True)]
    [item] = erasures()
    assert (item.op, item.entity_id) == ("erase", 7101)

    report = drain(app)
    assert report.sent == 1 and not report.dead
    [(collection, method, body)] = [i for i in rest.items if i[0] == "erasures"]
    assert (collection, method) == ("erasures", "POST")
    assert (body["telegram_user_id"], body["phones"]) == (7101, [PHONE])   # the CRM's key
    assert "Орлова" not in json.dumps(body, ensure_ascii=False)            # no name
    assert person not in rest.persons                                      # the stub honoured it
    done = OutboxItem.get_by_id(item.id)
    assert done.status == "done" and PHONE not in done.payload            # not kept after delivery

    c.send("/forget")                                   # a repeat: exactly once
    c.click(FORGET)
    assert c.said("удалять нечего")
    assert len(erasures()) == 1


def test_the_profile_button_erases_too_and_a_new_registration_asks_the_consent(database, db_url, rest):
    app, c, _, _ = _person_with_a_ticket(rest, db_url, 7102)
    c.send("/start")
    c.click("👤 Мои компании")
    c.click(FORGET)
    assert c.said("Удалить ваши персональные данные?")
    c.click(FORGET)
    assert c.said("ваши персональные данные удалены")
    assert len(erasures()) == 1
    assert c.said(REGISTER) or REGISTER in c.buttons   # the menu of a stranger again
    c.click(REGISTER)
    assert c.buttons == [ACCEPT, DECLINE]


def test_the_erased_person_sees_no_ticket_and_nobody_notifies_the_erased_author(database, db_url, rest):
    app, c, _, ticket = _person_with_a_ticket(rest, db_url, 7103)
    c.send("/forget")
    c.click(FORGET)
    before = outgoing.Outgoing.select().count()
    app.services.tickets.crm_update(ticket.id, status="in_progress")
    assert outgoing.Outgoing.select().where(outgoing.Outgoing.chat_id == ERASED_USER_ID).count() == 0
    assert outgoing.Outgoing.select().count() >= before
    c.send("/start")
    c.click("📋 Мои заявки")
    assert not c.said(ticket.label)


def test_forget_drops_the_conversations_that_hold_the_persons_data(database, db_url, rest):
    app, c, _, _ = _person_with_a_ticket(rest, db_url, 7104)
    group = Chat(app.engine, user_id=7104, chat_id=-100500)
    group.send("/help")                                 # a conversation in another chat
    assert Conversation.select().where(Conversation.user_id == 7104).count() == 2
    c.send("/forget")
    c.click(FORGET)
    [left] = Conversation.select().where(Conversation.user_id == 7104)
    assert left.chat_id == 7104 and PHONE not in left.slots


def test_a_crash_between_the_erasure_and_the_outbox_erases_nothing(database, db_url, rest):
    app, c, _, _ = _person_with_a_ticket(rest, db_url, 7105)
    c.send("/forget")
    db.execute_sql("ALTER TABLE outbox RENAME TO outbox_away")    # the outbox insert fails
    try:
        # The step's one transaction rolls back; how it is told differs by backend (SQLite's
        # "no such table" is a database error handed back to the transport to retry, PG's
        # an apology), which is the engine's business: this test is about what is stored.
        with contextlib.suppress(ActionError):
            c.click(FORGET)
    finally:
        db.execute_sql("ALTER TABLE outbox_away RENAME TO outbox")
    assert TelegramUser.get_by_id(7105).phone == PHONE            # nothing half-done
    assert Membership.select().where(Membership.telegram_user == 7105).count() == 1
    assert consents(7105) == [("1", True, False)]
    assert erasures() == []
    c.send("/forget")
    c.click(FORGET)
    assert c.said("ваши персональные данные удалены") and len(erasures()) == 1


def test_nobody_can_erase_a_contact_they_merely_claimed(database, db_url, rest):
    app, owner, _, ticket = _person_with_a_ticket(rest, db_url, 7106)
    claimer = Chat(app.engine, user_id=7107)
    claimer.send("/start")
    claimer.click(REGISTER)
    claimer.click(ACCEPT)
    claimer.send(PHONE)                                 # the owner's number, typed
    claimer.send("/forget")
    claimer.click(FORGET)
    assert ContactPerson.select().where(ContactPerson.phone == PHONE).count() == 1
    assert TelegramUser.get_by_id(7106).phone == PHONE
    assert Membership.select().where(Membership.telegram_user == 7106).count() == 1
    assert Ticket.get_by_id(ticket.id).author_id == 7106
    [item] = erasures()                                 # the claimer's own (typed phone, request)
    assert json.loads(item.payload)["contact_ids"] == json.loads(item.payload)["phones"] == []


def test_unsent_pushes_of_an_erased_contact_are_dropped_not_sent_after(database, db_url, rest):
    app, c, person, _ = _person_with_a_ticket(rest, db_url, 7108)
    contact = ContactPerson.get(ContactPerson.phone == PHONE)
    with write_tx():                                    # an edit the CRM has not got yet
        directory.upsert_contact(contact.counterparty_id, full_name="Орлова О. П.", phone=PHONE,
                                 crm_id=contact.crm_id)
        outbox.push("contact", contact.id)
    c.send("/forget")
    c.click(FORGET)
    [stale] = OutboxItem.select().where((OutboxItem.entity == "contact")
                                        & (OutboxItem.entity_id == contact.id))
    assert (stale.status, stale.payload) == ("done", "{}")
    drain(app)
    assert [i[0] for i in rest.items if i[0] in ("contacts", "erasures")] == ["erasures"]


def test_with_1c_seed_the_erasure_is_a_dead_letter_naming_the_guids(database, db_url, onec):
    partner = onec.add_partner("ООО «Альфа»", "7707083893")
    guid = onec.add_person(PHONE, "Орлов Олег Олегович", [(partner, "Продавец")])
    app = make_app(db_url, **onec_env(onec), NOTIFY__BUG__TELEGRAM_USER_ID="9000")
    c = register(app, 7109)
    c.send("/forget")
    c.click(FORGET)
    sent_before = len(onec.requests)
    report = drain(app)
    [item] = erasures()
    item = OutboxItem.get_by_id(item.id)
    assert item.status == "dead" and report.dead == [item.id]
    assert "no call to erase a person" in item.last_error and str(guid) in item.last_error
    assert [r.method for r in onec.requests[sent_before:]] == ["GET"]   # userdata, nothing pushed
    assert outgoing.Outgoing.select().where(outgoing.Outgoing.chat_id == 9000).count() == 1
