"""`run.py report`: CSV and PNG for a period; bad dates refused."""
from __future__ import annotations

import csv
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from helpdesk.app import PROJECT_ROOT
from helpdesk.tickets import Ticket, reports
from helpdesk.tickets.stats import for_user, summarize, tickets_between
from tests.support.tickets import TECH, file_ticket, make_world


@pytest.fixture
def world(database):
    return make_world()


def test_report_command_writes_csv_and_png(world, db_url, tmp_path):
    a = file_ticket(world, 101, trade_point_id=world.p1)
    b = file_ticket(world, 102, description="Сканер не читает маркировку;\nстрока 2")
    world.svc.take(TECH, "Петров", a.id)
    world.svc.done(TECH, "Петров", a.id)
    Ticket.update(created=datetime(2025, 6, 1)).where(Ticket.id == b.id).execute()   # out of period
    year = datetime.utcnow().year
    out = tmp_path / "rep"
    proc = subprocess.run([sys.executable, "run.py", "report", "--from", f"{year}-01-01", "--to",
                           f"{year}-12-31", "--out", str(out)], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, env={"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(out / name) for name in (
        "tickets.csv", "technicians.csv", "companies.csv", "types.csv", "tickets.png")]
    with open(out / "tickets.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    assert [(r["number"], r["status"], r["master"], r["trade_point"]) for r in rows] == [("1", "done", "Петров", "Тверская")]
    assert (out / "tickets.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_the_report_writes_the_csv_and_says_how_to_get_the_chart(world, db_url, tmp_path):
    file_ticket(world, 101)
    year = datetime.utcnow().year
    hide = ("import sys, runpy; sys.modules['matplotlib'] = None; sys.argv = ['run.py', *sys.argv[1:]]; "
            "runpy.run_path('run.py', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", hide, "report", "--from", f"{year}-01-01", "--to",
                           f"{year}-12-31", "--out", str(tmp_path)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1 and proc.stdout.split()[0] == str(tmp_path / "tickets.csv")
    assert "the chart needs matplotlib" in proc.stderr and "pip install" in proc.stderr
    assert not (tmp_path / "tickets.png").exists()


def test_csv_keeps_separators_and_newlines_inside_fields(world, tmp_path):
    file_ticket(world, 102, description="Сканер не читает; маркировку\nвторая строка")
    path = reports.write_csv(list(Ticket.select()), str(tmp_path / "t.csv"))
    with open(path, encoding="utf-8-sig") as f:
        row = next(csv.DictReader(f, delimiter=";"))
    assert row["description"] == "Сканер не читает; маркировку\nвторая строка"


@pytest.mark.parametrize("a,b", [("2026-13-01", "2026-12-31"), ("yesterday", "2026-01-01"),
                                 ("2026-12-31", "2026-01-01")])
def test_bad_periods_are_refused(a, b):
    with pytest.raises(reports.ReportError):
        reports.parse_period(a, b)


def test_summary_median_and_groups(world):
    t1 = file_ticket(world, 101, trade_point_id=world.p1)
    file_ticket(world, 102, description="Не уходят чеки в ОФД с утра")
    world.svc.take(TECH, "Петров", t1.id)
    world.svc.done(TECH, "Петров", t1.id)
    created = Ticket.get_by_id(t1.id).created
    Ticket.update(closed=created + timedelta(hours=2, minutes=30)).where(Ticket.id == t1.id).execute()
    s = summarize(tickets_between(datetime(2000, 1, 1), datetime(2100, 1, 1)))
    assert s["total"] == 2 and dict(map(tuple, s["by_status"])) == {"done": 1, "new": 1}
    assert dict(map(tuple, s["by_point"])) == {"Тверская": 1, "": 1}
    assert dict(map(tuple, s["by_master"])) == {"Петров": 1, "": 1}
    assert s["median_hours"] == 2.5


def test_stats_only_cover_the_users_companies(world):
    file_ticket(world, 101)
    world.svc.create(105, type="Касса", description="Ошибка кассы в другой компании", counterparty_id=world.b)
    assert for_user(103, 30)["total"] == 1 and for_user(105, 30)["total"] == 1


# --- issue 14 item 11: a chart people can read ---------------------------------------------

LONG_TYPE = "Фискальный накопитель и регистрация в ФНС"


def _chart(world, lang):
    from datetime import date

    from helpdesk import config
    from helpdesk.app import build_flowset
    a = file_ticket(world, 101)
    b = file_ticket(world, 102, description="Накопитель заполнен, касса не пробивает чеки")
    Ticket.update(type=LONG_TYPE).where(Ticket.id == b.id).execute()
    world.svc.take(TECH, "Петров", a.id)
    summary = summarize(list(Ticket.select()))
    templates = build_flowset(config.load(environ={})).templates
    labels = reports.chart_labels(templates, lang, date(2026, 1, 1), date(2026, 12, 31), summary)
    return reports.chart_figure(summary, labels), labels


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text")) if t.get_text()]


def test_the_chart_speaks_russian_counts_whole_tickets_and_cuts_nothing(world, tmp_path):
    import matplotlib.pyplot as plt
    fig, labels = _chart(world, "ru")
    texts = _texts(fig)
    assert "Заявки с 01.01.2026 по 31.12.2026 — всего: 2" in texts
    assert {"По статусам", "По типам", "Новая", "В работе"} <= set(texts)
    assert not {"new", "in_progress", "tickets per status"} & set(texts)
    for ax in fig.axes:                                        # 0, 1, 2 tickets: no 0.5
        assert all(float(tick).is_integer() for tick in ax.get_yticks())
    fig.canvas.draw()
    drawn = fig.get_tightbbox(fig.canvas.get_renderer())      # everything drawn, in inches
    page = fig.bbox_inches                                    # the figure's fixed canvas
    assert page.x0 <= drawn.x0 and drawn.x1 <= page.x1 and page.y0 <= drawn.y0 and \
        drawn.y1 <= page.y1, f"labels stick out of the {page} canvas: {drawn}"
    assert any("\n" in t for t in texts if t.startswith("Фискальный"))   # a long type wrapped
    path = reports.write_chart(summarize(list(Ticket.select())), labels, str(tmp_path / "c.png"))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    plt.close(fig)


def test_the_chart_in_english(world):
    import matplotlib.pyplot as plt
    fig, _ = _chart(world, "en")
    texts = set(_texts(fig))
    assert {"By status", "By type", "New", "In progress", "Tickets"} <= texts
    assert "Tickets from 01 Jan 2026 to 31 Dec 2026: 2 in all" in texts
    plt.close(fig)
