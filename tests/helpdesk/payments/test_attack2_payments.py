"""Attack on issue 17 item 4 (payments follow the ticket and the payer): reproductions of
holes found by an outside review. Each test fails on the code under review."""
from __future__ import annotations

from helpdesk import payments as pay
from helpdesk.tickets import TicketService
from tests.support.payments import chat, invoice_of, make_ticket, paid, pre_checkout

PAYER = 5001


def test_card_pressed_after_the_ticket_was_cancelled_sends_no_invoice(app):
    """The Pay flow was started while the request was open; the client cancels the ticket
    (which cancels the request); pressing "Картой" in the still-open dialog must not issue
    an invoice for a request that is not open."""
    ticket = make_ticket()
    request = pay.require_payment(app, ticket.id, 100000, by="crm")
    c = chat(app)
    c.press_data(f"pay:{request.id}")
    assert "Оплата заявки #1" in c.last_text
    TicketService(app.settings).cancel(PAYER, ticket.id, "передумал")
    assert pay.PaymentRequest.get_by_id(request.id).status == pay.CANCELLED
    replies = c.click("💳 Картой")
    assert not any(r.invoice for r in replies), "an invoice was sent for a cancelled request"
    assert pay.Payment.select().count() == 0


def test_a_request_raised_after_pre_checkout_is_not_settled_by_the_old_amount(app):
    """Invoice for 1 000 ₽, pre-checkout ok, then the CRM raises the bill to 1 200 ₽ (the open
    request is updated in place) before Telegram's successful_payment arrives: the 1 000 ₽
    must not mark the 1 200 ₽ request paid."""
    ticket = make_ticket()
    request = pay.require_payment(app, ticket.id, 100000, by="crm")
    c = chat(app)
    c.press_data(f"pay:{request.id}")
    inv = invoice_of(c.click("💳 Картой"))
    assert pre_checkout(c, inv)["ok"] is True
    pay.require_payment(app, ticket.id, 120000, by="crm")            # the bill is raised
    paid(c, inv)                                                     # 1 000 ₽ arrive
    after = pay.PaymentRequest.get_by_id(request.id)
    assert (after.amount, after.status) == (120000, pay.OPEN), \
        f"request of {after.amount} kopecks marked {after.status} by a payment of 100000"


def test_the_card_button_of_a_cancelled_request_says_nothing_is_due(app):
    ticket = make_ticket()
    request = pay.require_payment(app, ticket.id, 100000, by="crm")
    c = chat(app)
    c.press_data(f"pay:{request.id}")
    TicketService(app.settings).cancel(PAYER, ticket.id, "передумал")
    c.click("💳 Картой")
    assert any("оплата больше не нужна" in r.text for r in c.transcript[-3:])
