"""The original product's /api paths, as the 1C extension calls them (with a token now)."""
from __future__ import annotations

from helpdesk.api.legacy import mint_guid
from helpdesk.directory.tables import Counterparty, TradePoint
from tests.support.api import PARTNER, one_c
from tests.support.sync import new_counterparty, new_ticket


def test_partner_post_get_list_and_unknown_fields_round_trip(server):
    c = one_c(server)
    r = c.post("/api/partner", json=PARTNER)
    assert r.json() == {"result": True, "error": "", "guid": PARTNER["guid"], "code": "000000101"}
    got = c.get("/api/partner", params={"guid": PARTNER["guid"]}).json()    # the bundle
    assert got["result"] and got["partners"][0]["okpo"] == "12345678"        # kept as sent
    assert got["partners"][0]["inn"] == PARTNER["inn"]
    listed = c.get("/api/partners", params={"inn": PARTNER["inn"]}).json()["partners"]
    assert [p["guid"] for p in listed] == [PARTNER["guid"]]
    c.put("/api/partner", json=PARTNER | {"name": "ООО Ромашка и К"})
    assert Counterparty.get().name == "ООО Ромашка и К" and Counterparty.select().count() == 1


def test_bundle_partner_departments_contracts_balance(server):
    c = one_c(server)
    bundle = {"partners": [PARTNER],
              "departments": [{"guid": "d-1", "name": "Магазин", "guidPartner": PARTNER["guid"]}],
              "contracts": [{"guid": "k-1", "name": "Договор 1", "guidPartner": PARTNER["guid"]}],
              "balance": [{"guid": PARTNER["guid"], "inn": PARTNER["inn"], "amount": "150000"}]}
    for _ in range(2):                                   # sent twice: balance still absolute
        assert c.post("/api/partner", json=bundle).json()["result"] is True
    cp = Counterparty.get()
    assert cp.balance == 150000 and [t.crm_id for t in cp.trade_points] == ["d-1"]
    contracts = c.get("/api/contracts", params={"guidPartner": PARTNER["guid"]}).json()["list"]
    assert [k["guid"] for k in contracts] == ["k-1"]
    assert c.get("/api/departments", params={"guidPartner": PARTNER["guid"]}).json()["list"][0][
        "name"] == "Магазин"


def test_non_sync_pull_then_1c_writes_back_under_the_minted_guid(server, api_app):
    c = one_c(server)
    cp = new_counterparty()
    ticket = new_ticket(api_app, cp=cp)
    partners = c.get("/api/partners", params={"nonSync": "true"}).json()["partners"]
    assert [p["guid"] for p in partners] == [mint_guid("partner", cp.id)]
    tasks = c.get("/api/tasks", params={"nonSync": "true"}).json()["list"]
    assert tasks[0]["guid"] == mint_guid("task", ticket.id) and tasks[0]["botNumber"] == ticket.number
    # 1C accepts them and writes them back with its code
    c.put("/api/partner", json={"guid": partners[0]["guid"], "name": cp.name, "inn": cp.inn})
    c.put("/api/task", json={"guid": tasks[0]["guid"], "code": "000012345",
                             "description": ticket.description})
    assert c.get("/api/partners", params={"nonSync": "true"}).json()["partners"] == []
    assert c.get("/api/tasks", params={"nonSync": "true"}).json()["list"] == []
    t = type(ticket).get_by_id(ticket.id)
    assert t.crm_id == tasks[0]["guid"] and t.label == "#000012345"


def test_task_closing_and_manager_reach_the_ticket_and_delete_cancels(server, api_app):
    c = one_c(server)
    ticket = new_ticket(api_app)
    c.post("/api/manager", json={"guid": "m-1", "name": "Петров Пётр"})
    c.put("/api/task", json={"guid": "t-1", "code": "000000777", "guidManager": "m-1"})
    t = type(ticket).get_or_none(type(ticket).crm_number == "000000777")
    assert t is None                                         # unknown task: kept, not linked
    c.put("/api/task", json={"guid": mint_guid("task", ticket.id), "guidManager": "m-1",
                             "closingDate": "2024-05-02T10:00:00"})
    t = type(ticket).get_by_id(ticket.id)
    assert t.status == "done" and t.master_name == "Петров Пётр"
    assert c.get("/api/tasks", params={"guidManager": "m-1"}).json()["list"] == []   # not active
    assert c.delete("/api/task", params={"guid": t.crm_id}).json()["result"] is True
    assert type(ticket).get_by_id(ticket.id).status == "cancelled"


def test_delete_marks_and_hides(server):
    c = one_c(server)
    c.post("/api/taskType", json={"guid": "tt-1", "name": "Обращение"})
    assert len(c.get("/api/taskTypes").json()["list"]) == 1
    assert c.delete("/api/taskType", params={"guid": "tt-1"}).json() == {"result": True, "error": ""}
    assert c.get("/api/taskTypes").json()["list"] == []
    missing = c.get("/api/taskType", params={"guid": "tt-1"})
    assert missing.status_code == 404 and missing.json()["result"] is False
    assert c.delete("/api/taskType", params={"guid": "nope"}).status_code == 404


def test_bad_1c_input_answers_the_envelope_naming_the_field(server):
    c = one_c(server)
    r = c.put("/api/balance", json={"guid": "x", "amount": "12abc"})
    assert r.status_code == 422 and r.json()["result"] is False and "amount" in r.json()["error"]
    r = c.post("/api/partner", json={"guid": "g-2", "name": "Без ИНН"})
    assert r.status_code == 422 and r.json()["error"].startswith("inn:")
    r = c.post("/api/department", json={"guid": "d-2", "name": "x", "guidPartner": "none"})
    assert r.status_code == 404 and TradePoint.select().count() == 0
