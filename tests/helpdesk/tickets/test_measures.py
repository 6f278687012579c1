"""Figures per technician, company and type (issue 16 point 6) on a fixed data set whose
medians are known, who sees which of them in `/stats`, and the report's CSV files.

The data set (hours after the tickets' common creation time T0):

    ticket  company  type   technician  first response  done   rating
    t1      Ромашка  Касса  Петров      1               4      5
    t2      Ромашка  Касса  Петров      3               10     2
    t3      Ромашка  ЕГАИС  Сидоров     0.5             2      -
    t4      Ромашка  Касса  -           -               -      -      (new)
    t5      Лютик    Касса  Сидоров     1.5             -      -      (waiting)
"""
from __future__ import annotations

import csv
from datetime import datetime, timedelta

import pytest

from helpdesk.desk import staff
from helpdesk.desk.tables import Rating, SlaTimer
from helpdesk.directory.roles import PermissionDenied
from helpdesk.directory.tables import utcnow
from helpdesk.tickets import Ticket, TicketEvent, reports
from helpdesk.tickets.measures import breakdowns, sla_results
from helpdesk.tickets.stats import for_user
from tests.support.tickets import TECH, TECH2, file_ticket, make_world, world_chat

T0 = datetime(2026, 3, 2, 9, 0)
DISPATCHER = 700


def at(ticket_id: int, what: str, hours: float) -> None:
    TicketEvent.update(at=T0 + timedelta(hours=hours)).where(
        (TicketEvent.ticket == ticket_id) & (TicketEvent.what == what)).execute()


def worked(w, ticket, tech, name, answered, done=None, score=None):
    w.svc.take(tech, name, ticket.id)
    at(ticket.id, "taken", answered)
    if done is None:
        w.svc.set_waiting(tech, name, ticket.id)
        at(ticket.id, "waiting", answered + 1)
        return
    w.svc.done(tech, name, ticket.id)
    at(ticket.id, "done", done)
    Ticket.update(closed=T0 + timedelta(hours=done)).where(Ticket.id == ticket.id).execute()
    if score is not None:
        Rating.update(score=score).where(Rating.ticket_id == ticket.id).execute()


@pytest.fixture
def world(database):
    w = make_world()
    t = [file_ticket(w, 101, description=f"Касса номер {i} не печатает чеки") for i in range(4)]
    t.append(w.svc.create(105, type="Касса", description="Весы в другой компании не работают",
                          counterparty_id=w.b)[0])
    Ticket.update(created=T0).execute()
    Ticket.update(type="ЕГАИС").where(Ticket.id == t[2].id).execute()
    worked(w, t[0], TECH, "Петров", 1, 4, 5)
    worked(w, t[1], TECH, "Петров", 3, 10, 2)
    worked(w, t[2], TECH2, "Сидоров", 0.5, 2)
    worked(w, t[4], TECH2, "Сидоров", 1.5)
    w.tickets = t
    return w


def rows(figures: dict, key: str) -> dict:
    return {r["name"]: (r["total"], r["closed"], r["first_response_h"], r["resolution_h"],
                        r["sla_met_pct"], r["rating"]) for r in figures[key]}


def test_per_technician_company_and_type_with_known_medians(world):
    figures = breakdowns(list(Ticket.select()))
    assert rows(figures, "by_technician") == {
        "Петров": (2, 2, 2.0, 7.0, None, 3.5),
        "Сидоров": (2, 1, 1.0, 2.0, None, None),
        "": (1, 0, None, None, None, None)}
    assert [r["name"] for r in figures["by_technician"]] == ["Петров", "Сидоров", ""]
    assert rows(figures, "by_company") == {
        "ООО Ромашка": (4, 3, 1.0, 4.0, None, 3.5),
        "ООО Лютик": (1, 0, 1.5, None, None, None)}
    assert rows(figures, "by_kind") == {
        "Касса": (4, 2, 1.5, 7.0, None, 3.5),
        "ЕГАИС": (1, 1, 0.5, 2.0, None, None)}
    overall = figures["overall"]
    # median of 1, 3, 0.5 and 1.5 is 1.25, shown to one decimal (half to even)
    assert (overall["first_response_h"], overall["rating"], overall["rated"]) == (1.2, 3.5, 2)


