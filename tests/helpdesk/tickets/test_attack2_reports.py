"""Attack (issue 16, point 6: `run.py report`, CSV "for Excel with a Russian locale"). What
a client types goes into tickets.csv as is: a description, or a Telegram first name (the
author's column when no contact name is known), that starts with "=", "+", "-" or "@" is a
formula when the manager opens the file in Excel or LibreOffice (CSV injection:
=HYPERLINK to a phishing page, DDE). A cell a person wrote must never start a formula."""
from __future__ import annotations

import csv

import pytest

from helpdesk import directory
from helpdesk.tickets import Ticket, reports
from tests.support.tickets import file_ticket, make_world

FORMULA = '=HYPERLINK("http://evil.example/pay","Оплатить счёт")'
STARTS = ("=", "+", "-", "@")
WRITTEN = ("author", "description", "counterparty", "trade_point", "master")   # free text


@pytest.fixture
def world(database):
    return make_world()


def test_no_cell_a_client_wrote_starts_a_formula(world, tmp_path):
    directory.get_or_create_user(100, "u100", "=1+2", "ru")         # a Telegram first name
    file_ticket(world, 101, description=FORMULA)
    file_ticket(world, 100, company=False, description="@SUM(1+1)*cmd|' /C calc'!A0 касса")
    path = reports.write_csv(list(Ticket.select().order_by(Ticket.id)), str(tmp_path / "tickets.csv"))
    with open(path, encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    cells = [r[c] for r in rows for c in WRITTEN]
    assert FORMULA in " ".join(cells) or any("HYPERLINK" in c for c in cells)   # the text kept
    assert [c for c in cells if c.startswith(STARTS)] == []
