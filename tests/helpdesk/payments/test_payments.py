"""Payments and balances through the engine (the transcript driver), on the real flows
flows/balance.yaml and flows/payment.yaml, the real templates and the balance button of the
real flows/menu.yaml."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
import zxingcpp
from PIL import Image
from pydantic import SecretStr

from engine import Event
from engine.outgoing import Outgoing, to_reply
from engine.session import Conversation
from engine.testing import Chat
from helpdesk import directory
from helpdesk import payments as pay
from helpdesk.app import PROJECT_ROOT
from helpdesk.directory.roles import PermissionDenied, Right
from helpdesk.directory.tables import Counterparty
from helpdesk.registry import registry
from helpdesk.sync import outbox
from helpdesk.tickets import Ticket
from integrations.crm import RestCrm
from tests.support.fakes.crm_rest_stub import RestCrmStub
from tests.support.payments import (
    GROUP,
    INN,
    OTHER,
    PAYER,
    SBP_LINK,
    build,
    chat,
    company,
    invoice_of,
    make_ticket,
    member,
    paid,
    pre_checkout,
)


def top_up(c: Chat, amount_label="500,00 ₽", account=None):
    c.send("/start")
    c.click("💰 Баланс")
    c.click("➕ Пополнить")
    if account:
        c.click(account)
    c.click(amount_label)
    return c.click("💳 Картой")


# --- invoices -----------------------------------------------------------------------------

def test_top_up_invoice_has_kopecks_currency_and_a_signed_payload(app):
    c = chat(app)
    inv = invoice_of(top_up(c, "1 000,00 ₽"))
    assert inv["currency"] == "RUB"
    assert inv["prices"] == [{"label": "Пополнение баланса", "amount": 100000}]
    payment_id = pay.verify_payload(inv["payload"], b"test-secret")
    assert payment_id is not None and len(inv["payload"].encode()) <= 128
    row = pay.Payment.get_by_id(payment_id)
    assert (row.kind, row.amount, row.status, row.telegram_user) == ("topup", 100000, "invoiced", PAYER)
    assert "1 000,00 ₽" in inv["description"] and f"№ {payment_id}" in inv["description"]
    assert len(inv["title"]) <= 32 and "provider_token" not in inv
    assert "Оплатить" in c.last_text


def test_custom_amount_is_bounded_by_settings(app):
    c = chat(app)
    c.send("/start")
    c.click("💰 Баланс")
    c.click("➕ Пополнить")
    c.click("✏️ Другая сумма")
    assert "от 100,00 до 50 000,00 ₽" in c.last_text
    c.send("99,99")
    assert c.said("Сумма должна быть от 100,00 до 50 000,00 ₽")
    c.send("150,50")
    inv = invoice_of(c.click("💳 Картой"))
    assert inv["prices"][0]["amount"] == 15050


def test_card_without_provider_token_is_refused_when_chosen(app, caplog):
    app.settings.bot.payment = SecretStr("")
    c = chat(app)
    replies = top_up(c)
    assert not any(r.invoice for r in replies)
    assert c.said("Оплата картой временно недоступна")
    assert "📱 СБП (QR-код)" in c.buttons            # the other method is still offered
    assert pay.Payment.select().count() == 0
    assert "bot.payment" in caplog.text


def test_top_up_refused_when_settings_forbid_it(app):
    app.settings.pay.add_balance = False
    c = chat(app)
    c.send("/start")
    c.click("💰 Баланс")
    assert "➕ Пополнить" not in c.buttons
    app.settings.pay.use = False
    c.send("/start")
    assert "💰 Баланс" not in c.buttons


# --- pre-checkout -------------------------------------------------------------------------

def test_pre_checkout_ok_for_a_genuine_matching_invoice(app):
    c = chat(app)
    inv = invoice_of(top_up(c))
    assert pre_checkout(c, inv) == {"id": "pcq-1", "ok": True, "error": ""}


@pytest.mark.parametrize("changes, text", [
    ({"invoice_payload": "v1.1.AAAAAAAAAAAAAAAAAAAAAA"}, "Счёт недействителен"),
    ({"invoice_payload": "garbage"}, "Счёт недействителен"),
    ({"total_amount": 1}, "Сумма не совпадает"),
    ({"currency": "USD"}, "Валюта не совпадает"),
])
def test_pre_checkout_refused(app, changes, text):
    c = chat(app)
    inv = invoice_of(top_up(c))
    answer = pre_checkout(c, inv, **changes)
    assert answer["ok"] is False and text in answer["error"]


def test_payload_signed_with_another_key_is_forged(app):
    c = chat(app)
    inv = invoice_of(top_up(c))
    payment_id = pay.verify_payload(inv["payload"], b"test-secret")
    forged = pay.sign_payload(payment_id, b"attacker")
    assert pre_checkout(c, inv, invoice_payload=forged)["ok"] is False


def test_empty_payload_secret_uses_a_stored_per_install_secret(app):
    app.settings.pay.payload_secret = SecretStr("")
    first = pay.payload_secret(app.settings)
    assert len(first) == 64 and pay.payload_secret(app.settings) == first
    c = chat(app)
    inv = invoice_of(top_up(c))
    assert pay.verify_payload(inv["payload"], first) is not None
    assert pre_checkout(c, inv)["ok"] is True


# --- successful payment -------------------------------------------------------------------

def test_duplicate_successful_payment_is_recorded_once(app):
    c = chat(app)
    inv = invoice_of(top_up(c))
    first = paid(c, inv)
    assert any("Оплата получена" in r.text for r in first)
    assert paid(c, inv) == []                       # the same update again: nothing
    assert pay.balance_of(PAYER) == 50000
    rows = list(pay.Payment.select())
    assert len(rows) == 1 and rows[0].status == "paid"
    assert rows[0].telegram_payment_charge_id == "tg-charge-1"
    assert rows[0].provider_payment_charge_id == "prov-tg-charge-1"
    items = list(outbox.OutboxItem.select().where(outbox.OutboxItem.entity == "payment"))
    assert [(i.entity_id) for i in items] == [rows[0].id]
    assert Outgoing.select().where(Outgoing.chat_id == GROUP).count() == 1
    assert pre_checkout(c, inv)["error"].startswith("Этот счёт уже оплачен")


def test_second_charge_for_a_paid_invoice_is_kept_and_credited(app):
    c = chat(app)
    inv = invoice_of(top_up(c))
    paid(c, inv, charge="one")
    paid(c, inv, charge="two")
    assert pay.balance_of(PAYER) == 100000
    assert pay.Payment.select().where(pay.Payment.status == "paid").count() == 2


def test_payment_with_a_forged_payload_touches_no_balance(app):
    c = chat(app)
    inv = invoice_of(top_up(c))
    replies = paid(c, inv, invoice_payload="v1.1.forgedforgedforgedfo")
    assert any("не смогли сопоставить" in r.text for r in replies)
    assert pay.balance_of(PAYER) == 0
    assert pay.Payment.get(pay.Payment.telegram_payment_charge_id == "tg-charge-1").status == "unmatched"


def test_company_top_up_credits_the_company_and_tells_its_admins(app):
    cp = company(balance=1000)
    member(PAYER, cp, "DIRECTOR")
    member(OTHER, cp, "ADMINISTRATOR")
    c = chat(app)
    inv = invoice_of(top_up(c, account="ООО Ромашка"))
    assert "ИНН 7707083893" in inv["description"]
    paid(c, inv)
    assert Counterparty.get_by_id(cp.id).balance == 1000 + 50000
    assert pay.balance_of(PAYER) == 0
    assert Outgoing.select().where(Outgoing.chat_id == OTHER).count() == 1
    assert Outgoing.select().where(Outgoing.chat_id == PAYER).count() == 0


# --- balance visibility -------------------------------------------------------------------

@pytest.mark.parametrize("role, status, sees_company", [
    (None, None, False),                       # UNAUTHORIZED: no membership
    ("USER", "confirmed", False),
    ("ADMINISTRATOR", "confirmed", True),
    ("DIRECTOR", "confirmed", True),
    ("ADMINISTRATOR", "pending", False),       # pending members learn nothing of the company
    ("DIRECTOR", "pending", False),
])
def test_balance_visibility_follows_roles(app, role, status, sees_company):
    cp = company(balance=123456)
    if role:
        member(PAYER, cp, role, status)
    c = chat(app)
    c.send("/start")
    c.click("💰 Баланс")
    assert "Личный баланс: <b>0,00 ₽</b>" in c.last_text
    assert ("ООО Ромашка" in c.last_text) is sees_company
    assert ("1 234,56" in c.last_text) is sees_company
    keys = [a.key for a in pay.accounts_of(PAYER)]
    assert keys == (["own", f"c{cp.id}"] if sees_company else ["own"])
    if not sees_company:
        with pytest.raises(PermissionDenied):
            pay.account_for(PAYER, f"c{cp.id}", Right.TOP_UP_OWN_BALANCE)


def test_forged_company_account_slot_gets_no_invoice(app):
    cp = company()
    member(PAYER, cp, "USER")
    c = chat(app)
    c.send("/start")
    c.click("💰 Баланс")
    c.click("➕ Пополнить")
    c.click("500,00 ₽")
    row = Conversation.get(Conversation.user_id == PAYER)
    slots = json.loads(row.slots)
    slots["account"] = f"c{cp.id}"                 # as if the slot were tampered with
    Conversation.update(slots=json.dumps(slots)).where(Conversation.id == row.id).execute()
    replies = c.click("💳 Картой")
    assert not any(r.invoice for r in replies)
    assert pay.Payment.select().count() == 0


def test_account_rights_match_the_role_table(app):
    cp = company()
    member(PAYER, cp, "USER")
    member(OTHER, cp, "ADMINISTRATOR")
    for right in (Right.VIEW_OWN_BALANCE, Right.TOP_UP_OWN_BALANCE):
        assert pay.account_for(PAYER, "own", right).kind == "own"
        assert pay.account_for(OTHER, f"c{cp.id}", right).counterparty_id == cp.id
        with pytest.raises(PermissionDenied):
            pay.account_for(PAYER, f"c{cp.id}", right)
    with pytest.raises(pay.PaymentError):
        pay.account_for(PAYER, "c1; drop table", Right.VIEW_OWN_BALANCE)


def test_pre_checkout_refused_when_payments_are_switched_off(app):
    c = chat(app)
    inv = invoice_of(top_up(c))
    app.settings.pay.use = False
    answer = pre_checkout(c, inv)
    assert answer["ok"] is False and "отключена" in answer["error"]


@pytest.mark.parametrize("lang, start", [("ru", "Извините"), ("en", "Sorry")])
def test_a_pre_checkout_whose_check_failed_is_refused_with_the_apology(app, lang, start):
    """What the transport sends when `pre_checkout` raised (registered as the event's
    fallback): a refusal carrying the apology as Telegram's plain error text."""
    templates = app.engine.flowset.templates
    event = Event(PAYER, PAYER, kind="pre_checkout", language=lang,
                  payment={"id": "pcq-9", "currency": "RUB", "total_amount": 50000,
                           "invoice_payload": "whatever"})
    [reply] = registry.fallbacks["pre_checkout"](event, templates)
    apology = templates.render("common/error", lang, {})
    assert reply.chat_id == PAYER and reply.pre_checkout == {
        "id": "pcq-9", "ok": False, "error": apology[:255]}
    assert reply.pre_checkout["error"].startswith(start) and "<" not in reply.pre_checkout["error"]


