"""Actions of flows/balance.yaml and flows/payment.yaml, the "pay:<request id>" button, and
the payment events (pre-checkout query, successful payment) and the refusal of a pre-checkout
query whose handler failed.

The rules live in helpdesk.payments; these functions translate between the dialog (slots,
templates, replies) and those services. Every id that comes from a slot or callback data is
checked again there.
"""
from __future__ import annotations

import logging

from engine.contracts import ActionContext, Outcome
from engine.events import Reply
from engine.ids import parse_id
from engine.templates import plain_text
from helpdesk import payments as pay
from helpdesk.directory import NotFound
from helpdesk.directory.roles import PermissionDenied
from helpdesk.money import ROUBLES, MoneyError, parse_money
from helpdesk.registry import registry
from integrations.payments import build_invoice, sbp_qr_png

__all__ = ["PAYMENT_FLOW", "load_balance", "start_payment", "pay_accounts", "pay_amounts",
           "check_amount", "send_invoice", "send_sbp_qr", "refuse_pre_checkout"]

log = logging.getLogger(__name__)
PAYMENT_FLOW = "payment"      # the flow the Pay button of a ticket starts
DEBT = "debt"                 # pay.kind of paying what an account owes (a top-up by that amount)


def _settings(ctx: ActionContext):
    return ctx.services.settings


def _crm(ctx: ActionContext):
    return ctx.services.crm


# --- balance ------------------------------------------------------------------------------

@registry.action("load_balance", gives=("balance", "pay_request", "pay_debt"))
def load_balance(ctx: ActionContext) -> dict:
    """Gives `balance`: {visible, accounts: [{key, kind, title, amount, stale, can_top_up}],
    can_top_up, debts: [{key, kind, title, amount}], stale}. Amounts are left out when
    pay.balance_visible is off. A debt (a negative balance the person may pay into) is
    offered for payment whenever a method can take money (pay.payable), whatever
    pay.add_balance says; nothing is offered when none can. Clears the slots a ticket's
    or an earlier debt's payment left (this is a new payment)."""
    s = _settings(ctx)
    if not s.pay.use:
        return {"balance": {"visible": False, "accounts": [], "can_top_up": False, "debts": [],
                            "stale": False}, "pay_request": None, "pay_debt": None}
    timeout = min(pay.BALANCE_TIMEOUT, s.crm.timeout)
    accounts = [a.as_dict() for a in pay.accounts_of(ctx.user_id, crm=_crm(ctx), timeout=timeout)]
    payable = pay.payable(s)
    debts = [{**a, "amount": -a["amount"]} for a in accounts
             if payable and a["can_top_up"] and a["amount"] < 0]
    if not s.pay.balance_visible:
        for a in accounts:
            a["amount"] = None
    return {"balance": {"visible": s.pay.balance_visible, "accounts": accounts, "debts": debts,
                        "can_top_up": payable and s.pay.add_balance and any(a["can_top_up"] for a in accounts),
                        "stale": any(a["stale"] for a in accounts)},
            "pay_request": None, "pay_debt": None}


@registry.action("pay_debt_buttons", reads=("balance",), templates=("pay/btn_pay_debt",))
def pay_debt_buttons(ctx: ActionContext) -> list[dict]:
    """Buttons: one "Pay the debt" per account in debt (load_balance's `debts`)."""
    debts = (ctx.slots.get("balance") or {}).get("debts") or []
    return [{"text": ctx.label("pay/btn_pay_debt", debt=d, several=len(debts) > 1), "value": d["key"]}
            for d in debts]


# --- the payment flow ---------------------------------------------------------------------

def _pay_info(s) -> dict:
    return {"error": "", "kind": pay.TOPUP, "ticket": None, "card": s.pay.card,
            "sbp": pay.sbp_ready(s), "accounts": [], "currency": s.pay.currency,
            "min": s.pay.min_amount, "max": s.pay.max_amount}


