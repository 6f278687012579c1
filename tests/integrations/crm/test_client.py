"""CRM clients through real HTTP against the loopback stubs (1C seed contract and ours)."""
from __future__ import annotations

import base64
import logging
import traceback
from datetime import datetime

import pytest

from engine.errors import IntegrationError
from integrations.crm import (
    Company,
    ContactData,
    CrmClient,
    NoCrm,
    OneCSeedCrm,
    PaymentData,
    RestCrm,
    TicketData,
    make_crm,
)
from integrations.http import JsonHttp, make_session
from tests.support.crm import LOGIN, PASSWORD, TOKEN
from tests.support.fakes.crm_1c_stub import OneCStub
from tests.support.fakes.crm_rest_stub import RestCrmStub

REST_TOKEN = "Bearer-SECRET-rest"
PHONE = "+79991234567"


@pytest.fixture
def onec(c1):
    crm = make_crm("1c-seed", c1.url, LOGIN, PASSWORD, TOKEN, timeout=0.5, retries=2,
                   backoff=0.01)
    yield crm
    crm.close()


@pytest.fixture
def rest_stub():
    with RestCrmStub(REST_TOKEN) as stub:
        yield stub


@pytest.fixture
def rest(rest_stub):
    crm = make_crm("rest", rest_stub.url, token=REST_TOKEN, timeout=0.5, retries=2, backoff=0.01)
    yield crm
    crm.close()


def _seed_two_companies(c1: OneCStub) -> tuple[str, str]:
    acme = c1.add_partner("ООО Ромашка", "7707083893", kpp="770701001", balance=150000)
    c1.add_department(acme, "Магазин на Ленина")
    c1.add_department(acme, "Склад")
    shop = c1.add_partner("ИП Петров", "500100732259")
    c1.add_person(PHONE, "Иванов Иван", [(acme, "Генеральный директор"), (shop, "Бухгалтер")])
    return acme, shop


# ---- 1C seed: reads ----------------------------------------------------------------------

def test_1c_find_person_with_two_companies_and_posts(c1, onec):
    acme, shop = _seed_two_companies(c1)
    person = onec.find_person(PHONE)
    assert person.full_name == "Иванов Иван" and person.phone == PHONE
    by_id = {m.company.crm_id: m for m in person.memberships}
    assert by_id[acme].post == "Генеральный директор" and by_id[shop].post == "Бухгалтер"
    assert all(m.role is None for m in person.memberships)
    assert by_id[acme].company.balance_kopecks == 150000
    assert [t.name for t in by_id[acme].company.trade_points] == ["Магазин на Ленина", "Склад"]
    assert by_id[shop].company.inn == "500100732259" and by_id[shop].company.trade_points == []


def test_1c_phone_plus_is_url_encoded(c1, onec):
    _seed_two_companies(c1)
    assert onec.find_person(PHONE) is not None
    assert c1.requests[-1].raw_query == "phone=%2B79991234567"


def test_1c_unknown_phone_is_none(c1, onec):
    assert onec.find_person("+70000000000") is None


def test_1c_auth_headers_and_api_key(c1, onec):
    onec.default_data()
    req = c1.requests[-1]
    basic = base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
    assert req.headers["authorization"] == f"Basic {basic}"
    assert req.headers["token"] == TOKEN
    assert req.query["apiKey"] == TOKEN


def test_1c_a_cyrillic_login_and_password_go_as_utf8_basic_credentials():
    with OneCStub("Администратор", "пароль-1С", TOKEN) as stub:        # 1C's usual user name
        crm = OneCSeedCrm(stub.url, "Администратор", "пароль-1С", TOKEN, timeout=5, retries=0)
        crm.default_data()
    basic = base64.b64encode("Администратор:пароль-1С".encode()).decode()
    assert stub.requests[-1].headers["authorization"] == f"Basic {basic}"


