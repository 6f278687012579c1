"""Payments end to end: our Telegram transport (engine.telegram) and python-telegram-bot against
the fake Bot API: invoice -> pre-checkout -> successful_payment, a forged payload refused, a
repeated successful_payment recorded once."""
from __future__ import annotations

import dataclasses

import pytest

from helpdesk import payments as pay
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import running_bot
from tests.test_payments import GROUP, build, cfg  # noqa: F401 - the settings fixture

TOKEN = "284685063:TEST:provider"
USER = 6001


@pytest.fixture
def api():
    with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
def engine(database, cfg, tmp_path):  # noqa: F811 - cfg is the imported fixture
    assert cfg.bot.payment.get_secret_value() == TOKEN
    return build(cfg, tmp_path).engine


def _invoice(user):
    user.send("/start")
    user.wait_for(contains="Главное меню")
    user.press("💰 Баланс")
    user.wait_for(contains="Личный баланс")
    user.press("➕ Пополнить")
    user.wait_for(contains="На какую сумму")
    user.press("500 ₽")
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