def _refused(info: dict, error: str) -> Outcome:
    return Outcome("refused", pay={**info, "error": error}, amount=None, account=None)


@registry.action("start_payment", reads=("pay_request", "pay_debt"), gives=("pay", "amount", "account"),
                 outcomes=("accounts", "one_account", "ticket", "debt", "refused"))
def start_payment(ctx: ActionContext) -> Outcome:
    """A top-up (outcome accounts, or one_account when there is one balance to top up), a
    ticket's request (ticket), a debt (debt: slot pay_debt names the account), or refused
    (`pay.error` says why). Gives `pay`: {error, kind (topup|ticket|debt), ticket, card,
    sbp, accounts, min, max, currency}, `amount` (kopecks; the request's for a ticket, the
    debt for a debt) and `account` (the default)."""
    s = _settings(ctx)
    info = _pay_info(s)
    if not s.pay.use:
        return _refused(info, "disabled")
    if not (info["card"] or info["sbp"]):
        return _refused(info, "no_methods")
    if ctx.slots.get("pay_request"):
        return _ticket_payment(ctx, info)
    if ctx.slots.get("pay_debt"):
        return _debt_payment(ctx, info)
    if not s.pay.add_balance:
        return _refused(info, "no_top_up")
    info["accounts"] = [a.as_dict() for a in pay.accounts_of(ctx.user_id) if a.can_top_up]
    return Outcome("accounts" if len(info["accounts"]) > 1 else "one_account", pay=info, amount=None,
                   account=info["accounts"][0]["key"])


# why a request that is not open cannot be paid (pay/refused): paid already, or nothing is
# due any more (the ticket was cancelled or closed, which cancels its requests)
_NOT_OPEN = {pay.PAID: "request_paid", pay.CANCELLED: "request_cancelled"}


def _ticket_payment(ctx: ActionContext, info: dict) -> Outcome:
    try:
        request = pay.request_for_payer(ctx.user_id, ctx.slots["pay_request"])
    except (NotFound, PermissionDenied) as e:
        log.warning("user %s cannot pay request %r: %s", ctx.user_id, ctx.slots["pay_request"], e)
        return _refused(info, "request_unknown")
    if request.status != pay.OPEN:
        return _refused(info, _NOT_OPEN.get(request.status, "request_closed"))
    info.update(kind=pay.TICKET, ticket=pay.request_vars(request)["ticket"])
    return Outcome("ticket", pay=info, amount=request.amount, account=None)


def _debt_payment(ctx: ActionContext, info: dict) -> Outcome:
    """The debt of the account in slot pay_debt (rights checked again: the key may be forged)."""
    key = str(ctx.slots["pay_debt"])[:20]
    try:
        debt = pay.debt_of(ctx.user_id, key)
    except (NotFound, PermissionDenied, pay.PaymentError) as e:
        log.warning("user %s cannot pay the debt of %r: %s", ctx.user_id, key, e)
        return _refused(info, "request_unknown")
    if not debt:
        return _refused(info, "no_debt")
    info.update(kind=DEBT)
    return Outcome("debt", pay=info, amount=debt, account=key)


@registry.action("pay_accounts", templates=("pay/account_label",))
def pay_accounts(ctx: ActionContext) -> list[dict]:
    """Buttons: the balances this person may top up (own, and companies as ADMIN/DIRECTOR)."""
    return [{"text": ctx.label("pay/account_label", account=a.as_dict()), "value": a.key}
            for a in pay.accounts_of(ctx.user_id) if a.can_top_up]


@registry.action("pay_amounts", templates=("pay/amount_label",))
def pay_amounts(ctx: ActionContext) -> list[dict]:
    """Buttons: the preset amounts of pay.amounts (roubles), valued in kopecks."""
    return [{"text": ctx.label("pay/amount_label", value=rub * 100), "value": rub * 100}
            for rub in _settings(ctx).pay.amounts if rub > 0]


