"""Outside attack on the rating (issue 16, point 5: "1-5 buttons, one tap"). The request
stays in the client's chat with its buttons (a day later the reminder comes with them
too). A client who is filing a new ticket meanwhile, the long description typed, taps a
score on the old request: the tap starts flow ticket_rate over whatever the client was
doing (ActionContext.start_flow "leaves" it), and after "Без комментария" the new
ticket's draft is gone. One tap on a star must not cost the client the ticket being
written."""
from __future__ import annotations

import pytest

from engine.session import load_session
from helpdesk.desk.tables import Rating
from helpdesk.tickets import Ticket
from tests.support.refusals import USER, refusal_world
from tests.support.tickets import TECH
from tests.support.tickets import world_chat as chat

DRAFT = "Сканер штрихкодов на второй кассе перестал читать марки"


@pytest.fixture
def world(database, monkeypatch):
    w = refusal_world(monkeypatch)
    w.svc.take(TECH, "Иван Петров", w.ticket.id)
    w.ticket = w.svc.done(TECH, "Иван Петров", w.ticket.id)
    return w


def test_a_star_tapped_while_filing_a_new_ticket_keeps_the_draft(world):
    c = chat(world, USER)
    c.click("📝 Создать заявку")
    c.click("Тверская")
    c.click("Касса")
    c.send(DRAFT)
    assert load_session(USER, USER).slots.get("description") == DRAFT
    flow = load_session(USER, USER).flow
    replies = c.event(kind="button", data=f"rt:{world.ticket.id}:5", message_id=1)
    session = load_session(USER, USER)
    assert session.slots.get("description") == DRAFT, \
        f"the draft of the new ticket is gone (now in {session.flow!r}, slots {sorted(session.slots)})"
    assert session.flow == flow                               # the dialog goes on where it was
    assert Rating.get(Rating.ticket_id == world.ticket.id).score == 5     # the tap counted
    assert [r.callback_answer for r in replies] == ["Спасибо за оценку!"]
    c.click("✅ Готово")                                      # and the new ticket is filed
    c.click("📨 Отправить")
    assert Ticket.select().where(Ticket.description == DRAFT).count() == 1