def test_1c_wrong_password_is_not_retryable_and_hides_secrets(c1):
    crm = OneCSeedCrm(c1.url, LOGIN, "wrong-SECRET", TOKEN, timeout=0.5, retries=2, backoff=0.01)
    with pytest.raises(IntegrationError) as info:
        crm.default_data()
    assert not info.value.retryable and "401" in str(info.value)
    assert len(c1.requests) == 1
    _assert_no_secret(info.value, "wrong-SECRET", TOKEN)


def test_1c_balance_and_company_lookup(c1, onec):
    acme, _ = _seed_two_companies(c1)
    assert onec.get_balance("7707083893", acme) == 150000
    assert onec.get_balance("7707083893", None) == 150000
    [company] = onec.find_company("7707083893", "770701001")
    assert company.crm_id == acme and company.kpp == "770701001"


def test_1c_tickets_read_back(c1, onec):
    acme, _ = _seed_two_companies(c1)
    open_id = c1.add_task(acme, "Не печатает чек")
    c1.add_task(acme, "Старое", closed=True)
    assert [t.crm_id for t in onec.active_tickets(guidPartner=acme)] == [open_id]
    ticket = onec.get_ticket(crm_id=open_id)
    assert ticket.description == "Не печатает чек" and ticket.closed_at is None
    assert onec.get_ticket(number=ticket.number).crm_id == open_id
    assert onec.get_ticket(crm_id="nope") is None


# ---- 1C seed: pushes ---------------------------------------------------------------------

def test_1c_ticket_create_then_update_uses_same_guid(c1, onec):
    acme, _ = _seed_two_companies(c1)
    ticket = TicketData("Не печатает\nчек", company_crm_id=acme,
                        created_at=datetime(2024, 5, 1, 10, 30, 5))
    guid, number = onec.upsert_ticket(ticket, idempotency_key="outbox-1")
    assert len(number) == 9 and number.isdigit()
    sent = c1.received("POST", c1.PREFIX + "task")[0].json
    assert sent["date"] == "2024-05-01T10:30:05" and sent["guidPartner"] == acme
    ticket.crm_id, ticket.decision = guid, "Заменили ФН"
    assert onec.upsert_ticket(ticket, idempotency_key="outbox-2") == (guid, number)
    assert c1.received("PUT", c1.PREFIX + "task") and c1.tasks[guid]["decision"] == "Заменили ФН"
    assert len(c1.tasks) == 1


def test_1c_post_retried_after_lost_reply_creates_one_task(c1, onec):
    c1.lose_reply_next(1)
    guid, _ = onec.upsert_ticket(TicketData("Описание"), idempotency_key="outbox-7")
    assert len(c1.received("POST")) == 2
    assert list(c1.tasks) == [guid]


def test_1c_payment_sends_kopeck_string(c1, onec):
    acme, _ = _seed_two_companies(c1)
    pay = PaymentData(150050, acme, datetime(2024, 5, 1, 12, 0), ticket_number="000000042",
                      reference="ch_1")
    doc = onec.report_payment(pay, idempotency_key="pay-1")
    body = c1.card_docs[doc]
    assert body["totalAmount"] == "150050" and body["ticketNumber"] == "000000042"
    assert body["date"] == "2024-05-01T12:00:00"


def test_1c_counterparty_upsert_and_contact_unsupported(c1, onec):
    guid = onec.upsert_counterparty(Company("ООО Новая", "7707083893", kpp="770701001"),
                                    idempotency_key="cp-1")
    assert c1.partners[guid]["inn"] == "7707083893"
    before = len(c1.requests)
    assert onec.upsert_contact(ContactData("Иванов", PHONE, guid), idempotency_key="c-1") is None
    assert len(c1.requests) == before


def test_1c_refusal_is_not_retryable(c1, onec):
    c1.fail_next(1, status=400)
    with pytest.raises(IntegrationError) as info:
        onec.upsert_counterparty(Company("X", "1"), idempotency_key="k")
    assert not info.value.retryable and info.value.system == "crm"


# ---- faults ------------------------------------------------------------------------------

def test_retry_on_500_then_success(c1, onec):
    c1.fail_next(2, status=503)
    assert onec.find_person(PHONE) is None
    assert len(c1.requests) == 3


