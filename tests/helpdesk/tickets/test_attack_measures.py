"""Outside attack on the reports' "first response" (issue 16, point 6): one staff action,
one figure, wherever the button was pressed, and the same moment the SLA's timer stops at.
measures.py counted an assignment as the first response, but only when its event's source
was not "bot": a dispatcher who assigns from the ticket card in their private chat records
source "bot", so the same press in the group answered the ticket and in the private chat
did not. Now neither does (an assignment tells the client nothing, as for the SLA), and a
take counts from both places."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from helpdesk.desk import assign, staff
from helpdesk.tickets import Ticket, TicketEvent
from helpdesk.tickets.measures import measure
from tests.support.tickets import TECH, file_ticket, make_world

T0 = datetime(2026, 3, 2, 9, 0)
DISPATCHER = 700


@pytest.fixture
def world(database):
    w = make_world()
    staff.grant(DISPATCHER, staff.DISPATCHER, first_name="Дарья", last_name="Диспетчерова")
    return w


def _assigned(w, source: str) -> Ticket:
    ticket = file_ticket(w, 101)
    Ticket.update(created=T0).where(Ticket.id == ticket.id).execute()
    assign.assign(w.svc, DISPATCHER, "Дарья Диспетчерова", ticket.id, TECH,
                  Ticket.get_by_id(ticket.id).version, source=source)
    TicketEvent.update(at=T0 + timedelta(hours=1)).where(
        (TicketEvent.ticket == ticket.id) & (TicketEvent.what == "assigned")).execute()
    return Ticket.get_by_id(ticket.id)


def test_an_assignment_is_the_same_first_response_from_the_group_and_from_a_private_chat(world):
    in_group, in_private = _assigned(world, "group"), _assigned(world, "bot")
    figures = {m.ticket.id: m.first_response_h for m in measure([in_group, in_private])}
    assert figures[in_private.id] == figures[in_group.id], \
        "the dispatcher's assignment counts in one chat and not in the other"
    assert figures[in_group.id] is None          # assigned, nobody answered the client yet


def test_a_take_from_a_private_chat_is_a_first_response(world):
    ticket = file_ticket(world, 101)
    Ticket.update(created=T0).where(Ticket.id == ticket.id).execute()
    world.svc.take(TECH, "Иван Петров", ticket.id)           # the private card: source "bot"
    TicketEvent.update(at=T0 + timedelta(hours=2)).where(
        (TicketEvent.ticket == ticket.id) & (TicketEvent.what == "taken")).execute()
    [figures] = measure([Ticket.get_by_id(ticket.id)])
    assert figures.first_response_h == 2.0


def test_the_reports_first_response_is_the_slas_first_response(database):
    """docs/sla.md: the first response is a take, a comment, done or a staff message;
    measures.RESPONSES adds "assigned" and "waiting". A ticket a technician only parked in
    "waiting" has been answered after 1 hour in the report, and not at all by its SLA timer
    (paused, still owed), so "median first response" and "SLA met %" of one report line
    measure two different things."""
    from helpdesk.app import build_app
    from helpdesk.desk import sla
    from tests.support.tickets import make_settings
    settings = make_settings()
    settings.sla.first_response_hours = 2
    w = make_world()
    w.app = build_app(settings, connect=False)
    ticket = file_ticket(w, 101)
    w.svc.set_waiting(TECH, "Иван Петров", ticket.id)
    first = sla.measure(ticket.id, settings)[sla.FIRST_RESPONSE]
    assert not first.finished                                  # the SLA: no response yet
    [figures] = measure([Ticket.get_by_id(ticket.id)])
    assert figures.first_response_h is None, \
        f"the report says answered after {figures.first_response_h} h; the SLA says not answered"
