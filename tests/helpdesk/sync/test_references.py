"""1C's references (defaultData) and guids, against the 1C stub over real HTTP: read at
start and kept, statuses both ways through crm.statuses, 1C's task types offered, 1C's
managers shown by name, the person's / partner's / department's / contract's guids on every
task posted to 1C and every `nonSync` item, one Task shape for pushes and reads; a failed
or malformed read is logged, refused and tried again."""
from __future__ import annotations

import logging

import pytest
import requests

from engine.errors import IntegrationError
from engine.testing import Chat
from helpdesk import directory, registration, sync
from helpdesk.api.legacy import mint_guid
from helpdesk.desk import staff
from helpdesk.directory.tables import ContactPerson, Counterparty, TradePoint
from helpdesk.ops import jobs
from helpdesk.registry import registry
from helpdesk.sync import references
from helpdesk.sync.references import MAX_ITEMS, CrmDefault, CrmReference
from helpdesk.tickets import IN_PROGRESS, Ticket
from tests.support.api import ApiServer
from tests.support.fakes.crm_1c_stub import OneCStub
from tests.support.sync import CRM_TOKEN, make_app, sync_tickets

PHONE = "+79991234567"
INN = "7707083893"
API_TOKEN = "api-t0ken-1"

# The original's Task: common + document + task fields (shared/seed/1c-contract.md)
ORIGINAL_TASK = {"code", "guid", "name", "markedForDel", "guidAuthor", "date", "comment",
                 "guidCompany", "guidDepartment", "guidPartner", "guidContract", "guidDivision",
                 "guidManager", "totalAmount", "guidCreator", "description", "decision",
                 "guidStatus", "closingDate", "type", "isOutsourcing", "highPriority",
                 "isBilling"}


@pytest.fixture
def c1():
    with OneCStub(login="bot", password="p4ss-1c", token=CRM_TOKEN) as stub:
        yield stub


@pytest.fixture
def app(database, settings, c1):
    return make_app(settings, "1c-seed", c1.url)


def read_references(app):
    """The job's run, as the scheduler (or run.py sync run) runs it."""
    return jobs.run_once(app, "sync_references")


def seed_company(c1):
    """1C knows a partner with a default contract, a shop with its own contract, a person."""
    partner = c1.add_partner("ООО Ромашка", inn=INN, kpp="770701001", guid="p-romashka")
    c1.add_contract(partner, "Договор обслуживания", guid="k-main", default=True)
    c1.add_department(partner, "Магазин на Ленина", guid="d-lenina", contract="k-shop")
    c1.add_person(PHONE, "Иванов Иван", [(partner, "Генеральный директор")], guid="person-ivanov")
    return partner


def register(app, user_id: int = 1001):
    directory.get_or_create_user(user_id, first_name="Иван")
    person = app.services.crm.find_person(PHONE)
    registration.register_by_phone(user_id, PHONE, verified=True, person=person,
                                   post_rules=app.settings.crm.post_roles)
    return Counterparty.get(Counterparty.inn == INN)


def file_ticket(app, user_id: int = 1001, *, type: str = "Обращение"):
    cp = Counterparty.get(Counterparty.inn == INN)
    tp = TradePoint.get(TradePoint.counterparty == cp)
    ticket, _ = sync_tickets(app).create(user_id, type=type, counterparty_id=cp.id,
                                         trade_point_id=tp.id,
                                         description="Не печатает чек с самого утра")
    return ticket


def posted_tasks(c1) -> list[dict]:
    return [body for path, body in c1.pushed if path == "task"]


# ---- read at start, kept --------------------------------------------------------------------

def test_references_are_read_with_the_api_key_and_kept_in_the_database(app, c1):
    assert registry.jobs["sync_references"].at_start
    assert read_references(app) == {"status": 3, "type": 1, "manager": 1, "company": 1,
                                    "division": 1}
    [req] = c1.received("GET", c1.PREFIX + "defaultData")
    assert req.query["apiKey"] == CRM_TOKEN
    kept = {(r.kind, r.guid): r.name for r in CrmReference.select()}
    assert kept[("status", "st-work")] == "В работе"
    assert kept[("manager", "mgr-petrov")] == "Петров Пётр"
    assert {d.name: d.value for d in CrmDefault.select()} == {
        "initial_status": "st-new", "closed_status": "st-closed", "company": "org-main",
        "division": "div-main", "task_type": "Обращение"}
    assert read_references(app) == {"fresh": True}       # within sync.references_seconds
    assert len(c1.received("GET", c1.PREFIX + "defaultData")) == 1


def test_a_new_read_replaces_the_lists(app, c1):
    read_references(app)
    c1.default_data["managers"] = [{"guid": "mgr-sidorov", "name": "Сидоров Семён"}]
    app.settings.sync.references_seconds = 0.000001       # the period is over
    read_references(app)
    assert [r.guid for r in CrmReference.select().where(CrmReference.kind == "manager")] == [
        "mgr-sidorov"]