def test_the_clients_own_events_are_no_response(world):
    t4 = world.tickets[3]
    world.svc.edit(101, t4.id, description="Касса номер 3 не печатает чеки совсем")
    world.svc.add_to(101, t4.id, "И ещё не открывается ящик")
    assert rows(breakdowns([Ticket.get_by_id(t4.id)]), "by_technician")[""][2] is None


def test_staff_see_every_company_and_heads_only_their_own(world):
    now = T0 + timedelta(days=1)
    staff.grant(DISPATCHER, staff.DISPATCHER)
    everything = for_user(DISPATCHER, 30, now=now)
    assert everything["everything"] and everything["total"] == 5
    director = for_user(103, 30, now=now)                       # DIRECTOR of Ромашка
    assert director["total"] == 4 and director["companies"] == ["ООО Ромашка"]
    assert [r["name"] for r in director["by_company"]] == ["ООО Ромашка"]
    other = for_user(105, 30, now=now)                          # ADMINISTRATOR of Лютик
    assert other["total"] == 1 and [r["name"] for r in other["by_company"]] == ["ООО Лютик"]
    assert rows(other, "by_technician") == {"Сидоров": (1, 0, 1.5, None, None, None)}
    assert "Петров" not in str(other)
    for nobody in (101, 104, 555):                              # USER, PENDING, a stranger
        with pytest.raises(PermissionDenied):
            for_user(nobody, 30, now=now)


def test_stats_in_the_bot_for_staff_name_every_company(database):
    w = make_world()
    staff.grant(DISPATCHER, staff.DISPATCHER)
    t = file_ticket(w, 101)
    w.svc.take(TECH, "Петров", t.id)
    w.svc.done(TECH, "Петров", t.id)
    c = world_chat(w, DISPATCHER)
    c.send("/stats")
    c.click("30 дней")
    text = c.last_text
    assert "все компании" in text and "Петров: всего 1, закрыто 1" in text
    assert "в срок —" in text and "ООО Ромашка: всего 1" in text


def test_the_report_writes_the_breakdowns(world, tmp_path):
    paths = reports.write_breakdowns(list(Ticket.select()), str(tmp_path))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["technicians.csv", "companies.csv", "types.csv"]
    with open(paths[0], encoding="utf-8-sig") as f:
        got = list(csv.DictReader(f, delimiter=";"))
    assert got[0] == {"name": "Петров", "total": "2", "closed": "2", "first_response_h": "2,0",
                      "resolution_h": "7,0", "sla_met_pct": "", "rating": "3,5", "rated": "2"}
    assert [r["name"] for r in got] == ["Петров", "Сидоров", ""]


def test_the_chart_shows_closed_tickets_per_technician_with_the_rating(world, tmp_path):
    from datetime import date

    import matplotlib.pyplot as plt

    from helpdesk.tickets.stats import summarize
    tickets = list(Ticket.select())
    summary = {**summarize(tickets), **breakdowns(tickets)}
    labels = reports.chart_labels(world.app.engine.flowset.templates, "ru", date(2026, 3, 1),
                                  date(2026, 3, 31), summary)
    fig = reports.chart_figure(summary, labels)
    texts = {t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text")) if t.get_text()}
    assert len(fig.axes) == 3 and "Закрыто по мастерам" in texts
    assert {"Петров ★3.5", "Сидоров", "не назначен"} <= texts
    plt.close(fig)
    path = reports.write_chart(summary, labels, str(tmp_path / "c.png"))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_sla_met_comes_from_the_tickets_sla_timers(world):
    """Met: every target reached in time; missed: one breached or took longer; a ticket whose
    target still runs, or that has none, is left out (shown as "—")."""
    met, late, breached, running, none = (file_ticket(world, 101) for _ in range(5))
    SlaTimer.delete().execute()
    now = utcnow()
    for ticket, spent, breached_at, stopped in ((met, 50, None, now), (late, 150, None, now),
                                                (breached, 10, now, None), (running, 10, None, None)):
        SlaTimer.create(ticket=ticket, kind="first_response", target=100, spent=spent,
                        breached_at=breached_at, stopped_at=stopped, stopped_by="taken" if stopped else None)
    SlaTimer.create(ticket=met, kind="resolution", target=100, spent=99, stopped_at=now, stopped_by="done")
    assert sla_results([t.id for t in (met, late, breached, running, none)]) == {
        met.id: True, late.id: False, breached.id: False}
