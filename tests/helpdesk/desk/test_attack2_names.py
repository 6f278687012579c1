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


def _namesakes() -> None:
    """Two technicians called Сергей with no last name (told apart by username), and a dispatcher."""
    staff.grant(SERGEY_A, staff.TECHNICIAN, first_name="Сергей", username="sergey_kassy")
    staff.grant(SERGEY_B, staff.TECHNICIAN, first_name="Сергей", username="sergey_egais")
    staff.grant(DISPATCHER, staff.DISPATCHER, first_name="Диана", last_name="Диспетчерова")


def test_two_technicians_with_the_same_first_name_and_no_last_name_are_told_apart(world):
    _namesakes()
    t = file_ticket(world, CLIENT)
    [pick] = group_press(world, DISPATCHER, f"as:{t.id}")
    labels = [b.text for row in pick.buttons for b in row if b.data.split(":")[2:3] in
              ([str(SERGEY_A)], [str(SERGEY_B)])]
    assert len(labels) == 2 and labels[0] != labels[1], labels


def test_every_technician_can_be_chosen_in_the_picker(world):
    """The picker showed at most 30 staff (assign.MAX_CHOICES), sorted by name, with no
    paging: on a desk of 35 technicians the last five alphabetically (Щ..., Я...) could
    never be assigned a ticket by a dispatcher. Now paged: every one is on some page."""
    staff.grant(DISPATCHER, staff.DISPATCHER, first_name="Диана", last_name="Диспетчерова")
    ids = list(range(2000, 2035))
    for n, uid in enumerate(ids):
        staff.grant(uid, staff.TECHNICIAN, first_name="Мастер", last_name=f"Номер{n:02d}")
    t = file_ticket(world, CLIENT)
    [pick] = group_press(world, DISPATCHER, f"as:{t.id}")
    offered, pages = set(), 0
    while pick is not None and pages < 10:         # the picker is paged: "›" to the next page
        pages += 1
        offered |= {int(b.data.split(":")[2]) for row in pick.buttons for b in row
                    if len(b.data.split(":")) == 4}
        turn = [b.data for row in pick.buttons for b in row if b.text.endswith("›")]
        [pick] = group_press(world, DISPATCHER, turn[0]) if turn else [None]
    assert set(ids) <= offered, sorted(set(ids) - offered)
    assert pages == 2                              # 30 a page (assign.MAX_CHOICES), then 5


def test_the_second_page_goes_back_and_assigns_as_the_first(world):
    staff.grant(DISPATCHER, staff.DISPATCHER, first_name="Диана", last_name="Диспетчерова")
    for n, uid in enumerate(range(2000, 2035)):
        staff.grant(uid, staff.TECHNICIAN, first_name="Мастер", last_name=f"Номер{n:02d}")
    t = file_ticket(world, CLIENT)
    [second] = group_press(world, DISPATCHER, f"as:{t.id}:p1")
    choices = [b.data for row in second.buttons for b in row if len(b.data.split(":")) == 4]
    back = [b.data for row in second.buttons for b in row if b.text.startswith("‹")]
    assert f"as:{t.id}:2034:{t.version}" in choices and back == [f"as:{t.id}:p0"]
    [done] = group_press(world, DISPATCHER, f"as:{t.id}:2034:{t.version}")
    assert "Номер34" in done.text                  # the card names the assignee
    [first] = group_press(world, DISPATCHER, f"as:{t.id}:p0")
    assert len([b for row in first.buttons for b in row if len(b.data.split(":")) == 4]) == 30


def test_the_card_says_which_namesake_has_the_ticket(world):
    _namesakes()
    t = file_ticket(world, CLIENT)
    [pick] = group_press(world, DISPATCHER, f"as:{t.id}")
    [choice] = [b.data for row in pick.buttons for b in row if b.data.split(":")[2:3] == [str(SERGEY_B)]]
    [card] = group_press(world, DISPATCHER, choice)
    assert "@sergey_egais" in card.text, card.text