def test_1c_down_the_failure_is_logged_and_the_next_run_reads(app, c1, caplog):
    c1.down()
    with caplog.at_level(logging.ERROR, logger="helpdesk.ops.jobs"), \
            pytest.raises(IntegrationError):
        read_references(app)
    assert "job sync_references failed" in caplog.text
    assert CrmReference.select().count() == 0 and references.due(app.settings)
    c1.up()
    assert read_references(app)["status"] == 3                # the retry
    assert registry.jobs["sync_references"].every(app.settings) == \
        app.settings.sync.references_retry_seconds


@pytest.mark.parametrize("broken, says", [
    ({"taskStatuses": "Новая"}, "taskStatuses is str, not a list"),
    ({"taskStatuses": ["st-new"]}, "taskStatuses[0] is str, not an object"),
    ({"managers": [{"guid": "m-1", "name": 42}]}, "managers[0].name is int, not text"),
    ({"managers": [{"guid": "g" * 65, "name": "Петров"}]}, "managers[0].guid is 65 characters"),
    ({"taskTypes": [{"guid": f"t-{i}", "name": "Тип"} for i in range(MAX_ITEMS + 1)]},
     f"taskTypes has {MAX_ITEMS + 1} rows, more than {MAX_ITEMS}"),
    ({"guidClosedStatus": ["st-closed"]}, "guidClosedStatus is list, not text"),
])
def test_a_malformed_answer_is_refused_with_a_log_line_and_the_old_lists_stay(
        app, c1, caplog, broken, says):
    read_references(app)
    app.settings.sync.references_seconds = 0.000001
    c1.default_data = c1.default_data | broken
    with caplog.at_level(logging.WARNING, logger="helpdesk.sync.references"), \
            pytest.raises(IntegrationError, match="bad 1C answer to defaultData"):
        read_references(app)
    assert f"1C defaultData refused: {says}" in caplog.text
    assert CrmReference.select().where(CrmReference.kind == "status").count() == 3


def test_an_answer_that_is_no_envelope_is_refused(app, c1):
    c1.default_data = ["taskStatuses"]
    with pytest.raises(IntegrationError, match="envelope"):
        read_references(app)
    assert CrmReference.select().count() == 0


# ---- guids kept, the original's task posted --------------------------------------------------

def test_registration_keeps_the_person_partner_department_and_contract_guids(app, c1):
    seed_company(c1)
    cp = register(app)
    assert (cp.crm_id, cp.contract_crm_id) == ("p-romashka", "k-main")
    tp = TradePoint.get(TradePoint.counterparty == cp)
    assert (tp.crm_id, tp.contract_crm_id) == ("d-lenina", "k-shop")
    assert ContactPerson.get(ContactPerson.counterparty == cp).person_crm_id == "person-ivanov"


def test_a_task_posted_to_1c_carries_every_field_as_1c_knows_it(app, c1):
    seed_company(c1)
    read_references(app)
    register(app)
    file_ticket(app)
    sync.drain(app)
    [task] = posted_tasks(c1)
    assert set(task) == ORIGINAL_TASK
    assert {k: task[k] for k in ("guidAuthor", "guidPartner", "guidDepartment", "guidContract",
                                 "guidStatus", "type", "guidCompany", "guidDivision")} == {
        "guidAuthor": "person-ivanov", "guidPartner": "p-romashka",
        "guidDepartment": "d-lenina", "guidContract": "k-shop", "guidStatus": "st-new",
        "type": "tt-default", "guidCompany": "org-main", "guidDivision": "div-main"}
    assert task["name"] == "Не печатает чек с самого утра" and task["totalAmount"] == "0"


def test_before_any_read_a_task_carries_empty_guids_not_the_bots_words(app, c1):
    seed_company(c1)
    register(app)
    file_ticket(app, type=app.settings.tickets.types[0])
    sync.drain(app)
    [task] = posted_tasks(c1)
    assert (task["guidStatus"], task["type"], task["guidCompany"]) == ("", "", "")
    assert task["guidAuthor"] == "person-ivanov"


def test_a_taken_ticket_goes_to_1c_as_1c_s_in_work_status_and_done_as_its_closed(app, c1):
    seed_company(c1)
    read_references(app)
    register(app)
    ticket = file_ticket(app)
    sync.drain(app)
    staff.grant(555, staff.TECHNICIAN)
    svc = sync_tickets(app)
    svc.take(555, "Петров Пётр", ticket.id)
    sync.drain(app)
    svc.done(555, "Петров Пётр", ticket.id)
    sync.drain(app)
    statuses = [t["guidStatus"] for t in posted_tasks(c1)]
    assert statuses == ["st-new", "st-work", "st-closed"]
    assert [t["guidManager"] for t in posted_tasks(c1)] == ["", "mgr-petrov", "mgr-petrov"]