def test_lower_case_currency_setting_still_matches(app):
    app.settings.pay.currency = "rub"
    c = chat(app)
    inv = invoice_of(top_up(c))
    assert inv["currency"] == "RUB" and pre_checkout(c, inv)["ok"] is True


def test_an_absurdly_long_amount_is_refused_not_crashed(app):
    c = chat(app)
    c.send("/start")
    c.click("💰 Баланс")
    c.click("➕ Пополнить")
    c.click("✏️ Другая сумма")
    c.send("9" * 400)
    assert c.said("Сумма должна быть от 100,00 до 50 000,00 ₽")


def test_balance_hidden_when_not_visible(app):
    company(balance=5000)
    app.settings.pay.balance_visible = False
    c = chat(app)
    c.send("/start")
    c.click("💰 Баланс")
    assert "Личный баланс" in c.last_text and "0,00" not in c.last_text


def test_company_balance_is_refreshed_from_the_crm_and_falls_back_when_down(database, cfg, tmp_path):
    with RestCrmStub(token="t") as stub:
        remote = stub.add_counterparty("ООО Ромашка", INN, balance=777700)
        cp = company(balance=100, crm_id=remote["id"])
        member(PAYER, cp, "DIRECTOR")
        app = build(cfg, tmp_path, crm=RestCrm(stub.url, "t", timeout=2, retries=0))
        c = chat(app)
        c.send("/start")
        c.click("💰 Баланс")
        assert "7 777,00" in c.last_text and "недоступна" not in c.last_text
        assert Counterparty.get_by_id(cp.id).balance == 777700
        stub.down()
        c.click("⬅️ Назад")
        c.click("💰 Баланс")
        assert "7 777,00" in c.last_text and "Учётная система сейчас недоступна" in c.last_text


