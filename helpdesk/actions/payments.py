"""Actions of flows/balance.yaml and flows/payment.yaml, the "pay:<request id>" button, and
the payment events (pre-checkout query, successful payment) and the refusal of a pre-checkout
query whose handler failed.

The rules live in helpdesk.payments; these functions translate between the dialog (slots,
templates, replies) and those services. Every id that comes from a slot or callback data is
checked again there.
"""
from __future__ import annotations

import html
import logging
import re

from engine.events import Button, Reply
from engine.ids import parse_id
from helpdesk import payments as pay
from helpdesk.directory import NotFound
from helpdesk.money import ROUBLES, MoneyError, parse_money
from helpdesk.registry import registry
from helpdesk.roles import PermissionDenied
from integrations.payments import build_invoice, sbp_qr_png

__all__ = ["PAYMENT_FLOW", "load_balance", "start_payment", "pay_accounts", "pay_amounts",
           "check_amount", "send_invoice", "send_sbp_qr", "refuse_pre_checkout"]

log = logging.getLogger(__name__)
PAYMENT_FLOW = "payment"      # the flow the Pay button of a ticket starts
_TAG = re.compile(r"<[^>]+>")


def _settings(step):
    return step.services.settings


def _label(step, template: str, **extra) -> str:
    """A plain-text rendering (button labels, invoice fields, pre-checkout errors)."""
    return step.fs.templates.render_label(template, step.lang, step.variables(**extra))


def _crm(step):
    return step.services.crm


# --- balance ------------------------------------------------------------------------------

@registry.action("load_balance", provides=["balance"])
def load_balance(step) -> dict:
    """Gives `balance`: {visible, accounts: [{key, kind, title, amount, stale, can_top_up}],
    can_top_up, stale}. Amounts are left out when pay.balance_visible is off."""
    s = _settings(step)
    if not s.pay.use:
        return {"balance": {"visible": False, "accounts": [], "can_top_up": False, "stale": False}}
    timeout = min(pay.BALANCE_TIMEOUT, s.crm.timeout)
    accounts = [a.as_dict() for a in pay.accounts_of(step.user_id, crm=_crm(step), timeout=timeout)]
    if not s.pay.balance_visible:
        for a in accounts:
            a["amount"] = None
    return {"balance": {"visible": s.pay.balance_visible, "accounts": accounts,
                        "can_top_up": s.pay.add_balance and any(a["can_top_up"] for a in accounts),
                        "stale": any(a["stale"] for a in accounts)}}


# --- the payment flow ---------------------------------------------------------------------

def _pay_info(s) -> dict:
    return {"ok": True, "error": "", "kind": pay.TOPUP, "ticket": None, "card": s.pay.card,
            "sbp": pay.sbp_ready(s), "accounts": [], "currency": s.pay.currency,
            "min": s.pay.min_amount, "max": s.pay.max_amount}


def _refused(info: dict, error: str) -> dict:
    return {"pay": {**info, "ok": False, "error": error}, "amount": None, "account": None}


@registry.action("start_payment", provides=["pay", "amount", "account"])
def start_payment(step) -> dict:
    """Gives `pay`: {ok, error, kind (topup|ticket), ticket, card, sbp, accounts, min, max,
    currency}, `amount` (kopecks; the request's for a ticket) and `account` (the default)."""
    s = _settings(step)
    info = _pay_info(s)
    if not s.pay.use:
        return _refused(info, "disabled")
    if not (info["card"] or info["sbp"]):
        return _refused(info, "no_methods")
    if step.slots.get("pay_request"):
        return _ticket_payment(step, info)
    if not s.pay.add_balance:
        return _refused(info, "no_top_up")
    info["accounts"] = [a.as_dict() for a in pay.accounts_of(step.user_id) if a.can_top_up]
    return {"pay": info, "amount": None, "account": info["accounts"][0]["key"]}


# why a request that is not open cannot be paid (pay/refused): paid already, or nothing is
# due any more (the ticket was cancelled or closed, which cancels its requests)
_NOT_OPEN = {pay.PAID: "request_paid", pay.CANCELLED: "request_cancelled"}


def _ticket_payment(step, info: dict) -> dict:
    try:
        request = pay.request_for_payer(step.user_id, step.slots["pay_request"])
    except (NotFound, PermissionDenied) as e:
        log.warning("user %s cannot pay request %r: %s", step.user_id, step.slots["pay_request"], e)
        return _refused(info, "request_unknown")
    if request.status != pay.OPEN:
        return _refused(info, _NOT_OPEN.get(request.status, "request_closed"))
    info.update(kind=pay.TICKET, ticket=pay.request_vars(request)["ticket"])
    return {"pay": info, "amount": request.amount, "account": None}


@registry.action("pay_accounts")
def pay_accounts(step) -> list[dict]:
    """Buttons: the balances this person may top up (own, and companies as ADMIN/DIRECTOR)."""
    return [{"text": _label(step, "pay/account_label", account=a.as_dict()), "value": a.key}
            for a in pay.accounts_of(step.user_id) if a.can_top_up]


@registry.action("pay_amounts")
def pay_amounts(step) -> list[dict]:
    """Buttons: the preset amounts of pay.amounts (roubles), valued in kopecks."""
    return [{"text": _label(step, "pay/amount_label", value=rub * 100), "value": rub * 100}
            for rub in _settings(step).pay.amounts if rub > 0]


@registry.action("check_amount", provides=["amount"])
def check_amount(step, rub=None) -> dict:
    """A typed amount in roubles (at most two fraction digits) -> `amount` in kopecks, or
    `amount_error` when it is not one or is outside pay.min_amount..pay.max_amount. The one
    money parser (helpdesk.money), as for the API: no float, text bounded first."""
    s = _settings(step)
    try:
        kopecks = parse_money(str(rub if rub is not None else ""), "amount", unit=ROUBLES,
                              limit=s.pay.max_amount * 100, minimum=s.pay.min_amount * 100)
    except MoneyError:
        return {"amount_error": True}
    return {"amount": kopecks, "amount_error": False}


