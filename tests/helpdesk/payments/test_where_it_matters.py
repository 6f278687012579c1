"""Money where it matters (issue 14 item 5), as transcripts over the real flows: a debt
and an unpaid ticket offer Pay when a payment method can take money, with the default
pay.add_balance (off) too, and promise nothing when none can; the SBP link is a button in
the terminal chat as in Telegram; one money format on buttons and texts per language."""
from __future__ import annotations

import pytest
from pydantic import SecretStr

from engine import outgoing
from engine.console import Console
from engine.session import load_session, save_session
from engine.templates import plain_text
from engine.testing import Chat
from helpdesk import directory
from helpdesk import payments as pay
from helpdesk.directory.tables import Counterparty
from helpdesk.payments import UserBalance
from tests.support.tickets import MINE, file_ticket, make_settings, make_world

SBP_LINK = "https://qr.nspk.ru/AS1000670LSS7DN18SJQDNP4B05KLJL2?type=01&bank=100000000001&cur=RUB"
BALANCE = "💰 Баланс"


def pay_settings(*, token: bool = True, sbp: bool = False, use: bool = True):
    """The shipped pay.* defaults (add_balance off), with what makes a method work."""
    s = make_settings()
    s.pay.use = use
    s.pay.payload_secret = SecretStr("test-secret")
    if token:
        s.bot.payment = SecretStr("284685063:TEST:provider")
    if sbp:
        s.pay.sbp_static_link = SBP_LINK
    assert s.pay.add_balance is False                 # the default: no voluntary top-ups
    return s


def owes(user_id: int, kopecks: int) -> None:
    UserBalance.insert(telegram_user=user_id, balance=-kopecks).execute()


def chat(world, uid: int, lang: str = "ru") -> Chat:
    c = Chat(world.app.engine, uid, language=lang)
    c.send("/start")
    return c


def shown(c: Chat) -> str:
    """The latest message as a person reads it (Telegram's HTML rendered away)."""
    return plain_text(c.last_text)


def invoice_in(c: Chat) -> dict:
    found = [r.invoice for r in c.turn if r.invoice]
    assert found, f"no invoice in {[r.text for r in c.turn]}"
    return found[-1]


def test_a_personal_debt_is_paid_by_card_with_the_default_settings(database):
    w = make_world(pay_settings())
    owes(101, 150000)
    c = chat(w, 101)
    c.click(BALANCE)
    assert "Личный баланс: -1 500,00 ₽" in shown(c) and "долг" in c.last_text
    assert c.buttons == ["💳 Оплатить долг 1 500,00 ₽", "⬅️ Назад"]      # no top-up: add_balance is off
    c.click("💳 Оплатить долг 1 500,00 ₽")
    assert "Оплата долга на 1 500,00 ₽" in shown(c) and c.buttons == ["💳 Картой", "❌ Отмена"]
    c.click("💳 Картой")
    invoice = invoice_in(c)
    assert invoice["prices"][0]["amount"] == 150000 and invoice["currency"] == "RUB"
    payment = pay.Payment.get()
    assert (payment.kind, payment.amount, payment.counterparty_id) == ("topup", 150000, None)


def test_a_companys_debt_is_offered_to_who_may_pay_for_it(database):
    w = make_world(pay_settings(sbp=True))
    Counterparty.update(balance=-50000).where(Counterparty.id == w.a).execute()
    owes(103, 10000)
    d = chat(w, 103)                                  # the director of ООО Ромашка
    d.click(BALANCE)
    assert d.buttons == ["💳 Оплатить долг 100,00 ₽ — личный",
                         "💳 Оплатить долг 500,00 ₽ — ООО Ромашка", "⬅️ Назад"]
    d.click("💳 Оплатить долг 500,00 ₽ — ООО Ромашка")
    d.click("📱 СБП (QR-код)")
    qr = next(r for r in d.turn if r.photo is not None)
    assert "на 500,00 ₽" in plain_text(qr.text) and [b.url for row in qr.buttons for b in row] == [SBP_LINK]
    u = chat(w, 101)                                  # a USER of the company sees no company balance
    u.click(BALANCE)
    assert u.buttons == ["⬅️ Назад"] and "ООО Ромашка" not in u.last_text


def test_no_pay_is_promised_when_no_method_can_take_money(database):
    w = make_world(pay_settings(token=False))         # the shipped settings: no token, no SBP link
    owes(101, 150000)
    c = chat(w, 101)
    c.click(BALANCE)
    assert "-1 500,00 ₽" in c.last_text
    assert c.buttons == ["⬅️ Назад"] and "оплатить" not in c.last_text.lower()


def test_with_payments_off_the_menu_says_nothing_of_money(database):
    w = make_world(pay_settings(use=False))
    owes(101, 150000)
    c = chat(w, 101)
    assert BALANCE not in c.buttons and "баланс" not in c.last_text.lower()


