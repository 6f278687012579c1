"""Card payments up to the payment itself (Telegram invoice).

1. `create_invoice_payment()` stores a Payment (status "invoiced") with the amount,
   currency and target; its signed payload (helpdesk.payments.payload) goes into the
   invoice.
2. `check_pre_checkout()` accepts only a genuine payload whose payment is still unpaid,
   with the same amount and currency, and (for a ticket) an open request of that amount,
   paid by the invoice's addressee or by someone who `may_pay_for()` the company it
   credits (a forwarded invoice is refused for anybody else).
"""
from __future__ import annotations

from typing import Any

from engine.storage import write_tx

from .accounts import OWN, account_for, may_pay_for
from .errors import RequestNotOpen
from .payload import sign_payload, verify_payload
from .requests import check_amount, request_for_payer
from .tables import CANCELLED, INVOICED, OPEN, PAID, TICKET, TOPUP, Payment, PaymentRequest

__all__ = ["create_invoice_payment", "check_pre_checkout", "as_int"]


def create_invoice_payment(user_id: int, *, amount: int, currency: str, secret: bytes,
                           account_key: str | None = None,
                           request_id: int | None = None) -> Payment:
    """Store the payment an invoice is about to ask for (a top-up of `account_key`, or the
    ticket request `request_id`), rights checked; its signed payload is in `.payload`."""
    with write_tx():
        if request_id is not None:
            request = request_for_payer(user_id, request_id)
            if request.status != OPEN:    # closed or paid since the dialog showed it
                raise RequestNotOpen(f"payment request {request.id} is {request.status}, not open")
            payment = Payment.create(kind=TICKET, telegram_user=user_id, request=request.id,
                                     ticket=request.ticket_id, amount=request.amount,
                                     counterparty=request.ticket.counterparty_id,
                                     currency=request.currency)
        else:
            account = account_for(user_id, account_key or OWN)
            payment = Payment.create(kind=TOPUP, telegram_user=user_id, amount=check_amount(amount),
                                     counterparty=account.counterparty_id, currency=currency.upper())
        payment.payload = sign_payload(payment.id, secret)
        payment.save()
    return payment


def check_pre_checkout(query: dict, secret: bytes, payer_id: int) -> str | None:
    """None when the query may be answered ok; otherwise why not: forged, unknown, paid,
    amount, currency, payer (neither the addressee nor someone who may pay for the company
    it credits), cancelled (the ticket's request was cancelled: the ticket was closed),
    closed (the request changed)."""
    payment_id = verify_payload((query or {}).get("invoice_payload"), secret)
    if payment_id is None:
        return "forged"
    payment = Payment.get_or_none(Payment.id == payment_id)
    if payment is None:
        return "unknown"
    if payment.status != INVOICED:
        return "paid"
    if str(query.get("currency") or "").upper() != payment.currency:
        return "currency"
    if as_int(query.get("total_amount")) != payment.amount:
        return "amount"
    if not _may_pay_invoice(payer_id, payment):
        return "payer"
    return _request_problem(payment)


def _may_pay_invoice(payer_id, payment: Payment) -> bool:
    """The invoice's addressee, or a person who may pay for the company it credits."""
    if as_int(payer_id) == payment.telegram_user:
        return True
    return payment.counterparty_id is not None and may_pay_for(as_int(payer_id), payment.counterparty_id)


def _request_problem(payment: Payment) -> str | None:
    if payment.kind != TICKET:
        return None
    request = PaymentRequest.get_or_none(PaymentRequest.id == payment.request_id)
    if request is None or request.status == PAID:
        return "paid"
    if request.status == CANCELLED:
        return "cancelled"
    if request.status != OPEN or request.amount != payment.amount:
        return "closed"
    return None


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
