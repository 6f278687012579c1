"""Recording a successful Telegram payment exactly once.

`record_payment()` records it by Telegram's charge id (a unique column): the status, the
balance credit (top-ups) or the request settlement (tickets), and the CRM outbox row
(`outbox.push("payment", id)`) all commit in the caller's transaction; the same update
again changes nothing. Money that arrives for an invoice already paid, or for a ticket
request no longer open (the ticket was cancelled or closed between pre-checkout and
payment), is recorded once, settles nothing and is credited to the account's balance (it
was really taken): the note `LATE_NOTE` says why, and the CRM gets the payment with that
note as its comment. Money for no invoice we issued is kept as "unmatched".
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import peewee as pw

from engine.storage import db, write_tx
from helpdesk.directory.tables import utcnow
from helpdesk.sync import outbox

from .accounts import credit
from .errors import PaymentError
from .invoices import as_int
from .payload import verify_payload
from .requests import settle_open
from .tables import INVOICED, LATE_NOTE, PAID, TICKET, TOPUP, UNMATCHED, Payment

__all__ = ["Recorded", "record_payment"]

log = logging.getLogger(__name__)


@dataclass
class Recorded:
    """What `record_payment` did: `new` is False for a duplicate update (nothing changed)."""

    payment: Payment
    new: bool
    matched: bool = True          # False: the payload named no payment we issued
    credited: bool = False        # the amount went to a balance


def record_payment(paid: dict, payer_id: int, secret: bytes) -> Recorded:
    """Record a successful_payment exactly once (by its telegram_payment_charge_id), with its
    effect, in the caller's transaction (or a new one)."""
    charge = str((paid or {}).get("telegram_payment_charge_id") or "").strip()[:255]
    if not charge:
        raise PaymentError("successful_payment without telegram_payment_charge_id")
    with write_tx():
        existing = Payment.get_or_none(Payment.telegram_payment_charge_id == charge)
        if existing is not None:
            log.info("payment %s: charge %s seen again, nothing changed", existing.id, charge)
            return Recorded(existing, new=False)
        try:
            with db.atomic():          # a savepoint: a concurrent twin loses on the unique key
                return _record_new(paid, charge, payer_id, secret)
        except pw.IntegrityError:
            return Recorded(Payment.get(Payment.telegram_payment_charge_id == charge), new=False)


def _paid_fields(paid: dict, charge: str) -> dict:
    provider = str(paid.get("provider_payment_charge_id") or "")[:255] or None
    return dict(status=PAID, telegram_payment_charge_id=charge,
                provider_payment_charge_id=provider, paid_at=utcnow())


def _record_new(paid: dict, charge: str, payer_id: int, secret: bytes) -> Recorded:
    payment_id = verify_payload(paid.get("invoice_payload"), secret)
    payment = Payment.get_or_none(Payment.id == payment_id) if payment_id else None
    if payment is None or _mismatch(payment, paid):
        return _unmatched(paid, charge, payer_id, payment)
    fields = _paid_fields(paid, charge)
    settled = Payment.update(**fields).where((Payment.id == payment.id)
                                             & (Payment.status == INVOICED)).execute()
    if not settled:      # this invoice was paid before with another charge: money taken twice
        payment = _second_charge(payment, fields)
    else:
        payment = Payment.get_by_id(payment.id)
    credited = _apply(payment)
    outbox.push("payment", payment.id)
    log.info("payment %s recorded: %s %s kopecks, charge %s", payment.id, payment.kind,
             payment.amount, charge)
    return Recorded(payment, new=True, credited=credited)


def _mismatch(payment: Payment, paid: dict) -> bool:
    return (as_int(paid.get("total_amount")) != payment.amount
            or str(paid.get("currency") or "").upper() != payment.currency)


def _second_charge(original: Payment, fields: dict) -> Payment:
    log.error("payment %s was paid again (charge %s): the amount goes to the balance",
              original.id, fields["telegram_payment_charge_id"])
    data = {k: getattr(original, k) for k in ("kind", "method", "telegram_user", "amount", "currency", "payload")}
    return Payment.create(**data, counterparty=original.counterparty_id, ticket=original.ticket_id,
                          request=original.request_id, note="paid twice", **fields)


def _unmatched(paid: dict, charge: str, payer_id: int, known: Payment | None) -> Recorded:
    """Money arrived for no invoice we can match: keep it on record, touch no balance."""
    amount = as_int(paid.get("total_amount")) or 0
    log.error("successful payment %s matches no invoice (payload %r): recorded as unmatched",
              charge, str(paid.get("invoice_payload"))[:40])
    row = Payment.create(kind=known.kind if known else TOPUP, telegram_user=payer_id, amount=amount,
                         currency=str(paid.get("currency") or "")[:3].upper(),
                         payload=str(paid.get("invoice_payload") or "")[:128], note="unmatched",
                         **{**_paid_fields(paid, charge), "status": UNMATCHED})
    return Recorded(row, new=True, matched=False)


def _apply(payment: Payment) -> bool:
    """A top-up credits the balance; a ticket payment settles its request, or, when the
    request is no longer open, goes to the balance. True when a balance was credited."""
    if payment.kind == TICKET and settle_open(payment.request_id, payment.id, payment.amount):
        return False
    if payment.kind == TICKET:
        log.warning("payment %s: request %s no longer open or asks another amount, crediting the balance",
                    payment.id, payment.request_id)
        Payment.update(note=LATE_NOTE).where(Payment.id == payment.id).execute()
        payment.note = LATE_NOTE        # what the notifications read
    credit(payment)
    return True
