"""Attack (issue 16, point 4: SLA timers across a wait). "⏳ Ждём клиента" is accepted on a
ticket nobody answered yet (set_waiting allows new -> waiting), and waiting pauses BOTH
timers, the first response too. So a technician who presses Wait on a fresh ticket stops
the first-response clock without the client ever hearing from support (a `waiting` event
is no first response, docs/tickets.md): the client's "Ответим до 12:00" passes, nobody is
warned, the dispatchers are never pinged, and the report counts the ticket as on time."""
from __future__ import annotations

import pytest

from helpdesk.desk import sla, staff
from tests.support.desk import msk, sla_world
from tests.support.tickets import TECH, file_ticket, queued

DISPATCHER = 700


@pytest.fixture
def desk(database):
    world = sla_world()
    staff.grant(DISPATCHER, staff.DISPATCHER, first_name="Дарья", last_name="Диспетчерова")
    return world


def test_wait_pressed_on_an_unanswered_ticket_does_not_stop_the_first_response_clock(desk):
    ticket = file_ticket(desk, 101)                       # Monday 10:00: answer due by 12:00
    assert sla.answer_by(ticket.id) == msk(1, 12)
    desk.clock.now = msk(1, 10, 5)
    desk.svc.set_waiting(TECH, "Пётр Петров", ticket.id)  # nothing said to the client
    sla.fire_due(desk.app.settings, desk.app.engine.flowset.templates, msk(1, 17))
    # seven working hours and no answer: the promise to the client is broken
    assert queued(DISPATCHER, ":first_response:breach"), "no dispatcher was pinged"