@registry.action("check_amount", gives=("amount",), outcomes=("accepted", "out_of_range"))
def check_amount(ctx: ActionContext, rub=None) -> Outcome:
    """A typed amount in roubles (at most two fraction digits) -> `amount` in kopecks
    (accepted), or out_of_range when it is not one or is outside pay.min_amount..
    pay.max_amount. The one money parser (helpdesk.money), as for the API: no float, text
    bounded first."""
    s = _settings(ctx)
    try:
        kopecks = parse_money(str(rub if rub is not None else ""), "amount", unit=ROUBLES,
                              limit=s.pay.max_amount * 100, minimum=s.pay.min_amount * 100)
    except MoneyError:
        return Outcome("out_of_range")
    return Outcome("accepted", amount=kopecks)


_INVOICE_TEXTS = ("pay/invoice_title", "pay/invoice_description", "pay/invoice_label")


@registry.action("send_invoice", reads=("pay_request", "pay_debt", "amount", "account"), gives=("invoice",),
                 outcomes=("sent", "refused"), templates=_INVOICE_TEXTS)
def send_invoice(ctx: ActionContext) -> Outcome:
    """Store the payment and send the Telegram invoice (sent), or refused: `invoice.error`
    is no_card (card payments off), no_token (bot.payment is empty), not_due (the ticket's
    request was paid or cancelled meanwhile), denied."""
    s = _settings(ctx)
    if not (s.pay.use and s.pay.card):
        return Outcome("refused", invoice={"error": "no_card"})
    if not pay.card_ready(s):
        log.error("card payment chosen but bot.payment (provider token) is empty: refused")
        return Outcome("refused", invoice={"error": "no_token"})
    try:
        payment = _invoice_payment(ctx, s)
    except pay.RequestNotOpen as e:
        log.info("invoice not sent to user %s: %s", ctx.user_id, e)
        return Outcome("refused", invoice={"error": "not_due"})
    except (NotFound, PermissionDenied, pay.PaymentError) as e:
        log.warning("invoice refused for user %s: %s", ctx.user_id, e)
        return Outcome("refused", invoice={"error": "denied"})
    ctx.reply(Reply(ctx.chat_id, invoice=_invoice(ctx, payment)))
    return Outcome("sent", invoice={"error": "", "payment_id": payment.id})


def _invoice_payment(ctx: ActionContext, s) -> pay.Payment:
    request_id = ctx.slots.get("pay_request")
    if request_id is None and not s.pay.add_balance and not _pays_the_debt(ctx):
        raise pay.PaymentError("top-ups are off (pay.add_balance) and this is not the account's debt")
    return pay.create_invoice_payment(ctx.user_id, amount=ctx.slots.get("amount"),
                                      currency=s.pay.currency, secret=pay.payload_secret(s),
                                      account_key=ctx.slots.get("account"), request_id=request_id)


def _pays_the_debt(ctx: ActionContext) -> bool:
    """The invoice is for exactly what the account in slot pay_debt owes now (checked again:
    a debt paid meanwhile, or another amount, is a top-up and follows pay.add_balance)."""
    key, amount = ctx.slots.get("pay_debt"), ctx.slots.get("amount")
    return bool(key) and key == ctx.slots.get("account") and amount == pay.debt_of(ctx.user_id, key)


def _invoice(ctx: ActionContext, payment: pay.Payment) -> dict:
    p = {"payment": pay.payment_vars(payment)}
    title, description, label = (ctx.label(name, **p) for name in _INVOICE_TEXTS)
    return build_invoice(title=title, description=description, label=label, payload=payment.payload,
                         currency=payment.currency, amount=payment.amount)


@registry.action("send_sbp_qr", outcomes=("sent", "refused"),
                 templates=("pay/sbp_caption", "pay/btn_sbp_link"))
