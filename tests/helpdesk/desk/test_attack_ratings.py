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
from tests.support.refusals import USER, done_world
from tests.support.tickets import world_chat as chat

DRAFT = "Сканер штрихкодов на второй кассе перестал читать марки"


@pytest.fixture
def world(database, monkeypatch):
    return done_world(monkeypatch)


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


def test_a_comment_written_as_a_reply_to_the_rating_request_is_the_comment(world):
    """After the tap the bot asks for a comment; the client answers with Telegram's
    "reply" on the rating request itself (the message the score was given on). A reply to
    a message about a ticket is a message on that ticket (helpdesk/desk/talk.on_private),
    the ticket is done, so the comment is taken for a message on a closed ticket: the
    client is offered to reopen it, and the comment is never saved."""
    from engine import outgoing
    from engine.testing import Chat
    t = world.ticket
    [request] = [r for r in outgoing.Outgoing.select() if r.key == f"t{t.id}:v{t.version}:rate"]
    outgoing.mark_sent(request.id, 501)
    c = Chat(world.app.engine, USER)
    c.event(kind="button", data=f"rt:{t.id}:2", message_id=501)
    assert load_session(USER, USER).flow == "ticket_rate"             # the comment is asked
    c.event(kind="text", text="Мастер опоздал на два часа", message_id=77, reply_to_message_id=501)
    assert Rating.get_by_id(t.id).comment == "Мастер опоздал на два часа", \
        f"not saved; the client was shown: {' | '.join(r.text[:60] for r in c.turn)}"
