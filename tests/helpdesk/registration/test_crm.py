"""Registration against real loopback stubs: the 1C seed service and our REST CRM (found,
several companies with different roles), DaData (found, down, slow, garbage), and a CRM
that fails during the lookup (down, 500, invalid JSON, timeout): the user is told, nothing
half-written is stored, the job retries and tells the user once."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine import outgoing
from engine.errors import SettingsError
from engine.testing import Chat
from helpdesk import config, registration
from helpdesk.app import build_app
from helpdesk.directory.tables import (
    ContactPerson,
    Counterparty,
    Membership,
    TelegramUser,
    TradePoint,
    utcnow,
)
from helpdesk.ops import jobs
from helpdesk.ops.demo import company_inn
from helpdesk.sync.outbox import OutboxItem
from tests.support.fakes.crm_1c_stub import OneCStub
from tests.support.fakes.crm_rest_stub import RestCrmStub
from tests.support.fakes.dadata_stub import DadataStub
from tests.support.registration import roles_of

PHONE = "+79161234567"
ALFA, BETA, NEW = company_inn("770211111"), company_inn("770222222"), company_inn("771333333")
REGISTER = "🔑 Зарегистрироваться"


def make_app(db_url, **env):
    return build_app(config.load(environ={"DATABASE_URL": db_url, **env}))


def onec_env(stub: OneCStub) -> dict:
    return {"CRM__KIND": "1c-seed", "CRM__URL": stub.url, "CRM__LOGIN": stub.login,
            "CRM__PASSWORD": stub.password, "CRM__TOKEN": stub.token,
            "CRM__TIMEOUT": "0.5", "CRM__RETRIES": "0"}


def rest_env(stub: RestCrmStub) -> dict:
    return {"CRM__KIND": "rest", "CRM__URL": stub.url, "CRM__TOKEN": stub.token,
            "CRM__TIMEOUT": "0.5", "CRM__RETRIES": "0"}


def dadata_env(stub: DadataStub) -> dict:
    return {"DADATA__API_KEY": stub.api_key, "DADATA__URL": stub.url, "DADATA__TIMEOUT": "0.3"}


@pytest.fixture
def onec():
    with OneCStub() as stub:
        yield stub


@pytest.fixture
def rest():
    with RestCrmStub() as stub:
        yield stub


@pytest.fixture
def dadata():
    with DadataStub() as stub:
        yield stub


def share_phone(app, user_id: int, phone: str = PHONE) -> Chat:
    c = Chat(app.engine, user_id=user_id)
    c.send("/start")
    c.click(REGISTER)
    c.click("✅ Согласен")          # the consent comes first (152-ФЗ)
    c.share_contact(phone)
    return c


def told(chat_id: int) -> list[str]:
    rows = outgoing.Outgoing.select().where(outgoing.Outgoing.chat_id == chat_id)
    return [outgoing.to_reply(r).text for r in rows.order_by(outgoing.Outgoing.id)]


# --- found in the CRM --------------------------------------------------------------

def test_found_in_1c_with_two_companies_and_roles_from_posts(database, db_url, onec):
    alfa = onec.add_partner("ООО «Альфа»", ALFA, kpp="770201001", balance=150000)
    beta = onec.add_partner("ООО «Бета»", BETA)
    shop = onec.add_department(alfa, "Магазин на Ленина")
    onec.add_person(PHONE, "Орлов Олег Олегович",
                    [(alfa, "Генеральный директор"), (beta, "Продавец-консультант")])
    app = make_app(db_url, **onec_env(onec))
    c = share_phone(app, 6001)
    assert roles_of(6001) == {ALFA: ("DIRECTOR", "confirmed"), BETA: ("USER", "confirmed")}
    assert c.said("директор") and c.said("пользователь")
    assert sorted(c.buttons) == ["ООО «Альфа»", "ООО «Бета»"]
    a = Counterparty.get(Counterparty.inn == ALFA)
    assert (a.crm_id, a.balance, a.kpp) == (alfa, 150000, "770201001")
    assert TradePoint.get(TradePoint.counterparty == a).crm_id == shop
    assert {x.phone for x in ContactPerson.select()} == {PHONE}
    [req] = onec.received(path=onec.PREFIX + "userdata")
    assert req.query["phone"] == PHONE                       # the "+" arrived encoded
    assert TelegramUser.get_by_id(6001).full_name == "Орлов Олег Олегович"


def test_found_in_rest_crm_role_stated_wins_over_post(database, db_url, rest):
    gamma = rest.add_counterparty("ООО «Гамма»", ALFA, trade_points=["Точка 1", "Точка 2"])
    delta = rest.add_counterparty("ООО «Дельта»", BETA)
    rest.add_person(PHONE, "Орлова Ольга", [(gamma, "Продавец", "DIRECTOR"),
                                            (delta, "Главный бухгалтер", None)])
    app = make_app(db_url, **rest_env(rest))
    share_phone(app, 6002)
    assert roles_of(6002) == {ALFA: ("DIRECTOR", "confirmed"), BETA: ("ADMINISTRATOR", "confirmed")}
    g = Counterparty.get(Counterparty.inn == ALFA)
    assert g.crm_id == gamma["id"] and g.trade_points.count() == 2


def test_repeated_registration_adds_no_rows(database, db_url, onec):
    alfa = onec.add_partner("ООО «Альфа»", ALFA)
    onec.add_person(PHONE, "Орлов Олег", [(alfa, "Директор")])
    app = make_app(db_url, **onec_env(onec))
    c = share_phone(app, 6003)
    for _ in range(2):
        c.click("👤 Мои компании")
        c.click("📱 Зарегистрировать другой номер")
        c.share_contact(PHONE)
    assert c.said("Номер найден")
    counts = [m.select().count() for m in (Counterparty, ContactPerson, Membership)]
    assert counts == [1, 1, 1]


# --- not found: questionnaire with DaData ------------------------------------------

def questionnaire(app, user_id: int) -> Chat:
    c = share_phone(app, user_id)
    assert c.said("короткую анкету")
    for answer in ("Новиков Николай", NEW, "Кладовщик"):
        c.send(answer)
    return c


def test_not_found_in_crm_dadata_fills_the_company(database, db_url, onec, dadata):
    dadata.add_company(NEW, "ООО «НОВАЯ»", kpp="771301001", ogrn="1157746000000",
                       address="г Москва, ул Новая, д 1")
    app = make_app(db_url, **onec_env(onec), **dadata_env(dadata))
    c = questionnaire(app, 6010)
    assert "<b>ООО «НОВАЯ»</b>" in c.last_text and "ул Новая" in c.last_text
    c.click("✅ Да")
    assert c.said("Компания <b>ООО «НОВАЯ»</b> добавлена")
    assert not c.said("Мы передали запрос")      # no support configured: nothing promised
    company = Counterparty.get(Counterparty.inn == NEW)
    assert (company.kpp, company.ogrn, company.legal_address) == \
        ("771301001", "1157746000000", "г Москва, ул Новая, д 1")
    assert roles_of(6010) == {NEW: ("USER", "unverified")}      # a typed INN proves nothing
    assert {o.entity for o in OutboxItem.select()} == {"counterparty"}


def test_dadata_name_can_be_replaced_by_hand(database, db_url, dadata):
    dadata.add_company(NEW, "ООО «НОВАЯ»")
    app = make_app(db_url, **dadata_env(dadata))
    c = questionnaire(app, 6011)
    c.click("✏️ Нет, ввести название")
    c.send("ООО «Моя»")
    assert Counterparty.get(Counterparty.inn == NEW).name == "ООО «Моя»"


@pytest.mark.parametrize("fault", ["down", "500", "garbage", "slow", "unknown"])
def test_dadata_trouble_means_manual_company_name(database, db_url, dadata, fault):
    if fault != "unknown":
        dadata.add_company(NEW, "ООО «НОВАЯ»")
    {"down": dadata.down, "500": lambda: dadata.fail_next(5), "garbage": lambda: dadata.garbage_next(5),
     "slow": lambda: dadata.slow(1.0), "unknown": lambda: None}[fault]()
    app = make_app(db_url, **dadata_env(dadata))
    c = questionnaire(app, 6012)
    expected = "не удалось" if fault == "unknown" else "недоступен"
    assert expected in c.last_text and "Напишите название" in c.last_text
    c.send("ООО «Ручная»")
    assert Counterparty.get(Counterparty.inn == NEW).name == "ООО «Ручная»"
    assert roles_of(6012) == {NEW: ("USER", "unverified")}


# --- the CRM fails during the lookup -----------------------------------------------

def _break(stub, fault: str) -> None:
    {"down": stub.down, "500": lambda: stub.fail_next(2), "garbage": lambda: stub.garbage_next(2),
     "timeout": lambda: stub.slow(1.5)}[fault]()


def _mend(stub) -> None:
    stub.reset_faults()
    stub.up()


def _due_now() -> None:
    registration.PendingLookup.update(next_at=utcnow() - timedelta(seconds=1)).execute()


@pytest.mark.parametrize("fault", ["down", "500", "garbage", "timeout"])
def test_crm_failure_is_retried_by_the_job_and_the_user_told_once(database, db_url, onec, fault):
    alfa = onec.add_partner("ООО «Альфа»", ALFA)
    onec.add_person(PHONE, "Орлов Олег", [(alfa, "Бухгалтер")])
    app = make_app(db_url, **onec_env(onec))
    _break(onec, fault)
    c = share_phone(app, 6020)
    assert "сообщим вам результат" in c.transcript[-2].text
    assert "Главное меню" in c.last_text
    assert roles_of(6020) == {} and Counterparty.select().count() == 0
    assert TelegramUser.get_by_id(6020).phone is None
    assert registration.PendingLookup.select().count() == 1

    _due_now()
    assert jobs.run_once(app, "registration_lookups") == 0    # still failing: postponed
    row = registration.PendingLookup.get()
    assert row.attempts == 1 and row.next_at > utcnow() and told(6020) == []

    _mend(onec)
    assert jobs.run_once(app, "registration_lookups") == 0    # not due yet
    _due_now()
    assert jobs.run_once(app, "registration_lookups") == 1
    assert roles_of(6020) == {ALFA: ("ADMINISTRATOR", "confirmed")}
    [message] = told(6020)
    assert "Номер найден" in message and "ООО «Альфа»" in message
    _due_now()
    assert jobs.run_once(app, "registration_lookups") == 0
    assert len(told(6020)) == 1 and Membership.select().count() == 1
    assert registration.PendingLookup.select().count() == 0


def test_crm_failure_then_not_found_tells_the_user_to_fill_the_form(database, db_url, rest):
    app = make_app(db_url, **rest_env(rest))
    rest.down()
    share_phone(app, 6021)
    rest.up()
    _due_now()
    assert jobs.run_once(app, "registration_lookups") == 1
    assert "заполните короткую анкету" in told(6021)[0]
    assert roles_of(6021) == {}


def test_registering_again_after_an_outage_drops_the_pending_lookup(database, db_url, onec):
    alfa = onec.add_partner("ООО «Альфа»", ALFA)
    onec.add_person(PHONE, "Орлов Олег", [(alfa, "Директор")])
    app = make_app(db_url, **onec_env(onec))
    onec.down()
    share_phone(app, 6022)
    onec.up()
    c = Chat(app.engine, user_id=6022)
    c.send("/start")
    c.click(REGISTER)                 # the consent was given the first time: not asked again
    c.share_contact(PHONE)
    assert roles_of(6022) == {ALFA: ("DIRECTOR", "confirmed")}
    _due_now()
    assert jobs.run_once(app, "registration_lookups") == 0 and told(6022) == []


# --- wiring ------------------------------------------------------------------------

def test_services_get_plain_secrets_and_refuse_a_crm_without_url(db_url):
    settings = config.load(environ={"CRM__KIND": "rest", "CRM__URL": ""})
    with pytest.raises(SettingsError, match="crm"):
        build_app(settings, connect=False)


def test_crm_credentials_reach_the_stub(database, db_url, onec):
    app = make_app(db_url, **{**onec_env(onec), "CRM__PASSWORD": "wrong"})
    c = share_phone(app, 6030)
    assert "сообщим вам результат" in c.transcript[-2].text   # 401: told, kept for the job
    assert onec.received()[0].headers["token"] == onec.token


# --- issue 17 item 2: a typed phone the CRM knows proves nothing -----------------------

def type_phone(app, user_id: int, phone: str = PHONE) -> Chat:
    c = Chat(app.engine, user_id=user_id)
    c.send("/start")
    c.click(REGISTER)
    c.click("✅ Согласен")          # the consent comes first (152-ФЗ)
    c.send(phone)
    c.send("Гость Гостев")                                  # typed: his own name is asked
    return c


def _texts(c: Chat) -> str:
    return "\n".join(r.text for r in c.transcript)


def test_a_typed_phone_found_in_1c_gives_a_pending_request_and_tells_nothing(database, db_url, onec):
    alfa = onec.add_partner("ООО «Альфа»", ALFA, balance=150000)
    onec.add_person(PHONE, "Орлов Олег Олегович", [(alfa, "Генеральный директор")])
    app = make_app(db_url, **onec_env(onec), TICKETS__TECHNICIANS="[990]")
    c = type_phone(app, 6040)
    assert roles_of(6040) == {ALFA: ("USER", "pending")}   # a request for a USER: approving it is no proof of being that contact
    user = TelegramUser.get_by_id(6040)
    assert (user.phone, user.unverified_phone, user.full_name) == (None, PHONE, "Гость Гостев")
    for secret in ("Альфа", ALFA, "директор", "Орлов", "1 500"):
        assert secret not in _texts(c), secret
    assert "Мы передали запрос компании" in _texts(c)
    assert any("Запрос на доступ" in t and "введён вручную" in t for t in told(990))


def test_a_typed_phone_deferred_by_an_outage_is_told_nothing_later(database, db_url, onec):
    alfa = onec.add_partner("ООО «Альфа»", ALFA)
    onec.add_person(PHONE, "Орлов Олег", [(alfa, "Директор")])
    app = make_app(db_url, **onec_env(onec))
    onec.down()
    type_phone(app, 6041)
    assert TelegramUser.get_by_id(6041).phone is None
    onec.up()
    _due_now()
    assert jobs.run_once(app, "registration_lookups") == 1
    [message] = told(6041)
    assert "Номер введён вручную" in message
    assert "Альфа" not in message and "директор" not in message and "Номер найден" not in message
    assert roles_of(6041) == {ALFA: ("USER", "pending")}
