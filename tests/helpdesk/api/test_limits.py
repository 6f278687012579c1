"""Numbers and sizes from outside are bounded before they are parsed (issue 17, item 5):
one money parser for /api/v1 and the 1C /api, 413 for a body over api.max_body_bytes before
it is read, 422 naming the list over api.max_list_items, and the 2,000-contract bundle in
one batched transaction. Against a live loopback server, through requests and raw sockets."""
from __future__ import annotations

import json
import socket

import pytest

from helpdesk.api.legacy import OneCRecord
from helpdesk.directory.tables import Counterparty
from tests.support.api import TOKEN, Client, one_c
from tests.support.sync import new_counterparty

PARTNER = {"guid": "p-1", "name": "ООО Ромашка", "inn": "7707083893"}


def _error(response) -> str:
    return response.json()["error"]


@pytest.mark.parametrize("amount", ["1E10000000", "Infinity", "NaN", "-Infinity", "12.5",
                                    "1" * 5000, "0x10", "", True, None, [1]])
def test_a_1c_balance_that_is_no_integer_of_kopecks_is_a_422_naming_the_field(live, amount):
    new_counterparty()
    r = one_c(live).put("/api/balance", json={"inn": "7707083893", "amount": amount})
    assert r.status_code == 422, r.text
    assert _error(r).startswith("amount") and "kopecks" in _error(r)
    assert Counterparty.get().balance == 0


def test_a_1c_balance_of_kopecks_as_the_seed_sends_them_is_stored(live):
    new_counterparty()
    c = one_c(live)
    assert c.put("/api/balance", json={"inn": "7707083893", "amount": "1250"}).json()["result"]
    assert Counterparty.get().balance == 1250                     # kopecks, as in 1c-contract.md
    assert c.put("/api/balance", json={"inn": "7707083893", "amount": -300}).json()["result"]
    assert Counterparty.get().balance == -300


def test_money_over_the_settings_bound_is_a_422_on_both_apis(live):
    cp = new_counterparty()
    Counterparty.update(crm_id="c-1").where(Counterparty.id == cp.id).execute()
    r = one_c(live).put("/api/balance", json={"inn": "7707083893", "amount": str(10 ** 9 + 1)})
    assert r.status_code == 422 and "api.max_amount_kopecks" in _error(r)
    v1 = Client(live.base)
    r = v1.put("/api/v1/counterparties/c-1/balance", json={"balance_kopecks": 10 ** 9 + 1})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "balance_kopecks"]
    for bad in ("1E10000000", "Infinity", 12.5):
        r = v1.put("/api/v1/counterparties/c-1/balance", json={"balance_kopecks": bad})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "balance_kopecks"]
    assert Counterparty.get().balance == 0


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(live):
    host, port = live.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(b"PUT /api/partner HTTP/1.1\r\nHost: x\r\ntoken: " + TOKEN.encode() +
                  b"\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{")
        answer = b""                               # answered with 1,999,999 bytes never sent
        while b"api.max_body_bytes" not in answer and (part := s.recv(4096)):
            answer += part
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "api.max_body_bytes" in answer


def test_a_chunked_body_over_the_limit_is_refused_with_413(live):
    def chunks():
        piece = b" " * 65536
        for _ in range(40):                        # 2.5 MB of whitespace, no Content-Length
            yield piece
    r = one_c(live).put("/api/partner", data=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "api.max_body_bytes" in _error(r)
    r = Client(live.base).put("/api/v1/counterparties/c-9", data=chunks(),
                              headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert Counterparty.select().count() == 0


def test_a_list_over_the_setting_is_a_422_naming_it(live):
    contracts = [{"guid": f"k-{i}", "name": "Договор"} for i in range(2501)]
    r = one_c(live).put("/api/partner", json={"partners": [PARTNER], "contracts": contracts})
    assert r.status_code == 422 and _error(r).startswith("contracts") and "2501" in _error(r)
    assert OneCRecord.select().count() == 0 and Counterparty.select().count() == 0
    points = [{"id": f"tp-{i}", "name": f"Точка {i}"} for i in range(600)]
    r = Client(live.base).put("/api/v1/counterparties/c-1", json={**PARTNER, "trade_points": points})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "trade_points"]


def test_a_bundle_of_2000_contracts_is_stored_once_and_read_back(live):
    contracts = [{"guid": f"k-{i}", "name": f"Договор {i}", "guidPartner": "p-1"} for i in range(2000)]
    bundle = {"partners": [PARTNER], "contracts": contracts + [contracts[0] | {"name": "Договор 0 (изм.)"}]}
    c = one_c(live)
    for _ in range(2):                             # a repeat changes nothing
        r = c.put("/api/partner", data=json.dumps(bundle), headers={"Content-Type": "application/json"})
        assert r.status_code == 200 and r.json()["result"] is True, r.text
    assert OneCRecord.select().where(OneCRecord.entity == "contract").count() == 2000
    listed = c.get("/api/contracts", params={"guidPartner": "p-1"}).json()["list"]
    assert len(listed) == 2000
    assert next(k for k in listed if k["guid"] == "k-0")["name"] == "Договор 0 (изм.)"   # the last wins