def send_sbp_qr(ctx: ActionContext) -> Outcome:
    """The static SBP link as a QR code photo with a link button (sent), or refused when
    SBP is not set up."""
    s = _settings(ctx)
    if not (s.pay.use and pay.sbp_ready(s)):
        return Outcome("refused")
    link = s.pay.sbp_static_link.strip()
    ctx.reply(Reply(ctx.chat_id, ctx.render("pay/sbp_caption"), photo=sbp_qr_png(link),
                    buttons=[[ctx.button("pay/btn_sbp_link", url=link)]]))
    return Outcome("sent")


# --- outside the dialogs ------------------------------------------------------------------

# the refusal text of each problem helpdesk.payments.check_pre_checkout names
PRECHECKOUT = {"disabled": "pay/precheckout_disabled", "forged": "pay/precheckout_forged",
               "unknown": "pay/precheckout_unknown", "paid": "pay/precheckout_paid",
               "currency": "pay/precheckout_currency", "amount": "pay/precheckout_amount",
               "payer": "pay/precheckout_payer", "cancelled": "pay/precheckout_cancelled",
               "closed": "pay/precheckout_closed"}
PAID_NOTICES = ("pay/notify_task_paid", "pay/notify_group_paid", "pay/notify_task_paid_by",
                "pay/notify_balance_replenished")


@registry.callback(pay.PAY_CALLBACK, flows=(PAYMENT_FLOW,), gives=("pay_request",))
def pay_pressed(ctx: ActionContext, payload: str) -> None:
    """"pay:<request id>" from a "ticket needs payment" notification: start the payment
    flow for that request. Who may pay is checked before anything changes: a press by
    anyone else, or with a malformed id, is answered on the button only."""
    request_id = parse_id(payload)
    if not ctx.has_flow(PAYMENT_FLOW) or request_id is None:
        ctx.answer()
        return
    try:
        pay.request_for_payer(ctx.user_id, request_id)
    except (NotFound, PermissionDenied) as e:
        log.info("pay button %r of user %s refused: %s", payload[:40], ctx.user_id, e)
        ctx.answer()
        return
    ctx.start_flow(PAYMENT_FLOW, {"pay_request": request_id})


@registry.on_event("pre_checkout", templates=tuple(PRECHECKOUT.values()))
def pre_checkout(ctx: ActionContext) -> None:
    """Answer Telegram's pre-checkout query: ok only for a genuine, unpaid, matching invoice
    of an open request, paid by its addressee or someone who may pay for its company."""
    query = ctx.event.payment or {}
    s = _settings(ctx)
    problem = "disabled" if not s.pay.use else pay.check_pre_checkout(
        query, pay.payload_secret(s), ctx.user_id)
    if problem:
        log.warning("pre-checkout %s of user %s refused: %s", query.get("id"), ctx.user_id, problem)
    error = ctx.label(PRECHECKOUT[problem]) if problem else ""
    ctx.reply(Reply(ctx.chat_id, pre_checkout={"id": str(query.get("id") or ""),
                                               "ok": problem is None, "error": error}))


@registry.fallback("pre_checkout")
def refuse_pre_checkout(event, templates) -> list[Reply]:
    """The answer when `pre_checkout` failed (its step rolled back): refuse, with the
    apology, rather than let Telegram time the query out after 10 s. Telegram shows the
    error as plain text of at most 255 characters."""
    error = templates.render("common/error", event.language, {})
    return [Reply(event.chat_id, pre_checkout={"id": event.payment["id"], "ok": False,
                                               "error": plain_text(error)[:255]})]


@registry.on_event("payment", templates=("pay/paid", "pay/paid_unmatched", *PAID_NOTICES))
def successful_payment(ctx: ActionContext) -> None:
    """Record a successful payment once; thank the payer and notify per settings."""
    s = _settings(ctx)
    recorded = pay.record_payment(ctx.event.payment or {}, ctx.user_id, pay.payload_secret(s))
    if not recorded.new:
        return
    pay.notify_paid(s, ctx.templates, recorded)
    template = "pay/paid" if recorded.matched else "pay/paid_unmatched"
    ctx.say(template, payment=pay.payment_vars(recorded.payment))
