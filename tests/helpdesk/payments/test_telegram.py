"""Payments end to end: our Telegram transport (engine.telegram) and python-telegram-bot against
the fake Bot API: invoice -> pre-checkout -> successful_payment, a forged payload refused, a
repeated successful_payment recorded once."""
from __future__ import annotations

import dataclasses

import pytest

from helpdesk import payments as pay
from tests.support.fakes.telegram_api import FakeTelegramAPI
from tests.support.payments import GROUP, build
from tests.support.telegram_harness import running_bot

TOKEN = "284685063:TEST:provider"
USER = 6001


@pytest.fixture
def api():
    with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
def built(database, cfg, tmp_path):
    assert cfg.bot.payment.get_secret_value() == TOKEN
    return build(cfg, tmp_path)


@pytest.fixture
def engine(built):
    return built.engine


def _invoice(user):
    user.send("/start")
    user.wait_for(contains="Главное меню")
    user.press("💰 Баланс")
    user.wait_for(contains="Личный баланс")
    user.press("➕ Пополнить")
    user.wait_for(contains="На какую сумму")
    user.press("500,00 ₽")
    user.wait_for(contains="Выберите способ оплаты")
    user.press("💳 Картой")
    return user.wait_for(lambda m: m.method == "sendInvoice")


def test_invoice_pre_checkout_and_payment_through_telegram(api, engine):
    with running_bot(engine, api, provider_token=TOKEN):
        user = api.user(USER, "Иван")
        invoice = _invoice(user).invoice
        assert invoice["total_amount"] == 50000 and invoice["currency"] == "RUB"
        assert invoice["provider_token"] == TOKEN
        payment_id = pay.verify_payload(invoice["payload"], b"test-secret")
        assert payment_id is not None
        answer = user.pay()
        assert answer["ok"] is True
        user.wait_for(contains="Оплата получена")
        group = api.wait_for(GROUP, contains="Оплата 500,00 ₽")      # the notify queue, drained
        assert f"Платёж № {payment_id}" in group.plain_text
    row = pay.Payment.get_by_id(payment_id)
    assert row.status == "paid" and row.telegram_payment_charge_id.startswith("tg_charge_")
    assert pay.balance_of(USER) == 50000


def test_forged_payload_is_refused_through_telegram(api, engine):
    with running_bot(engine, api, provider_token=TOKEN):
        user = api.user(USER, "Иван")
        sent = _invoice(user)
        forged = dataclasses.replace(sent, invoice={**sent.invoice, "payload": "v1.1.AAAAAAAAAAAAAAAAAAAAAA"})
        answer = user.pay(forged)
        assert answer["ok"] is False and "недействителен" in answer["error_message"]
        cheaper = dataclasses.replace(sent, invoice={**sent.invoice, "total_amount": 100})
        assert user.pay(cheaper)["ok"] is False
    assert pay.balance_of(USER) == 0
    assert pay.Payment.select().where(pay.Payment.status == "paid").count() == 0


def test_repeated_successful_payment_is_recorded_once_through_telegram(api, engine):
    with running_bot(engine, api, provider_token=TOKEN):
        user = api.user(USER, "Иван")
        invoice = _invoice(user).invoice
        assert user.pay()["ok"] is True
        thanks = user.wait_for(contains="Оплата получена")
        charge = pay.Payment.get(pay.Payment.status == "paid").telegram_payment_charge_id
        again = {"currency": "RUB", "total_amount": 50000, "invoice_payload": invoice["payload"],
                 "telegram_payment_charge_id": charge, "provider_payment_charge_id": "p"}
        user._message(successful_payment=again)     # a second update with the same charge
        user.send("/start")                         # processed after it (one chat, in order)
        user.wait_for(lambda m: m.message_id > thanks.message_id and "Главное меню" in (m.text or ""))
    assert pay.balance_of(USER) == 50000
    assert pay.Payment.select().count() == 1
    assert sum("Оплата получена" in (m.text or "") for m in user.messages()) == 1


# --- payments follow the ticket and the payer (issue 17, item 4) ------------------------------

STRANGER, ADMIN = 6002, 6003


@pytest.fixture
def app(built):
    return built


def _ticket_with_request(app, amount=250000, author=USER, cp=None):
    from tests.support.payments import make_ticket
    ticket = make_ticket(author=author, cp=cp)
    return ticket, pay.require_payment(app, ticket.id, amount, by="crm")


