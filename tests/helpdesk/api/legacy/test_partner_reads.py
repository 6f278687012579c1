"""The original's shapes for partners and balances, as the 1C extension reads and writes
them over real HTTP: partner reads answer the bundle; a balance without a guid finds its
partner by INN and KPP."""
from __future__ import annotations

from helpdesk.api.legacy import mint_guid
from helpdesk.directory.tables import Counterparty
from tests.support.api import PARTNER, one_c
from tests.support.sync import new_counterparty

OTHER = {"guid": "6f1c-partner-2", "name": "ООО Лютик", "inn": "7736207543", "kpp": "773601001"}
BUNDLE = {"partners": [PARTNER, OTHER],
          "departments": [{"guid": "d-1", "name": "Магазин", "guidPartner": PARTNER["guid"]},
                          {"guid": "d-2", "name": "Склад", "guidPartner": OTHER["guid"]}],
          "contracts": [{"guid": "k-1", "name": "Договор 1", "guidPartner": PARTNER["guid"],
                         "isBilling": True},
                        {"guid": "k-2", "name": "Договор 2", "guidPartner": OTHER["guid"]}],
          "balance": [{"guid": PARTNER["guid"], "inn": PARTNER["inn"], "amount": "150000"}]}


def guids(items: list[dict]) -> list[str]:
    return [i["guid"] for i in items]


def test_partner_by_guid_and_by_inn_answer_the_bundle_of_that_partner(server):
    c = one_c(server)
    assert c.post("/api/partner", json=BUNDLE).json()["result"] is True
    for path, params in (("/api/partner", {"guid": PARTNER["guid"]}),
                         ("/api/partners", {"inn": PARTNER["inn"]})):
        got = c.get(path, params=params).json()
        assert set(got) == {"result", "error", "partners", "departments", "contracts", "balance"}
        assert got["result"] is True and guids(got["partners"]) == [PARTNER["guid"]]
        assert got["partners"][0]["okpo"] == "12345678"                  # kept as sent
        assert guids(got["departments"]) == ["d-1"] and got["departments"][0]["name"] == "Магазин"
        assert guids(got["contracts"]) == ["k-1"] and got["contracts"][0]["isBilling"] is True
        assert got["balance"] == [{"guid": PARTNER["guid"], "inn": PARTNER["inn"],
                                   "kpp": PARTNER["kpp"], "amount": "150000"}]


def test_non_sync_partners_answer_the_bundle_of_what_1c_has_not_accepted(server):
    c = one_c(server)
    c.post("/api/partner", json=BUNDLE)                      # 1C's own: accepted
    cp = new_counterparty(inn="7702070139", name="ООО Новая")       # registered in the bot
    got = c.get("/api/partners", params={"nonSync": "true"}).json()
    assert guids(got["partners"]) == [mint_guid("partner", cp.id)]
    assert [d["name"] for d in got["departments"]] == ["Магазин на Ленина"]
    assert got["balance"][0]["amount"] == "0" and got["contracts"] == []


def test_a_lookup_that_finds_no_partner_is_a_404_envelope(server):
    c = one_c(server)
    for path, params in (("/api/partner", {"guid": "nobody"}), ("/api/partners", {"inn": "7707083893"})):
        r = c.get(path, params=params)
        assert r.status_code == 404 and r.json()["result"] is False and "not found" in r.json()["error"]
    empty = c.get("/api/partners", params={"nonSync": "true"})
    assert empty.status_code == 200 and empty.json()["partners"] == []


def test_a_balance_with_an_empty_guid_finds_its_partner_by_inn_and_kpp(server):
    c = one_c(server)
    c.post("/api/partner", json=BUNDLE)
    r = c.put("/api/balance", json={"guid": "", "inn": OTHER["inn"], "kpp": OTHER["kpp"], "amount": "4200"})
    assert r.status_code == 200 and r.json()["entity"]["guid"] == OTHER["guid"]
    assert Counterparty.get(Counterparty.inn == OTHER["inn"]).balance == 4200
    # in the bundle too, and absolute: a repeat sets the same value
    bundle = {"balance": [{"guid": " ", "inn": OTHER["inn"], "kpp": OTHER["kpp"], "amount": "5100"}]}
    for _ in range(2):
        assert c.post("/api/partner", json=bundle).json()["result"] is True
    assert Counterparty.get(Counterparty.inn == OTHER["inn"]).balance == 5100
    assert Counterparty.get(Counterparty.inn == PARTNER["inn"]).balance == 150000


def test_a_balance_nobody_is_named_by_is_refused_naming_the_field(server):
    c = one_c(server)
    c.post("/api/partner", json=BUNDLE)
    branch = c.put("/api/balance", json={"guid": "", "inn": OTHER["inn"], "kpp": "773602001",
                                         "amount": "1"})     # another branch of the company
    assert branch.status_code == 404 and branch.json()["error"].startswith("inn:")
    nobody = c.put("/api/balance", json={"guid": "", "amount": "1"})
    assert nobody.status_code == 422 and nobody.json()["error"].startswith("guid:")
    unknown = c.put("/api/balance", json={"guid": "no-such-guid", "amount": "1"})
    assert unknown.status_code == 404 and unknown.json()["error"].startswith("guid:")
    assert Counterparty.get(Counterparty.inn == OTHER["inn"]).balance == 0


def test_departments_and_contracts_by_inn_are_those_of_the_partner_with_that_inn(server):
    c = one_c(server)
    c.post("/api/partner", json=BUNDLE)
    for path, expected in (("/api/departments", ["d-2"]), ("/api/contracts", ["k-2"])):
        assert guids(c.get(path, params={"inn": OTHER["inn"]}).json()["list"]) == expected
        assert c.get(path, params={"inn": "7702070139"}).json()["list"] == []   # nobody's INN