# --- SBP ----------------------------------------------------------------------------------

def test_sbp_shows_the_link_as_a_button_and_a_decodable_qr_code(app):
    c = chat(app)
    c.send("/start")
    c.click("💰 Баланс")
    c.click("➕ Пополнить")
    c.click("500,00 ₽")
    replies = c.click("📱 СБП (QR-код)")
    [photo] = [r for r in replies if r.photo is not None]
    assert photo.photo[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(photo.photo)))
    assert [d.text for d in decoded] == [SBP_LINK]
    assert [b.url for row in photo.buttons for b in row] == [SBP_LINK]
    assert "500,00 ₽" in photo.text


def test_sbp_not_offered_without_a_link(app):
    app.settings.pay.sbp_static_link = ""
    c = chat(app)
    c.send("/start")
    c.click("💰 Баланс")
    c.click("➕ Пополнить")
    c.click("500,00 ₽")
    assert "📱 СБП (QR-код)" not in c.buttons and "💳 Картой" in c.buttons


# --- tickets that need payment ------------------------------------------------------------


def pay_button(user_id):
    row = Outgoing.select().where(Outgoing.chat_id == user_id).order_by(Outgoing.id.desc()).first()
    reply = to_reply(row)
    return reply, reply.buttons[0][0]


def test_ticket_payment_request_notifies_and_pays_once(app):
    ticket = make_ticket()
    request = pay.require_payment(app, ticket.id, 250000, by="crm")
    assert pay.require_payment(app, ticket.id, 250000, by="crm").id == request.id   # CRM re-sync
    reply, button = pay_button(PAYER)
    assert "#1" in reply.text and "2 500,00 ₽" in reply.text
    assert button.data == f"pay:{request.id}"
    assert Outgoing.select().where(Outgoing.chat_id == PAYER).count() == 1
    c = chat(app)
    c.press_data(button.data)
    assert "Оплата заявки #1" in c.last_text
    inv = invoice_of(c.click("💳 Картой"))
    assert inv["prices"][0]["amount"] == 250000 and "#1" in inv["title"]
    assert pre_checkout(c, inv)["ok"] is True
    paid(c, inv)
    assert pay.PaymentRequest.get_by_id(request.id).status == "paid"
    assert pay.balance_of(PAYER) == 0                # a ticket payment settles, not credits
    # a second invoice for the same (now paid) ticket is refused at pre-checkout
    c.press_data(button.data)
    assert c.said("уже оплачена")


