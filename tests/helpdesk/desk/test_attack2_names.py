"""Attack (issue 16, point 1: "staff are named by their full name, not a first name two
technicians may share"). Many Telegram accounts have no last name. Two technicians who are
both just "Сергей" in Telegram (different people, different @usernames) are both named
"Сергей" everywhere: the dispatcher's picker shows two identical buttons, and the card's
"Мастер: Сергей" does not say which of them has the ticket."""
from __future__ import annotations

from helpdesk.desk import staff
from tests.support.desk import CLIENT, DISPATCHER, group_press
from tests.support.tickets import file_ticket

SERGEY_A, SERGEY_B = 960, 961


def test_two_technicians_with_the_same_first_name_and_no_last_name_are_told_apart(world):
    staff.grant(SERGEY_A, staff.TECHNICIAN, first_name="Сергей", username="sergey_kassy")
    staff.grant(SERGEY_B, staff.TECHNICIAN, first_name="Сергей", username="sergey_egais")
    staff.grant(DISPATCHER, staff.DISPATCHER, first_name="Диана", last_name="Диспетчерова")
    t = file_ticket(world, CLIENT)
    [pick] = group_press(world, DISPATCHER, f"as:{t.id}")
    labels = [b.text for row in pick.buttons for b in row if b.data.split(":")[2:3] in
              ([str(SERGEY_A)], [str(SERGEY_B)])]
    assert len(labels) == 2 and labels[0] != labels[1], labels


def test_every_technician_can_be_chosen_in_the_picker(world):
    """The picker shows at most 30 staff (assign.MAX_CHOICES), sorted by name, with no
    paging: on a desk of 35 technicians the last five alphabetically (Щ..., Я...) can never
    be assigned a ticket by a dispatcher."""
    staff.grant(DISPATCHER, staff.DISPATCHER, first_name="Диана", last_name="Диспетчерова")
    ids = list(range(2000, 2035))
    for n, uid in enumerate(ids):
        staff.grant(uid, staff.TECHNICIAN, first_name="Мастер", last_name=f"Номер{n:02d}")
    t = file_ticket(world, CLIENT)
    [pick] = group_press(world, DISPATCHER, f"as:{t.id}")
    offered = {int(b.data.split(":")[2]) for row in pick.buttons for b in row
               if len(b.data.split(":")) == 4}
    assert set(ids) <= offered, sorted(set(ids) - offered)
