"""Ticket states a client understands (issue 14 item 6), as transcripts over the real flows:
"done" is confirmed only for work being done, closed and cancelled tickets leave the active
list for "Closed tickets", the history says who changed what from what to what, and the
author reopens a closed ticket within tickets.reopen_days (a ticket event, pushed to the
CRM); a stranger's forged reopen or close shows nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.session import load_session, save_session
from helpdesk.directory.tables import utcnow
from helpdesk.sync.outbox import OutboxItem
from helpdesk.tickets import CANCELLED, DONE, IN_PROGRESS, NEW, Ticket, TicketEvent, TicketInputError
from tests.support.tickets import GROUP, MINE, TECH, file_ticket, make_world, queued
from tests.support.tickets import world_chat as chat

CLOSE, REOPEN = "✅ Закрыть (работа выполнена)", "↩️ Возобновить (проблема не решена)"
CLOSED_LIST, ACTIVE_LIST = "🗂 Закрытые заявки", "📋 Активные заявки"


@pytest.fixture
def world(database):
    return make_world()


def open_card(c, label: str, *, closed: bool = False) -> None:
    c.click(MINE)
    if closed:
        c.click(CLOSED_LIST)
    c.click(next(b for b in c.buttons if b.startswith(label)))


def pending_pushes(ticket_id: int) -> int:
    return (OutboxItem.select().where((OutboxItem.entity == "ticket") & (OutboxItem.entity_id == ticket_id)
                                      & (OutboxItem.status == "pending")).count())


def test_done_is_offered_only_once_a_technician_works_on_the_ticket(world):
    t = file_ticket(world, 101)
    c = chat(world, 101)
    open_card(c, "#1")
    assert c.buttons == ["✏️ Изменить", "🚫 Отменить заявку", "✉️ Написать по заявке", "📋 К списку"]   # new: nothing done yet
    world.svc.take(TECH, "Петров", t.id)
    c.click("📋 К списку")
    c.click("#1 · Касса · В работе")
    assert CLOSE in c.buttons
    c.click(CLOSE)
    c.click("✅ Да")
    assert c.said("закрыта") and Ticket.get_by_id(t.id).status == DONE
    assert "Активных заявок нет" in c.last_text                  # the closed one left the list


def test_closing_a_new_ticket_is_refused_by_the_service_too(world):
    t = file_ticket(world, 101)
    with pytest.raises(Exception) as e:
        world.svc.close(101, t.id)
    assert type(e.value).__name__ == "TicketConflict"
    assert Ticket.get_by_id(t.id).status == NEW and Ticket.get_by_id(t.id).version == 1


def test_a_ticket_an_administrator_cancelled_leaves_its_authors_active_list(world):
    t = file_ticket(world, 101)
    world.svc.cancel(102, t.id, "Дубль заявки #5")              # the company's administrator
    c = chat(world, 101)
    c.click(MINE)
    assert "Активных заявок нет" in c.last_text and c.buttons == [CLOSED_LIST, "🏠 В меню"]
    c.click(CLOSED_LIST)
    assert "Закрытые заявки" in c.last_text and "за 90 дней: 1" in c.last_text
    assert c.buttons == ["#1 · Касса · Отменена", ACTIVE_LIST, "🏠 В меню"]
    c.click("#1 · Касса · Отменена")
    assert "отменена (Имя102); статус: Новая → Отменена: Дубль заявки #5" in c.last_text
    c.click("📋 К списку")                                       # back to the list it came from
    assert "Закрытые заявки" in c.last_text
    c.click(ACTIVE_LIST)
    assert "Активных заявок нет" in c.last_text


def test_the_closed_list_looks_back_tickets_closed_days(world):
    recent = file_ticket(world, 101, description="Касса не печатает чеки, недавно")
    old = file_ticket(world, 101, description="Сканер не читает коды, давно")
    for t in (recent, old):
        world.svc.cancel(101, t.id, "Сами починили")
    Ticket.update(closed=utcnow() - timedelta(days=91)).where(Ticket.id == old.id).execute()
    Ticket.update(closed=utcnow() - timedelta(days=89)).where(Ticket.id == recent.id).execute()
    assert [x.id for x in world.svc.visible(101, closed=True)[0]] == [recent.id]
    c = chat(world, 101)
    c.click(MINE)
    c.click(CLOSED_LIST)
    assert c.buttons == ["#1 · Касса · Отменена", ACTIVE_LIST, "🏠 В меню"]


def test_the_history_says_what_changed_and_who_did_it(world):
    t = file_ticket(world, 101)
    c = chat(world, 101)
    open_card(c, "#1")
    c.click("✏️ Изменить")
    c.click("Тип")
    c.click("ЕГАИС")
    world.svc.take(TECH, "Петров", t.id)
    world.svc.crm_update(t.id, master_name="Сидоров")
    c.click("📋 К списку")
    c.click("#1 · ЕГАИС · В работе")
    card = c.last_text
    assert "создана (Имя101)" in card
    assert "изменена (Имя101); тип: Касса → ЕГАИС" in card
    assert "взята в работу (Петров); статус: Новая → В работе" in card
    assert "назначен мастер (учётная система); мастер: Петров → Сидоров" in card


def test_the_author_reopens_a_done_ticket_back_to_its_technician(world):
    t = file_ticket(world, 101)
    world.svc.take(TECH, "Петров", t.id)
    world.svc.done(TECH, "Петров", t.id)
    before = pending_pushes(t.id)
    c = chat(world, 101)
    open_card(c, "#1", closed=True)
    assert "Можно возобновить до" in c.last_text and REOPEN in c.buttons and CLOSE not in c.buttons
    c.click(REOPEN)
    assert c.said("Заявка #1 возобновлена: в работе")
    assert "возобновлена (Имя101); статус: Выполнена → В работе" in c.last_text
    t = Ticket.get_by_id(t.id)
    assert (t.status, t.master_name, t.closed) == (IN_PROGRESS, "Петров", None)
    event = TicketEvent.select().where(TicketEvent.what == "reopened").get()
    assert event.details["status"] == {"old": "done", "new": "in_progress"} and event.who == "101"
    assert pending_pushes(t.id) == before + 1                   # the CRM hears of it via the outbox
    assert any(r.text.startswith("Заявка #1: возобновлена (Имя101)") for r in queued(GROUP))
    c.click("📋 К списку")
    assert "#1 · Касса · В работе" in c.buttons


def test_a_cancelled_ticket_nobody_took_reopens_as_new(world):
    t = file_ticket(world, 101)
    world.svc.cancel(101, t.id, "Передумал")
    reopened = world.svc.reopen(101, t.id)
    assert (reopened.status, reopened.closed) == (NEW, None)
    assert any(r.text.startswith("Заявка #1: возобновлена") for r in queued(GROUP))   # work again


def test_reopening_is_refused_after_reopen_days(world):
    t = file_ticket(world, 101)
    world.svc.cancel(101, t.id, "Сами починили")
    Ticket.update(closed=utcnow() - timedelta(days=15)).where(Ticket.id == t.id).execute()
    c = chat(world, 101)
    open_card(c, "#1", closed=True)
    assert REOPEN not in c.buttons and "Можно возобновить" not in c.last_text
    with pytest.raises(TicketInputError) as e:
        world.svc.reopen(101, t.id)
    assert e.value.template == "ticket/reopen_expired"
    assert Ticket.get_by_id(t.id).status == CANCELLED


def test_a_late_reopen_through_a_stale_card_says_why(world):
    t = file_ticket(world, 101)
    world.svc.cancel(101, t.id, "Сами починили")
    c = chat(world, 101)
    open_card(c, "#1", closed=True)
    Ticket.update(closed=utcnow() - timedelta(days=15)).where(Ticket.id == t.id).execute()
    c.click(REOPEN)                                             # the card was opened in time
    assert c.said("только в течение 14 дней после закрытия")
    assert Ticket.get_by_id(t.id).status == CANCELLED


def test_a_director_sees_a_colleagues_closed_ticket_but_cannot_reopen_it(world):
    t = file_ticket(world, 106)
    world.svc.cancel(106, t.id, "Не актуально")
    d = chat(world, 103)
    open_card(d, "#1", closed=True)
    assert "Не актуально" in d.last_text and REOPEN not in d.buttons
    with pytest.raises(Exception) as e:
        world.svc.reopen(103, t.id)
    assert type(e.value).__name__ == "PermissionDenied"


@pytest.mark.parametrize("button,status", [(REOPEN, "cancelled"), (CLOSE, "in_progress")])
def test_a_strangers_forged_reopen_or_close_shows_nothing(world, button, status):
    """The stranger opens their own card with the button, then the slot is forged to
    another company's ticket: the service refuses and not a word of that ticket is shown."""
    own = file_ticket(world, 105, description="Моя касса не печатает чеки совсем")
    foreign = file_ticket(world, 101, description="Секретная заявка Ромашки про кассу")
    world.svc.take(TECH, "Петров", own.id)
    world.svc.take(TECH, "Петров", foreign.id)
    if status == "cancelled":
        world.svc.cancel(105, own.id, "Сами починили")
        world.svc.cancel(101, foreign.id, "Сами починили")
    version = Ticket.get_by_id(foreign.id).version
    c = chat(world, 105)
    open_card(c, "#1", closed=status == "cancelled")
    session = load_session(105, 105)
    session.slots["ticket_id"] = foreign.id                     # as if the id came forged
    save_session(session)
    c.click(button)
    if button == CLOSE:
        c.click("✅ Да")
    assert c.said("Эта заявка вам недоступна")
    assert "Секретная" not in " ".join(r.text for r in c.transcript) and "#2" not in c.last_text
    assert (Ticket.get_by_id(foreign.id).status, Ticket.get_by_id(foreign.id).version) == (status, version)