def test_already_paid_ticket_is_refused_at_pre_checkout(app):
    ticket = make_ticket()
    request = pay.require_payment(app, ticket.id, 100000, by=777)
    c = chat(app)
    c.press_data(f"pay:{request.id}")
    inv = invoice_of(c.click("💳 Картой"))
    pay.settle_request(app, request.id, by="crm")        # paid in the office meanwhile
    answer = pre_checkout(c, inv)
    assert answer["ok"] is False and "уже оплачен" in answer["error"]


def test_changed_request_amount_refuses_the_old_invoice(app):
    ticket = make_ticket()
    request = pay.require_payment(app, ticket.id, 100000, by="crm")
    c = chat(app)
    c.press_data(f"pay:{request.id}")
    inv = invoice_of(c.click("💳 Картой"))
    pay.require_payment(app, ticket.id, 120000, by="crm")
    assert pre_checkout(c, inv)["ok"] is False
    assert Outgoing.select().where(Outgoing.chat_id == PAYER).count() == 2     # notified again


def test_a_stranger_cannot_pay_someone_elses_ticket(app):
    ticket = make_ticket()
    request = pay.require_payment(app, ticket.id, 100000, by="crm")
    c = chat(app, user_id=OTHER)
    [answer] = c.press_data(f"pay:{request.id}")
    assert answer.answer_only and "Ромашка" not in answer.callback_answer    # nothing shown
    with pytest.raises(PermissionDenied):
        pay.create_invoice_payment(OTHER, amount=1, currency="RUB", secret=b"k", request_id=request.id)


def test_only_crm_or_technicians_may_require_payment(app):
    ticket = make_ticket()
    with pytest.raises(pay.PaymentError, match="desk's staff"):
        pay.require_payment(app, ticket.id, 100000, by=PAYER)
    with pytest.raises(pay.PaymentError, match="positive"):
        pay.require_payment(app, ticket.id, -5, by="crm")
    with pytest.raises(directory.NotFound):
        pay.require_payment(app, 999999, 100, by="crm")


