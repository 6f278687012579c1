"""Outside attack on the desk's SLA (issue 16, point 4: timers "move when the ticket waits
for the client"). A technician presses "⏳ Ждём клиента"; the client answers on the
ticket. The ticket no longer waits for the client, yet nothing takes it out of `waiting`:
the card of a waiting ticket offers only Done / Comment / Assign, the client's message
changes no status, and in standalone mode no CRM moves it. So the resolution timer stays
paused for good: a ticket parked in "waiting" can never breach, however long the desk
then sits on the client's answer."""
from __future__ import annotations

import pytest

from helpdesk.desk import sla
from helpdesk.desk.conversation import Conversation, Message
from helpdesk.desk.tables import SlaTimer
from helpdesk.tickets import Ticket
from tests.support.desk import msk, sla_world
from tests.support.tickets import TECH, file_ticket


@pytest.fixture
def desk(database):
    return sla_world()


def resolution(ticket) -> SlaTimer:
    return SlaTimer.get((SlaTimer.ticket == ticket.id) & (SlaTimer.kind == sla.RESOLUTION))


def test_the_clients_answer_to_a_waiting_ticket_starts_its_resolution_timer_again(desk):
    ticket = file_ticket(desk, 101)
    desk.svc.take(TECH, "Мастер Иван", ticket.id)
    desk.clock.now = msk(1, 11)
    desk.svc.set_waiting(TECH, "Мастер Иван", ticket.id)           # "send us the logs"
    assert resolution(ticket).since is None                        # paused: right
    app = desk.app
    Conversation(app.settings, app.services.tickets, app.engine.flowset.templates).from_client(
        101, ticket.id, Message(101, 4001, "Вот логи, касса по-прежнему не печатает"))
    assert Ticket.get_by_id(ticket.id).status == "in_progress"     # worked on again
    running = resolution(ticket)
    assert running.since is not None and running.next_at is not None, \
        "the client answered, yet the resolution timer stays paused: the ticket can never breach"


def test_a_ticket_the_crm_files_as_done_gets_no_running_sla_timer(desk):
    """1C records a job already finished (crm_create with status "done", e.g. the
    technician fixed it on the phone): the "created" listener starts both SLA timers
    whatever the status, so two hours later the dispatchers are pinged that a closed ticket
    is overdue, and the report counts a breach for it."""
    ticket = desk.svc.crm_create(101, description="Починили по телефону", type="Касса",
                                 counterparty_id=desk.a, crm_id="1c-done-1", status="done")
    running = list(SlaTimer.select().where((SlaTimer.ticket == ticket.id) & SlaTimer.next_at.is_null(False)))
    assert running == [], f"{[t.kind for t in running]} run for a ticket that is done"
    fired = sla.fire_due(desk.app.settings, desk.app.engine.flowset.templates, msk(20, 12))
    assert fired == 0