# ---- 1C -> bot: guidStatus, guidManager ------------------------------------------------------

def one_c_api(server) -> requests.Session:
    s = requests.Session()
    s.headers["token"] = API_TOKEN
    s.base = server.base
    return s


def put_task(s, body: dict) -> dict:
    return s.put(s.base + "/api/task", json=body, timeout=30).json()


@pytest.mark.parametrize("status", ["st-work", "В работе"])   # 1C's guid, or its name
def test_a_status_1c_sends_in_guid_status_is_applied(app, c1, status):
    seed_company(c1)
    read_references(app)
    register(app)
    ticket = file_ticket(app)
    sync.drain(app)
    guid = Ticket.get_by_id(ticket.id).crm_id
    with ApiServer(app) as server:
        answer = put_task(one_c_api(server), {"guid": guid, "guidStatus": status,
                                              "guidManager": "mgr-petrov",
                                              "description": ticket.description})
    assert answer["result"] is True
    t = Ticket.get_by_id(ticket.id)
    assert (t.status, t.master_name) == (IN_PROGRESS, "Петров Пётр")


def test_a_status_no_mapping_knows_changes_nothing(app, c1):
    seed_company(c1)
    read_references(app)
    register(app)
    ticket = file_ticket(app)
    with ApiServer(app) as server:
        put_task(one_c_api(server), {"guid": mint_guid("task", ticket.id),
                                     "guidStatus": "st-unknown"})
    assert Ticket.get_by_id(ticket.id).status == "new"


def test_the_card_shows_the_technician_1c_assigned_by_name(app, c1):
    seed_company(c1)
    read_references(app)
    register(app)
    ticket = file_ticket(app)
    with ApiServer(app) as server:
        put_task(one_c_api(server), {"guid": mint_guid("task", ticket.id),
                                     "guidManager": "mgr-petrov"})
    c = Chat(app.engine, 1001)
    c.send("/start")
    c.click("📋 Мои заявки")
    c.click(c.buttons[0])
    assert "Мастер: Петров Пётр" in c.last_text and "не назначен" not in c.last_text


# ---- the bot's /api: nonSync and reads, the original's task -------------------------------

def test_non_sync_and_task_reads_carry_the_original_task_with_1c_guids(app, c1):
    seed_company(c1)
    read_references(app)
    register(app)
    ticket = file_ticket(app)
    guid = mint_guid("task", ticket.id)
    with ApiServer(app) as server:
        s = one_c_api(server)
        [item] = s.get(s.base + "/api/tasks", params={"nonSync": "true"}, timeout=30).json()["list"]
        one = s.get(s.base + "/api/task", params={"guid": guid}, timeout=30).json()["entity"]
    assert ORIGINAL_TASK <= set(item) and item == one
    assert {k: item[k] for k in ("guid", "guidAuthor", "guidPartner", "guidDepartment",
                                 "guidContract", "guidStatus", "type")} == {
        "guid": guid, "guidAuthor": "person-ivanov", "guidPartner": "p-romashka",
        "guidDepartment": "d-lenina", "guidContract": "k-shop", "guidStatus": "st-new",
        "type": "tt-default"}


def test_a_pushed_bundle_keeps_the_contract_guids(app):
    bundle = {"partners": [{"guid": "p-2", "name": "ООО Лютик", "inn": "7702070139"}],
              "departments": [{"guid": "d-2", "name": "Склад", "guidPartner": "p-2",
                               "guidContract": "k-store"}],
              "contracts": [{"guid": "k-2", "name": "Договор 2", "guidPartner": "p-2"}]}
    with ApiServer(app) as server:
        s = one_c_api(server)
        assert s.post(s.base + "/api/partner", json=bundle, timeout=30).json()["result"] is True
    assert Counterparty.get(Counterparty.crm_id == "p-2").contract_crm_id == "k-2"
    assert TradePoint.get(TradePoint.crm_id == "d-2").contract_crm_id == "k-store"


# ---- the ticket-type choice ------------------------------------------------------------------

def test_the_type_choice_offers_1c_s_types_once_read(app, c1):
    seed_company(c1)
    register(app)
    c = Chat(app.engine, 1001)
    c.send("/start")
    c.click("📝 Создать заявку")                  # one trade point: straight to the type
    assert c.buttons[:len(app.settings.tickets.types)] == list(app.settings.tickets.types)
    read_references(app)
    c.send("/start")
    c.click("📝 Создать заявку")                  # one trade point: straight to the type
    assert c.buttons[0] == "Обращение" and "Касса" not in c.buttons
    c.click("Обращение")
    c.send("Не печатает чек с самого утра")
    c.click("✅ Готово")
    c.click("📨 Отправить")
    assert Ticket.get().type == "Обращение"