# --- settings -----------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["bank", "sbp", "crypto"])
def test_unimplemented_pay_options_stop_the_program(tmp_path, option):
    source = open(os.path.join(PROJECT_ROOT, "settings.yaml"), encoding="utf-8").read()
    line = next(l for l in source.splitlines() if l.strip().startswith(f"{option}:") and "NOT implemented" in l)
    bad = tmp_path / "settings.yaml"
    bad.write_text(source.replace(line, line.replace("false", "true", 1)), encoding="utf-8")
    run = subprocess.run([sys.executable, "run.py", "--settings", str(bad), "flows", "check"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "SETTINGS_FILE": ""})
    assert run.returncode != 0
    assert f"pay.{option} is not implemented" in run.stderr
    assert "settings.yaml:" in run.stderr        # points at the file and line


# --- a closed ticket owes nothing (issue 17, item 4) ------------------------------------------

def _close_by(app, path: str, ticket: Ticket) -> None:
    from helpdesk.api import apply, schemas
    from helpdesk.tickets import TicketService
    service = TicketService(app.settings)
    if path == "client cancels":
        service.cancel(PAYER, ticket.id, "не нужно")
    elif path == "client closes":                    # the work a technician took is confirmed
        service.take(777, "Мастер", ticket.id)
        service.close(PAYER, ticket.id)
    elif path == "administrator cancels":
        service.cancel(OTHER, ticket.id, "закрываем")
    elif path == "technician done":
        service.done(777, "Мастер", ticket.id)
    elif path == "crm cancels":
        apply.patch_ticket(app, ticket, schemas.TicketPatch(status="cancelled"))
    else:
        apply.patch_ticket(app, ticket, schemas.TicketPatch(status="done"))


@pytest.mark.parametrize("path", ["client cancels", "client closes", "administrator cancels",
                                  "technician done", "crm cancels", "crm done"])
def test_every_way_of_closing_a_ticket_cancels_its_open_request(app, path):
    from helpdesk.api import apply, schemas
    cp = company()
    member(OTHER, cp, "ADMINISTRATOR")
    ticket = make_ticket(cp=cp)
    request = pay.require_payment(app, ticket.id, 100000, by="crm")
    _close_by(app, path, ticket)
    assert pay.PaymentRequest.get_by_id(request.id).status == pay.CANCELLED
    notified = Outgoing.select().where(Outgoing.chat_id == PAYER).count()
    # the CRM re-sends the closed ticket with the same amount: nothing opens, nobody is told
    apply.patch_ticket(app, Ticket.get_by_id(ticket.id),
                       schemas.TicketPatch(payment_required={"amount_kopecks": 100000}))
    assert pay.open_request_for(ticket.id) is None
    assert Outgoing.select().where(Outgoing.chat_id == PAYER).count() == notified
    c = chat(app)
    c.press_data(f"pay:{request.id}")
    assert c.said("оплата больше не нужна")


def test_a_bill_sent_after_the_work_is_done_stays_payable(app):
    ticket = make_ticket()
    from helpdesk.tickets import TicketService
    TicketService(app.settings).done(777, "Мастер", ticket.id)
    request = pay.require_payment(app, ticket.id, 150000, by="crm")      # billed afterwards
    TicketService(app.settings).comment(777, "Мастер", ticket.id, "счёт выставлен")
    assert pay.PaymentRequest.get_by_id(request.id).status == pay.OPEN
    c = chat(app)
    c.press_data(f"pay:{request.id}")
    inv = invoice_of(c.click("💳 Картой"))
    assert pre_checkout(c, inv)["ok"] is True


def test_a_pending_member_may_not_top_up_the_company(app):
    cp = company()
    member(OTHER, cp, "DIRECTOR", status="pending")
    assert pay.may_pay_for(OTHER, cp.id) is False
    member(PAYER, cp, "USER")
    assert pay.may_pay_for(PAYER, cp.id) is False
    member(PAYER, cp, "ADMINISTRATOR")
    assert pay.may_pay_for(PAYER, cp.id) is True


def test_a_typed_amount_has_at_most_two_fraction_digits_and_is_exact(app):
    c = chat(app)
    c.send("/start")
    c.click("💰 Баланс")
    c.click("➕ Пополнить")
    c.click("✏️ Другая сумма")
    c.send("150,555")                        # a third fraction digit is no kopeck amount
    assert c.said("Сумма должна быть от 100,00 до 50 000,00 ₽")
    c.send("1000.1")                         # 1000 roubles 10 kopecks, not a float's 100009.99
    inv = invoice_of(c.click("💳 Картой"))
    assert inv["prices"][0]["amount"] == 100010