def test_500_exhausting_retries_is_retryable(c1, onec):
    c1.fail_next(5)
    with pytest.raises(IntegrationError) as info:
        onec.default_data()
    assert info.value.retryable and "500" in str(info.value)
    assert len(c1.requests) == 3


def test_post_without_idempotency_key_is_not_retried(c1):
    http = JsonHttp("crm", c1.url, make_session(retries=3, backoff=0.01), timeout=0.5)
    http.session.auth = (LOGIN, PASSWORD)
    http.session.headers["token"] = TOKEN
    c1.fail_next(1)
    with pytest.raises(IntegrationError):
        http.request("POST", "task", json={"description": "x"})
    assert len(c1.requests) == 1
    c1.fail_next(1)
    http.request("POST", "task", json={"guid": "g-1"}, headers={"Idempotency-Key": "k"})
    assert len(c1.requests) == 3


def test_timeout_is_quick_and_retryable(c1):
    crm = OneCSeedCrm(c1.url, LOGIN, PASSWORD, TOKEN, timeout=0.2, retries=1, backoff=0.01)
    c1.slow(2)
    with pytest.raises(IntegrationError) as info:       # gave up: did not wait the stub's 2 s
        crm.find_person(PHONE)
    assert info.value.retryable and "timed out" in str(info.value)
    assert isinstance(info.value.__cause__, Exception)
    c1.slow(0)


def test_garbage_json_is_retryable(c1, onec):
    c1.garbage_next(3)
    with pytest.raises(IntegrationError) as info:
        onec.find_person(PHONE)
    assert info.value.retryable and "invalid JSON" in str(info.value)


def test_409_is_retryable_without_in_call_retry(c1, onec):
    c1.conflict_next(1)
    with pytest.raises(IntegrationError) as info:
        onec.upsert_ticket(TicketData("x"), idempotency_key="k")
    assert info.value.retryable and info.value.status == 409
    assert len(c1.requests) == 1


def test_connection_refused_then_back_up(c1, onec):
    c1.down()
    with pytest.raises(IntegrationError) as info:
        onec.find_person(PHONE)
    assert info.value.retryable and "cannot connect" in str(info.value)
    c1.up()
    assert onec.find_person(PHONE) is None


def test_secrets_absent_from_errors_and_logs(c1, onec, caplog):
    caplog.set_level(logging.DEBUG)
    c1.fail_next(5)
    with pytest.raises(IntegrationError) as http_error:
        onec.default_data()          # the URL carries ?apiKey=<token>
    c1.down()
    with pytest.raises(IntegrationError) as conn_error:
        onec.default_data()
    for err in (http_error.value, conn_error.value):
        _assert_no_secret(err, PASSWORD, TOKEN)
    assert "apiKey" in caplog.text  # the requests were logged ...
    assert PASSWORD not in caplog.text and TOKEN not in caplog.text  # ... without secrets


def _assert_no_secret(err: BaseException, *secrets: str) -> None:
    text = "".join(traceback.format_exception(err)) + repr(err)
    for secret in secrets:
        assert secret not in text


# ---- our REST contract -------------------------------------------------------------------

def test_rest_find_person_with_roles(rest_stub, rest):
    acme = rest_stub.add_counterparty("ООО Ромашка", "7707083893", balance=5000,
                                      trade_points=["Магазин"])
    shop = rest_stub.add_counterparty("ИП Петров", "500100732259")
    rest_stub.add_person(PHONE, "Иванов Иван", [(acme, "Директор", "DIRECTOR"),
                                                 (shop, "Кассир", None)])
    person = rest.find_person(PHONE)
    roles = {m.company.inn: (m.post, m.role) for m in person.memberships}
    assert roles == {"7707083893": ("Директор", "DIRECTOR"), "500100732259": ("Кассир", None)}
    assert person.memberships[0].company.trade_points[0].name == "Магазин"
    req = rest_stub.requests[-1]
    assert req.raw_query == "phone=%2B79991234567"
    assert req.headers["authorization"] == f"Bearer {REST_TOKEN}"
    assert rest.find_person("+70000000000") is None


