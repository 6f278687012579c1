"""A reopen reaches the CRM through the outbox like every other change (issue 14 item 6),
and a ticket the CRM reopens is active again: the REST CRM stub over loopback, the real
client and drain."""
from __future__ import annotations

from helpdesk.desk import staff
from helpdesk.tickets import DONE, IN_PROGRESS, Ticket, TicketEvent
from tests.support.sync import drain_all, new_ticket, sync_tickets

TECH = 9001


def test_the_authors_reopen_is_pushed_to_the_crm(app, rest_stub):
    staff.grant(TECH, staff.TECHNICIAN)
    svc = sync_tickets(app)
    ticket = new_ticket(app)
    svc.take(TECH, "Петров", ticket.id)
    svc.done(TECH, "Петров", ticket.id)
    drain_all(app)
    crm_id = Ticket.get_by_id(ticket.id).crm_id
    assert rest_stub.store["tickets"][crm_id]["status"] == DONE
    assert rest_stub.store["tickets"][crm_id]["closed_at"]

    svc.reopen(1001, ticket.id)
    drain_all(app)

    stored = rest_stub.store["tickets"][crm_id]
    assert (stored["status"], stored["closed_at"]) == (IN_PROGRESS, None)
    assert [m for c, m, _ in rest_stub.items if c == "tickets"][-1] == "PUT"   # the same record


def test_a_ticket_the_crm_reopens_is_active_again(app):
    svc = sync_tickets(app)
    ticket = new_ticket(app)
    svc.crm_update(ticket.id, status=DONE, master_name="Сидоров")
    assert Ticket.get_by_id(ticket.id).closed is not None
    svc.crm_update(ticket.id, status=IN_PROGRESS)
    t = Ticket.get_by_id(ticket.id)
    assert (t.status, t.closed) == (IN_PROGRESS, None)
    assert [x.id for x in svc.visible(1001)[0]] == [ticket.id]
    last = TicketEvent.select().order_by(TicketEvent.id.desc()).first()
    assert last.details["status"] == {"old": "done", "new": "in_progress"}
