"""Outside attack on the assignment picker (issue 16, point 3). The picker replaces the
buttons of the ticket's card in the group, the one message every technician works from;
only a dispatcher may press "back" (or a name). A dispatcher who opens the picker and
walks away (a call, the end of the shift) leaves the card with nothing a technician can
press: Take, Wait, Done and Comment are gone for everybody until some dispatcher comes
back to it, and the technician's "back" is refused as a stale button.

(tests/helpdesk/desk/test_assign.py::test_every_role_pressing_every_staff_button pins
"back" to dispatchers; the fix decides which of the two gives.)"""
from __future__ import annotations

import pytest

from tests.support.desk import CLIENT, DISPATCHER, TECH, group_press, staff_roles
from tests.support.tickets import file_ticket


@pytest.fixture
def desk_world(world):
    staff_roles()
    return world


def test_a_picker_left_open_on_the_group_card_does_not_lock_the_technicians_out(desk_world):
    t = file_ticket(desk_world, CLIENT)
    [picker] = group_press(desk_world, DISPATCHER, f"as:{t.id}")
    shown = {b.data for row in picker.buttons for b in row}
    assert f"wg:take:{t.id}" not in shown and f"as:{t.id}:back" in shown   # the card now
    replies = group_press(desk_world, TECH, f"as:{t.id}:back", name="Пётр")
    restored = {b.data for r in replies for row in r.buttons for b in row}
    assert f"wg:take:{t.id}" in restored, \
        "the technician cannot get the card's buttons back: the ticket cannot be taken from the group"
