"""Outside attack (issue 16, point 6): `run.py report` wrote its times in UTC with nothing
saying so, and read --from/--to as UTC days, while every time the product shows is in
`engine.timezone`. A ticket filed at 01:30 Moscow time on 2 March was reported as created
on 1 March at 22:30, and fell out of a report for 2 March."""
from __future__ import annotations

import csv
import subprocess
import sys
from datetime import datetime

from helpdesk.app import PROJECT_ROOT
from helpdesk.tickets import Ticket
from tests.support.tickets import TECH, file_ticket, make_world


def test_report_times_and_days_are_the_display_time_zones_and_the_header_says_so(database, db_url, tmp_path):
    world = make_world()
    night = file_ticket(world, 101)                      # 01:30 on 2 March in Moscow
    world.svc.take(TECH, "Петров", night.id)
    world.svc.done(TECH, "Петров", night.id)
    Ticket.update(created=datetime(2025, 3, 1, 22, 30), closed=datetime(2025, 3, 2, 6, 0)).where(
        Ticket.id == night.id).execute()
    before = file_ticket(world, 102)                     # 23:00 on 1 March in Moscow: not that day
    Ticket.update(created=datetime(2025, 3, 1, 20, 0)).where(Ticket.id == before.id).execute()
    proc = subprocess.run([sys.executable, "run.py", "report", "--from", "2025-03-02", "--to",
                           "2025-03-02", "--out", str(tmp_path)], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120,
                          env={"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin",
                               "ENGINE__TIMEZONE": "Europe/Moscow"})
    assert proc.returncode in (0, 1), proc.stderr          # 1: no matplotlib, the CSV is written
    with open(tmp_path / "tickets.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    assert [r["number"] for r in rows] == [str(night.number)]
    assert rows[0]["created (Europe/Moscow)"] == "2025-03-02 01:30"
    assert rows[0]["closed (Europe/Moscow)"] == "2025-03-02 09:00"
