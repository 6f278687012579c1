"""docs/sync.md's tables of the original's 1C contract are the code's: every `/api` route the
first table names is served and every served `/api` route is in it; every 1C HTTP service
call the second names is one the client makes (against the 1C stub), and it makes no other."""
from __future__ import annotations

import os
import re
from datetime import datetime

from helpdesk.api.server import create_api
from helpdesk.app import PROJECT_ROOT
from integrations.crm.models import Company, PaymentData, TicketData
from integrations.crm.onec import OneCSeedCrm
from tests.support.fakes.crm_1c_stub import OneCStub

SECTION = "## The original's 1C contract, call by call"
ROW = re.compile(r"^\| `([A-Z]+(?:, [A-Z]+)*) ([^`?]+)(?:\?[^`]*)?` \|", re.M)


def _section() -> str:
    with open(os.path.join(PROJECT_ROOT, "docs", "sync.md"), encoding="utf-8") as f:
        text = f.read()
    assert SECTION in text, f"docs/sync.md has no section {SECTION!r}"
    return text.split(SECTION, 1)[1].split("\n## ", 1)[0]


def _expand(path: str) -> list[str]:
    """`/api/{a,b}` -> [/api/a, /api/b] (one brace group per row)."""
    m = re.search(r"\{([^}]+)\}", path)
    if not m:
        return [path]
    return [path[:m.start()] + part + path[m.end():] for part in m.group(1).split(",")]


def _calls(table: str) -> set[tuple[str, str]]:
    return {(method, path) for methods, raw in ROW.findall(table)
            for method in methods.split(", ") for path in _expand(raw)}


def _tables() -> tuple[str, str]:
    to_bot, to_1c = _section().split("### Bot → 1C", 1)
    return to_bot, to_1c


def test_every_api_route_of_the_first_table_is_served_and_none_is_missing(api_app):
    paths = create_api(api_app).openapi()["paths"]       # every route the API serves
    served = {(method.upper(), path) for path, ops in paths.items()
              if path.startswith("/api/") and not path.startswith("/api/v1") for method in ops}
    documented = _calls(_tables()[0])
    assert documented, "the first table has no rows"
    assert documented - served == set(), "documented but not served"
    assert served - documented == set(), "served but not in docs/sync.md"


def _every_client_call(crm: OneCSeedCrm, c1: OneCStub) -> None:
    partner = c1.add_partner("ООО Ромашка", "7707083893", kpp="770701001", balance=150000)
    c1.add_person("+79991234567", "Иванов Иван", [(partner, "Директор")])
    crm.default_data()
    crm.find_company("7707083893", "770701001")
    crm.get_balance("7707083893", partner)
    crm.find_person("+79991234567")
    crm.get_ticket(crm_id="nobody")
    crm.active_tickets(guidPartner=partner)
    crm.upsert_counterparty(Company("ООО Ромашка", "7707083893"), idempotency_key="k-1")
    guid, _ = crm.upsert_ticket(TicketData("Не печатает чек"), idempotency_key="k-2")
    crm.upsert_ticket(TicketData("Не печатает чек", crm_id=guid), idempotency_key="k-3")
    crm.report_payment(PaymentData(50000, partner, datetime(2026, 12, 1, 10, 0)), idempotency_key="k-4")


def test_every_1c_call_of_the_second_table_is_one_the_client_makes_and_only_those():
    with OneCStub("bot", "p4ss", "t0k") as c1:
        crm = OneCSeedCrm(c1.url, "bot", "p4ss", "t0k", timeout=2, retries=0)
        try:
            _every_client_call(crm, c1)
        finally:
            crm.close()
        made = {(r.method, r.path[len(c1.PREFIX):]) for r in c1.requests}
    documented = _calls(_tables()[1])
    assert documented, "the second table has no rows"
    assert made == documented
