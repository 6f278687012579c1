"""A dispatcher assigns a ticket to a technician from its card: every role pressing every
staff button, two dispatchers at once, forged callback data, the assignee told privately."""
from __future__ import annotations

import threading

import pytest

from engine import storage
from helpdesk.desk import assign as desk
from helpdesk.desk import staff
from helpdesk.sync.outbox import OutboxItem
from helpdesk.tickets import IN_PROGRESS, NEW, Ticket, TicketConflict, TicketEvent
from tests.support.desk import (
    ADMIN,
    CARD,
    CLIENT,
    DISPATCHER,
    DISPATCHER2,
    GROUP,
    MEMBER,
    ROLES,
    TECH,
    TECH2,
    group_press,
    staff_roles,
)
from tests.support.tickets import file_ticket, queued

REFUSED = "Эта кнопка устарела или недоступна"


@pytest.fixture
def desk_world(world):
    staff_roles()
    return world


def _refused(replies) -> bool:
    return [(r.answer_only, r.callback_answer) for r in replies] == [(True, REFUSED)]


# every staff button: (callback data for ticket t, who may press it)
BUTTONS = {
    "take": (lambda t: f"wg:take:{t.id}", {"technician", "dispatcher", "admin"}),
    "wait": (lambda t: f"wg:wait:{t.id}", {"technician", "dispatcher", "admin"}),
    "done": (lambda t: f"wg:done:{t.id}", {"technician", "dispatcher", "admin"}),
    "comment": (lambda t: f"wg:comment:{t.id}", {"technician", "dispatcher", "admin"}),
    "assign": (lambda t: f"as:{t.id}", {"dispatcher", "admin"}),
    "assign to": (lambda t: f"as:{t.id}:{TECH}:{t.version}", {"dispatcher", "admin"}),
    # any staff member: a picker a dispatcher left open must not lock the technicians out
    "back": (lambda t: f"as:{t.id}:back", {"technician", "dispatcher", "admin"}),
}


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("button", list(BUTTONS))
def test_every_role_pressing_every_staff_button(desk_world, role, button):
    uid, in_group = ROLES[role]
    data, allowed = BUTTONS[button]
    t = file_ticket(desk_world, CLIENT)
    before = len(queued())
    replies = group_press(desk_world, uid, data(t), in_group=in_group)
    after = Ticket.get_by_id(t.id)
    if role in allowed:
        assert not _refused(replies) and replies[-1].callback_answer
        assert replies[-1].edit_message_id == CARD            # the pressed card, in place
    else:
        assert _refused(replies)                              # nothing of the ticket shown
        assert after.version == t.version and len(queued()) == before   # and nothing changed


def test_the_picker_lists_the_staff_and_an_assignment_is_recorded_and_told(desk_world):
    t = file_ticket(desk_world, CLIENT)
    [pick] = group_press(desk_world, DISPATCHER, f"as:{t.id}")
    assert pick.callback_answer == "Кому назначить заявку?"
    labels = pick.button_texts()
    assert labels[:2] == ["Пётр Петров", "Сидор Сидоров"]            # technicians first
    assert "Анна Админова (диспетчер)" in labels and labels[-1] == "◀️ Назад к заявке"
    choice = next(b.data for row in pick.buttons for b in row if b.text == "Сидор Сидоров")
    assert choice == f"as:{t.id}:{TECH2}:{t.version}" and len(choice.encode()) <= 64

    [done] = group_press(desk_world, DISPATCHER, choice, name="Диана")
    assert done.callback_answer == "Назначено: Сидор Сидоров" and "Мастер: Сидор Сидоров" in done.text
    ticket = Ticket.get_by_id(t.id)
    assert (ticket.status, ticket.master_telegram_id, ticket.master_name) == \
        (IN_PROGRESS, TECH2, "Сидор Сидоров")
    event = ticket.events.order_by(TicketEvent.id.desc()).first()
    assert (event.what, event.who, event.source) == ("assigned", f"disp:{DISPATCHER}", "group")
    assert event.details["by"] == "Диана Диспетчерова"
    assert event.details["master_name"] == {"old": "", "new": "Сидор Сидоров"}
    [told] = queued(TECH2, "assigned:staff")
    assert "Вам назначена заявка <b>#1</b>" in told.text and "Диана Диспетчерова" in told.text
    assert f"wg:done:{t.id}" in [b.data for row in told.buttons for b in row]   # its card buttons
    assert any("назначен мастер" in r.text for r in queued(CLIENT))


def test_back_shows_the_cards_buttons_again(desk_world):
    t = file_ticket(desk_world, CLIENT)
    group_press(desk_world, ADMIN, f"as:{t.id}")
    [back] = group_press(desk_world, ADMIN, f"as:{t.id}:back")
    assert f"wg:take:{t.id}" in [b.data for row in back.buttons for b in row]
    assert Ticket.get_by_id(t.id).version == t.version


def test_a_second_choice_from_the_same_picker_is_told_who_won(desk_world):
    t = file_ticket(desk_world, CLIENT)
    group_press(desk_world, DISPATCHER, f"as:{t.id}:{TECH}:{t.version}")
    [late] = group_press(desk_world, DISPATCHER2, f"as:{t.id}:{TECH2}:{t.version}")
    assert late.callback_answer == "Заявка уже изменилась: В работе, мастер Пётр Петров"
    assert Ticket.get_by_id(t.id).master_telegram_id == TECH
    assert TicketEvent.select().where(TicketEvent.what == "assigned").count() == 1