@registry.action("send_invoice", provides=["invoice"])
def send_invoice(step) -> dict:
    """Store the payment and send the Telegram invoice. Gives `invoice`: {ok, error}, error
    being no_card (card payments off), no_token (bot.payment is empty), not_due (the ticket's
    request was paid or cancelled meanwhile), denied."""
    s = _settings(step)
    if not (s.pay.use and s.pay.card):
        return {"invoice": {"ok": False, "error": "no_card"}}
    if not pay.card_ready(s):
        log.error("card payment chosen but bot.payment (provider token) is empty: refused")
        return {"invoice": {"ok": False, "error": "no_token"}}
    try:
        payment = _invoice_payment(step, s)
    except pay.RequestNotOpen as e:
        log.info("invoice not sent to user %s: %s", step.user_id, e)
        return {"invoice": {"ok": False, "error": "not_due"}}
    except (NotFound, PermissionDenied, pay.PaymentError) as e:
        log.warning("invoice refused for user %s: %s", step.user_id, e)
        return {"invoice": {"ok": False, "error": "denied"}}
    step.reply(Reply(step.chat_id, invoice=_invoice(step, payment)))
    return {"invoice": {"ok": True, "error": "", "payment_id": payment.id}}


def _invoice_payment(step, s) -> pay.Payment:
    request_id = step.slots.get("pay_request")
    if request_id is None and not s.pay.add_balance:
        raise pay.PaymentError("top-ups are off (pay.add_balance)")
    return pay.create_invoice_payment(step.user_id, amount=step.slots.get("amount"),
                                      currency=s.pay.currency, secret=pay.payload_secret(s),
                                      account_key=step.slots.get("account"), request_id=request_id)


def _invoice(step, payment: pay.Payment) -> dict:
    p = {"payment": pay.payment_vars(payment)}
    return build_invoice(title=_label(step, "pay/invoice_title", **p),
                         description=_label(step, "pay/invoice_description", **p),
                         label=_label(step, "pay/invoice_label", **p), payload=payment.payload,
                         currency=payment.currency, amount=payment.amount)


@registry.action("send_sbp_qr", provides=["sbp"])
def send_sbp_qr(step) -> dict:
    """The static SBP link as a QR code photo with a link button. Gives `sbp`: {ok}."""
    s = _settings(step)
    if not (s.pay.use and pay.sbp_ready(s)):
        return {"sbp": {"ok": False}}
    link = s.pay.sbp_static_link.strip()
    step.reply(Reply(step.chat_id, step.render("pay/sbp_caption"), photo=sbp_qr_png(link),
                     buttons=[[Button(_label(step, "pay/btn_sbp_link"), url=link)]]))
    return {"sbp": {"ok": True}}


# --- outside the dialogs ------------------------------------------------------------------

@registry.callback(pay.PAY_CALLBACK)
def pay_pressed(step, payload: str) -> None:
    """"pay:<request id>" from a "ticket needs payment" notification: start the payment
    flow for that request. Who may pay is checked before anything changes: a press by
    anyone else, or with a malformed id, is answered on the button only."""
    request_id = parse_id(payload)
    if PAYMENT_FLOW not in step.fs.flows or request_id is None:
        step.answer()
        return
    try:
        pay.request_for_payer(step.user_id, request_id)
    except (NotFound, PermissionDenied) as e:
        log.info("pay button %r of user %s refused: %s", payload[:40], step.user_id, e)
        step.answer()
        return
    s = step.session
    s.stack, s.slots, s.flow = [], {"pay_request": request_id}, PAYMENT_FLOW
    step.enter(step.fs.flows[PAYMENT_FLOW].start)


@registry.on_event("pre_checkout")
def pre_checkout(step) -> None:
    """Answer Telegram's pre-checkout query: ok only for a genuine, unpaid, matching invoice
    of an open request, paid by its addressee or someone who may pay for its company."""
    query = step.event.payment or {}
    s = _settings(step)
    problem = "disabled" if not s.pay.use else pay.check_pre_checkout(
        query, pay.payload_secret(s), step.user_id)
    if problem:
        log.warning("pre-checkout %s of user %s refused: %s", query.get("id"), step.user_id, problem)
    error = _label(step, f"pay/precheckout_{problem}") if problem else ""
    step.reply(Reply(step.chat_id, pre_checkout={"id": str(query.get("id") or ""),
                                                 "ok": problem is None, "error": error}))


@registry.fallback("pre_checkout")
def refuse_pre_checkout(event, templates) -> list[Reply]:
    """The answer when `pre_checkout` failed (its step rolled back): refuse, with the
    apology, rather than let Telegram time the query out after 10 s. Telegram shows the
    error as plain text of at most 255 characters."""
    error = templates.render("common/error", event.language, {})
    return [Reply(event.chat_id, pre_checkout={"id": event.payment["id"], "ok": False,
                                               "error": _plain(error)[:255]})]


def _plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


@registry.on_event("payment")
def successful_payment(step) -> None:
    """Record a successful payment once; thank the payer and notify per settings."""
    s = _settings(step)
    recorded = pay.record_payment(step.event.payment or {}, step.user_id, pay.payload_secret(s))
    if not recorded.new:
        return
    pay.notify_paid(s, step.fs.templates, recorded)
    template = "pay/paid" if recorded.matched else "pay/paid_unmatched"
    step.say(template, payment=pay.payment_vars(recorded.payment))
