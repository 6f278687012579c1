"""Payments' tables and their statuses: Payment (one per invoice, paid once by Telegram's
charge id), PaymentRequest (a ticket that needs payment), UserBalance (a person's own
balance), PaySecret (the per-install payload key). Money is an integer number of kopecks.
"""
from __future__ import annotations

import peewee as pw

from engine.storage import Table
from helpdesk.directory.tables import Counterparty, utcnow
from helpdesk.tickets.tables import Ticket

__all__ = ["Payment", "PaymentRequest", "UserBalance", "PaySecret", "TOPUP", "TICKET", "INVOICED",
           "PAID", "UNMATCHED", "OPEN", "CANCELLED", "LATE_NOTE"]


TOPUP, TICKET = "topup", "ticket"                              # Payment.kind


INVOICED, PAID, UNMATCHED = "invoiced", "paid", "unmatched"    # Payment.status


OPEN, CANCELLED = "open", "cancelled"                          # PaymentRequest.status (+ PAID)


LATE_NOTE = "request not open: credited"   # Payment.note of money for a cancelled/closed request


class PaySecret(Table):
    """The per-install HMAC key, created once when `pay.payload_secret` is empty."""

    name = pw.CharField(max_length=32, primary_key=True)
    value = pw.CharField(max_length=128)
    created = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "pay_secret"


class UserBalance(Table):
    """A person's own balance (kopecks), apart from any company's."""

    telegram_user = pw.BigIntegerField(primary_key=True)         # Telegram id
    balance = pw.BigIntegerField(default=0)
    updated = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "user_balance"


class PaymentRequest(Table):
    """A ticket that needs payment, set by the CRM or a technician."""

    ticket = pw.ForeignKeyField(Ticket, backref="payment_requests", on_delete="CASCADE")
    amount = pw.BigIntegerField()                                 # kopecks
    currency = pw.CharField(max_length=3, default="RUB")
    status = pw.CharField(max_length=10, default=OPEN, index=True)   # open | paid | cancelled
    requested_by = pw.CharField(max_length=64)                    # "crm" or "tech:<id>"
    created = pw.DateTimeField(default=utcnow)
    updated = pw.DateTimeField(default=utcnow)
    paid_at = pw.DateTimeField(null=True)
    payment_id = pw.BigIntegerField(null=True)                    # the Payment that settled it

    class Meta:
        table_name = "payment_request"


class Payment(Table):
    """One payment: created with the invoice, paid once by Telegram's charge id."""

    kind = pw.CharField(max_length=10)                            # topup | ticket
    method = pw.CharField(max_length=10, default="card")
    telegram_user = pw.BigIntegerField(index=True)                # the payer's Telegram id
    counterparty = pw.ForeignKeyField(Counterparty, null=True, backref="payments",
                                      on_delete="SET NULL")       # None: the payer's own
    ticket = pw.ForeignKeyField(Ticket, null=True, backref="payments", on_delete="SET NULL")
    request = pw.ForeignKeyField(PaymentRequest, null=True, backref="payments",
                                 on_delete="SET NULL")
    amount = pw.BigIntegerField()                                 # kopecks
    currency = pw.CharField(max_length=3)
    status = pw.CharField(max_length=10, default=INVOICED, index=True)
    telegram_payment_charge_id = pw.CharField(max_length=255, null=True, unique=True)
    provider_payment_charge_id = pw.CharField(max_length=255, null=True)
    payload = pw.CharField(max_length=128, default="")
    note = pw.CharField(max_length=200, null=True)                # why money went to the balance
    created = pw.DateTimeField(default=utcnow)
    paid_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "payment"