def test_two_dispatchers_assigning_at_once_end_with_one_winner(desk_world):
    t = file_ticket(desk_world, CLIENT)
    barrier, results = threading.Barrier(2), {}

    def press(dispatcher, tech):
        try:
            barrier.wait(10)
            desk.assign(desk_world.svc, dispatcher, str(dispatcher), t.id, tech, t.version)
            results[dispatcher] = "won"
        except TicketConflict as e:
            results[dispatcher] = ("told", e.ticket.master_telegram_id)
        finally:
            storage.close()

    threads = [threading.Thread(target=press, args=a) for a in ((DISPATCHER, TECH), (DISPATCHER2, TECH2))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert len(results) == 2 and list(results.values()).count("won") == 1
    ticket = Ticket.get_by_id(t.id)
    winner = TECH if results[DISPATCHER] == "won" else TECH2
    loser = DISPATCHER2 if results[DISPATCHER] == "won" else DISPATCHER
    assert results[loser] == ("told", winner)                    # told who has it now
    assert ticket.master_telegram_id == winner and ticket.version == t.version + 1
    assert TicketEvent.select().where(TicketEvent.what == "assigned").count() == 1
    pushes = OutboxItem.select().where((OutboxItem.entity == "ticket") & (OutboxItem.entity_id == t.id))
    assert pushes.count() == 2                                   # created + the one assignment
    assert len(queued(None, "assigned:staff")) == 1              # one assignee told, once


@pytest.mark.parametrize("data", [
    "as:{t}:{member}:{v}",         # to somebody who is not staff
    "as:{t}:{client}:{v}",
    "as:999999:{tech}:1",          # a ticket that does not exist
    "as:{t}:{tech}:x",             # no version
    "as:{t}:{tech}",               # the wrong shape
    "as:{t}:{tech}:{v}:9",
    "as:-{t}",
    "as:{t}:forward",
    "as:",
])
def test_forged_assign_data_from_a_dispatcher_shows_nothing_and_changes_nothing(desk_world, data):
    t = file_ticket(desk_world, CLIENT)
    forged = data.format(t=t.id, member=MEMBER, client=CLIENT, tech=TECH, v=t.version)
    replies = group_press(desk_world, DISPATCHER, forged)
    assert _refused(replies) or replies[-1].callback_answer.startswith("Заявка уже изменилась")
    assert Ticket.get_by_id(t.id).version == t.version
    assert TicketEvent.select().where(TicketEvent.what == "assigned").count() == 0


def test_a_forged_press_for_someone_elses_ticket_from_a_private_chat(desk_world):
    t = file_ticket(desk_world, 102)                             # the administrator's ticket
    for data in (f"as:{t.id}:{CLIENT}:{t.version}", f"wg:done:{t.id}", f"as:{t.id}"):
        assert _refused(group_press(desk_world, CLIENT, data, in_group=False))
    assert Ticket.get_by_id(t.id).status == NEW


def test_a_revoked_dispatcher_is_refused_at_the_next_press(desk_world):
    t = file_ticket(desk_world, CLIENT)
    [pick] = group_press(desk_world, DISPATCHER, f"as:{t.id}")
    staff.revoke(DISPATCHER)
    choice = pick.buttons[0][0].data
    assert _refused(group_press(desk_world, DISPATCHER, choice))
    assert Ticket.get_by_id(t.id).master_telegram_id is None


def test_a_closed_ticket_offers_no_assign_and_refuses_one(desk_world):
    t = file_ticket(desk_world, CLIENT)
    desk_world.svc.done(TECH, "Петров", t.id)
    [late] = group_press(desk_world, DISPATCHER, f"as:{t.id}:{TECH2}:{t.version + 1}")
    assert late.callback_answer.startswith("Заявка уже изменилась: Выполнена")
    assert late.buttons == []
    assert Ticket.get_by_id(t.id).master_telegram_id == TECH


def test_the_card_in_the_group_carries_the_assign_button(desk_world):
    t = file_ticket(desk_world, CLIENT)
    [post] = queued(GROUP, f"t{t.id}:post")
    assert post.buttons[-1][0].data == f"as:{t.id}" and post.buttons[-1][0].text == "👤 Назначить"


def test_an_assignment_from_a_private_chat_edits_the_groups_card(desk_world):
    from engine import outgoing
    t = file_ticket(desk_world, CLIENT)
    post = outgoing.Outgoing.get(outgoing.Outgoing.key == f"t{t.id}:post")
    outgoing.mark_sent(post.id, 4242)
    from engine.testing import Chat
    private = Chat(desk_world.app.engine, DISPATCHER, first_name="Диана")
    private.event(kind="button", data=f"as:{t.id}:{TECH}:{t.version}", message_id=12,
                  chat_type="private")
    edits = [r for r in queued(GROUP) if r.edit_message_id == 4242]
    assert edits and "Мастер: Пётр Петров" in edits[-1].text


def test_choosing_the_current_master_again_changes_nothing_and_says_who_has_it(desk_world):
    t = file_ticket(desk_world, CLIENT)
    group_press(desk_world, DISPATCHER, f"as:{t.id}:{TECH}:{t.version}")
    [again] = group_press(desk_world, DISPATCHER2, f"as:{t.id}:{TECH}:{t.version}")
    assert again.callback_answer == "Назначено: Пётр Петров"
    assert Ticket.get_by_id(t.id).version == t.version + 1
    assert TicketEvent.select().where(TicketEvent.what == "assigned").count() == 1