def _ticket_invoice(user):
    """Press the "Оплатить" button of the notification, choose card: the invoice."""
    notice = user.wait_for(contains="ожидает оплаты", timeout=30)
    user.press_data(notice.buttons[0]["callback_data"], notice.message_id)
    user.wait_for(contains="Выберите способ оплаты", timeout=30)
    user.press("💳 Картой")
    return notice, user.wait_for(lambda m: m.method == "sendInvoice", timeout=30)


def _service(app):
    from helpdesk.tickets import TicketService
    return TicketService(app.settings)


def test_cancelled_ticket_old_pay_button_says_nothing_is_due(api, app):
    with running_bot(app.engine, api, provider_token=TOKEN):
        user = api.user(USER, "Иван")
        ticket, request = _ticket_with_request(app)
        notice = user.wait_for(contains="ожидает оплаты", timeout=30)
        _service(app).cancel(USER, ticket.id, "передумал")           # the client cancels it
        assert pay.PaymentRequest.get_by_id(request.id).status == pay.CANCELLED
        user.press_data(f"pay:{request.id}", notice.message_id)      # the old Pay button
        user.wait_for(contains="оплата больше не нужна", timeout=30)
    assert not any(m.invoice for m in user.messages())
    assert pay.Payment.select().count() == 0


def test_invoice_of_a_ticket_closed_meanwhile_is_refused_at_pre_checkout(api, app):
    with running_bot(app.engine, api, provider_token=TOKEN):
        user = api.user(USER, "Иван")
        ticket, request = _ticket_with_request(app)
        _, invoice = _ticket_invoice(user)
        _service(app).done(777, "Мастер", ticket.id)                  # a technician closes it
        answer = user.pay(invoice, timeout=30)
        assert answer["ok"] is False and "больше не нужна" in answer["error_message"]
    assert pay.PaymentRequest.get_by_id(request.id).status == pay.CANCELLED
    assert pay.Payment.select().where(pay.Payment.status == pay.PAID).count() == 0


def test_a_stranger_paying_a_forwarded_invoice_is_refused(api, app):
    with running_bot(app.engine, api, provider_token=TOKEN):
        user = api.user(USER, "Иван")
        _ticket_with_request(app)
        _, invoice = _ticket_invoice(user)
        stranger = api.user(STRANGER, "Чужой")
        answer = stranger.pay(invoice, timeout=30)                   # e.g. a forwarded invoice
        assert answer["ok"] is False and "выставлен другому" in answer["error_message"]
    assert pay.Payment.select().where(pay.Payment.status == pay.PAID).count() == 0


def test_a_confirmed_administrator_may_pay_a_colleagues_company_invoice(api, app):
    from tests.support.payments import company, member
    cp = company()
    member(USER, cp, "USER")
    member(ADMIN, cp, "ADMINISTRATOR")
    member(STRANGER, cp, "ADMINISTRATOR", status="pending")          # not confirmed: no right
    with running_bot(app.engine, api, provider_token=TOKEN):
        user = api.user(USER, "Иван")
        _, request = _ticket_with_request(app, cp=cp)
        _, invoice = _ticket_invoice(user)
        assert api.user(STRANGER, "Ожидает").pay(invoice, timeout=30)["ok"] is False
        assert api.user(ADMIN, "Бухгалтер").pay(invoice, timeout=30)["ok"] is True
        api.wait_for(GROUP, contains="Оплата 2 500,00 ₽", timeout=30)
    assert pay.PaymentRequest.get_by_id(request.id).status == pay.PAID


def test_money_for_a_request_cancelled_after_pre_checkout_is_credited_once_and_reported(api, app):
    with running_bot(app.engine, api, provider_token=TOKEN):
        user = api.user(USER, "Иван")
        ticket, request = _ticket_with_request(app)
        _, invoice = _ticket_invoice(user)
        _service(app).cancel(USER, ticket.id, "уже не нужно")         # after Telegram's checkout
        paid = {"currency": "RUB", "total_amount": 250000, "invoice_payload": invoice.invoice["payload"],
                "telegram_payment_charge_id": "tg_charge_late", "provider_payment_charge_id": "p"}
        user._message(successful_payment=paid)
        user.wait_for(contains="сумма зачислена на баланс", timeout=30)
        group = api.wait_for(GROUP, contains="Заявка уже закрыта или отменена", timeout=30)
        assert "2 500,00 ₽" in group.plain_text
        user._message(successful_payment=paid)                        # Telegram repeats the update
        user.send("/start")
        user.wait_for(contains="Главное меню", timeout=30)
    assert pay.PaymentRequest.get_by_id(request.id).status == pay.CANCELLED
    [payment] = pay.Payment.select()
    assert payment.status == pay.PAID and payment.note == pay.LATE_NOTE
    assert pay.balance_of(USER) == 250000