def test_rest_ticket_push_is_idempotent(rest_stub, rest):
    ticket = TicketData("Не работает касса", created_at=datetime(2024, 5, 1, 10, 0))
    first = rest.upsert_ticket(ticket, idempotency_key="outbox-1")
    assert rest.upsert_ticket(ticket, idempotency_key="outbox-1") == first
    rest_stub.lose_reply_next(1)
    second = rest.upsert_ticket(TicketData("Другая"), idempotency_key="outbox-2")
    assert second != first
    assert [body["description"] for _, _, body in rest_stub.items] == [
        "Не работает касса", "Другая"]
    assert rest_stub.requests[0].headers["idempotency-key"] == "outbox-1"
    assert rest_stub.items[0][2]["created_at"] == "2024-05-01T10:00:00"


def test_rest_update_payment_contact_and_balance(rest_stub, rest):
    acme = rest_stub.add_counterparty("ООО Ромашка", "7707083893", balance=1000)
    tid, number = rest.upsert_ticket(TicketData("x", company_crm_id=acme["id"]),
                                     idempotency_key="t1")
    assert rest.upsert_ticket(TicketData("y", crm_id=tid), idempotency_key="t2") == (tid, number)
    assert rest_stub.store["tickets"][tid]["description"] == "y"
    rest.report_payment(PaymentData(500, acme["id"], datetime(2024, 5, 1)), idempotency_key="p1")
    assert rest.get_balance("7707083893", acme["id"]) == 1500
    assert rest.get_balance("0000000000", None) is None
    cid = rest.upsert_contact(ContactData("Иванов", PHONE, acme["id"], post="Бухгалтер"),
                              idempotency_key="c1")
    assert rest_stub.store["contacts"][cid]["counterparty_id"] == acme["id"]
    assert rest.upsert_counterparty(Company("ООО Новая", "7700000000"), idempotency_key="cp")


def test_rest_changes_feed_with_cursor(rest_stub, rest):
    assert rest.changes_since(None) == ([], "0")
    rest_stub.append_change("ticket", "t-1", {"status": "closed"})
    rest_stub.append_change("balance", "c-1", {"balance_kopecks": 10})
    items, cursor = rest.changes_since(None)
    assert [i["id"] for i in items] == ["t-1", "c-1"]
    assert rest.changes_since(cursor) == ([], cursor)
    rest_stub.append_change("ticket", "t-2")
    items, _ = rest.changes_since(cursor)
    assert [i["id"] for i in items] == ["t-2"]


def test_rest_wrong_token_not_retryable(rest_stub):
    crm = RestCrm(rest_stub.url, "wrong-SECRET", timeout=0.5, retries=2, backoff=0.01)
    with pytest.raises(IntegrationError) as info:
        crm.find_person(PHONE)
    assert not info.value.retryable and len(rest_stub.requests) == 1
    _assert_no_secret(info.value, "wrong-SECRET")


def test_rest_429_carries_retry_after(rest_stub, rest):
    rest_stub.fail_next(1, status=429)
    with pytest.raises(IntegrationError) as info:
        rest.find_person(PHONE)
    assert info.value.retryable and info.value.status == 429


# ---- factory and standalone --------------------------------------------------------------

def test_factory_kinds():
    assert isinstance(make_crm("none"), NoCrm)
    assert isinstance(make_crm("1c-seed", "http://127.0.0.1:9/"), OneCSeedCrm)
    assert isinstance(make_crm("rest", "http://127.0.0.1:9/"), CrmClient)
    with pytest.raises(ValueError, match="crm.kind"):
        make_crm("bitrix")
    with pytest.raises(ValueError, match="crm.url"):
        make_crm("rest", "")


def test_no_crm_is_standalone():
    crm = NoCrm()
    assert crm.find_person(PHONE) is None
    assert crm.upsert_ticket(TicketData("x"), idempotency_key="k") is None
    assert crm.changes_since("5") == ([], "5")