def test_a_forged_debt_account_gets_no_invoice(database):
    """A USER of the company may not pay into its balance: the button value forged to the
    company's account key is refused by the service, and no payment row is made."""
    w = make_world(pay_settings())
    Counterparty.update(balance=-50000).where(Counterparty.id == w.a).execute()
    owes(101, 10000)
    c = chat(w, 101)
    c.click(BALANCE)
    session = load_session(101, 101)
    session.buttons[0]["value"] = f"c{w.a}"
    save_session(session)
    c.click("💳 Оплатить долг 100,00 ₽")
    assert c.said("Счёт не найден или недоступен вам")
    assert pay.Payment.select().count() == 0 and "500,00" not in c.last_text


def test_an_unpaid_ticket_offers_pay_on_its_card(database):
    w = make_world(pay_settings())
    t = file_ticket(w, 101)
    pay.require_payment(w.app, t.id, 250000, by="crm")
    c = chat(w, 101)
    c.click(MINE)
    c.click("#1 · Касса · Новая")
    assert "💳 Оплатить 2 500,00 ₽" in c.buttons
    c.click("💳 Оплатить 2 500,00 ₽")
    assert "Оплата заявки #1 на 2 500,00 ₽" in shown(c)
    c.click("💳 Картой")
    assert invoice_in(c)["prices"][0]["amount"] == 250000
    c.click("🏠 В меню")
    assert c.buttons == ["✏️ Изменить", "🚫 Отменить заявку", "💳 Оплатить 2 500,00 ₽", "✉️ Написать по заявке", "📋 К списку"]


def test_a_paid_or_unpayable_ticket_offers_no_pay(database):
    w = make_world(pay_settings(token=False))         # no method can take money
    t = file_ticket(w, 101)
    pay.require_payment(w.app, t.id, 250000, by="crm")
    c = chat(w, 101)
    c.click(MINE)
    c.click("#1 · Касса · Новая")
    assert not any(b.startswith("💳") for b in c.buttons)


def test_the_top_up_after_a_debt_is_not_mistaken_for_the_tickets_payment(database):
    """The card leaves its request in the slots; the balance screen starts afresh."""
    w = make_world(pay_settings())
    t = file_ticket(w, 101)
    pay.require_payment(w.app, t.id, 250000, by="crm")
    owes(101, 30000)
    c = chat(w, 101)
    c.click(MINE)
    c.click("#1 · Касса · Новая")
    c.click("📋 К списку")
    c.click("🏠 В меню")
    c.click(BALANCE)
    c.click("💳 Оплатить долг 300,00 ₽")
    assert "Оплата долга на 300,00 ₽" in shown(c)


def test_english_buttons_and_texts_share_the_english_money_format(database):
    w = make_world(pay_settings())
    owes(101, 150000)
    c = chat(w, 101, lang="en")
    c.click("💰 Balance")
    assert "Personal balance: -1,500.00 RUB" in shown(c)
    c.click("💳 Pay the debt of 1,500.00 RUB")
    assert "Paying the debt of 1,500.00 RUB" in shown(c)


def test_the_sbp_link_is_a_button_in_the_terminal_chat(database):
    w = make_world(pay_settings(token=False, sbp=True))
    directory.get_or_create_user(4242, "console", "Console", "ru")
    owes(4242, 150000)
    out: list[str] = []
    lines = iter([BALANCE, "💳 Оплатить долг 1 500,00 ₽", "📱 СБП (QR-код)"])

    def read(prompt):
        try:
            label = next(lines)
        except StopIteration:
            raise EOFError from None
        shown = next(x for x in reversed(out) if x.strip().startswith("[") and x.endswith(label))
        return shown.strip()[1:shown.strip().index("]")]          # the button's number
    Console(w.app.engine, user_id=4242, read=read, write=out.append).run()
    text = "\n".join(out)
    assert "Оплата через СБП на 1 500,00 ₽" in text and "[картинка]" in text
    assert f"🔗 🏦 Оплатить через СБП: {SBP_LINK}" in text      # the button, with its address


@pytest.mark.parametrize("lang,label", [("ru", "1 000,00 ₽"), ("en", "1,000.00 RUB")])
def test_preset_amount_buttons_use_the_texts_money_format(database, lang, label):
    s = pay_settings()
    s.pay.add_balance = True
    w = make_world(s)
    c = chat(w, 101, lang=lang)
    c.click({"ru": BALANCE, "en": "💰 Balance"}[lang])
    c.click({"ru": "➕ Пополнить", "en": "➕ Top up"}[lang])
    assert label in c.buttons
    c.click(label)
    assert label in shown(c)


@pytest.mark.parametrize("token,buttons", [(True, ["💳 Оплатить 2 500,00 ₽"]), (False, [])])
def test_the_needs_payment_notice_has_pay_only_when_a_method_works(database, token, buttons):
    s = pay_settings(token=token)
    s.notify.user.need_to_pay_task = True
    w = make_world(s)
    t = file_ticket(w, 101)
    pay.require_payment(w.app, t.id, 250000, by="crm")
    [notice] = [outgoing.to_reply(r) for r in outgoing.Outgoing.select() if "payreq" in (r.key or "")]
    assert "ожидает оплаты: 2 500,00 ₽" in plain_text(notice.text)
    assert [b.text for row in notice.buttons for b in row] == buttons
