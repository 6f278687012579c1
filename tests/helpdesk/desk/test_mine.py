"""A staff member's "Assigned to me" in their private chat: only staff see it, the tickets
whose master they are come as cards with their buttons, active first, and those buttons
work from the private chat."""
from __future__ import annotations

import pytest

from engine.testing import Chat
from helpdesk.desk import staff
from helpdesk.desk.assign import assign
from helpdesk.tickets import Ticket
from tests.support.desk import CLIENT, DISPATCHER, TECH, TECH2, staff_roles
from tests.support.tickets import file_ticket

MINE = "🛠 Назначенные мне"


@pytest.fixture
def desk_world(world):
    staff_roles()
    return world


def _private(world, uid, name="Пётр"):
    chat = Chat(world.app.engine, uid, first_name=name)
    chat.send("/start")
    return chat


def test_only_staff_see_assigned_to_me_in_the_menu(desk_world):
    assert MINE in _private(desk_world, TECH).buttons
    assert MINE in _private(desk_world, DISPATCHER).buttons
    assert MINE not in _private(desk_world, CLIENT).buttons


def test_the_assigned_tickets_come_as_cards_active_first(desk_world):
    svc = desk_world.svc
    done, active, other = (file_ticket(desk_world, CLIENT, description=f"Касса номер {n} не печатает")
                           for n in (1, 2, 3))
    svc.take(TECH, "Пётр Петров", done.id)
    svc.done(TECH, "Пётр Петров", done.id)
    assign(svc, DISPATCHER, "Диана", active.id, TECH, Ticket.get_by_id(active.id).version)
    svc.take(TECH2, "Сидор", other.id)                        # someone else's
    chat = _private(desk_world, TECH)
    replies = chat.click(MINE)
    head, first, second = replies[0], replies[1], replies[2]
    assert "Назначенные вам заявки</b>: 2" in head.text
    assert "Касса номер 2" in first.text and "Касса номер 1" in second.text   # active first
    assert not any("Касса номер 3" in r.text for r in replies)
    assert f"wg:done:{active.id}" in [b.data for row in first.buttons for b in row]
    assert second.buttons == []                                # done: no staff buttons left
    assert "Главное меню" in replies[-1].text                 # and the menu again


def test_a_card_button_pressed_in_the_private_chat_works_there(desk_world):
    t = file_ticket(desk_world, CLIENT)
    desk_world.svc.take(TECH, "Пётр Петров", t.id)
    chat = _private(desk_world, TECH)
    chat.click(MINE)
    [edit] = chat.click("✅ Готово")                           # on the card, in this chat
    assert edit.chat_id == TECH and "Выполнена" in edit.text
    assert Ticket.get_by_id(t.id).status == "done"


def test_nothing_assigned_says_so_and_a_former_member_is_refused(desk_world):
    chat = _private(desk_world, TECH2)
    assert any("не назначено ни одной" in r.text for r in chat.click(MINE))
    chat.send("/start")
    staff.revoke(TECH2)                                       # the menu was drawn before
    replies = chat.click(MINE)
    assert any("только для сотрудников поддержки" in r.text for r in replies)
