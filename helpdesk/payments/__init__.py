"""Payments and balances: a person's or a company's balance, top-ups and ticket payments by
card (a Telegram invoice) recorded exactly once, and tickets that need payment.

    tables.py         Payment, PaymentRequest, UserBalance, PaySecret and their statuses
    errors.py         PaymentError, RequestNotOpen
    payload.py        signed invoice payloads (`v1.<payment id>.<HMAC>`)
    accounts.py       balances, who may see and pay them (may_pay_for), the CRM's figure
    methods.py        which methods can work with these settings (card, SBP)
    invoices.py       the invoice's payment row and the pre-checkout's checks
    recording.py      a successful payment recorded once, with its effect
    requests.py       tickets that need payment (the CRM's or a technician's request)
    notifications.py  who is told what about payments

Money is an integer number of kopecks everywhere (as in the CRM contract); amounts in
settings (`pay.amounts`, `pay.min_amount`, `pay.max_amount`) are roubles.

Transport interface (engine/telegram/adapter.py), field names settled:
    pre_checkout_query -> Event(kind="pre_checkout", user_id=<payer>, payment={"id",
        "currency", "total_amount", "invoice_payload"}); answered by
        Reply(pre_checkout={"id", "ok", "error"}).
    successful_payment -> Event(kind="payment", payment={"currency", "total_amount",
        "invoice_payload", "telegram_payment_charge_id", "provider_payment_charge_id"}).
    Reply(invoice={"title", "description", "payload", "currency", "prices": [{"label",
        "amount"}]}) -> sendInvoice with the provider token from settings `bot.payment`.

CRM sync: an outbox item ("payment", Payment.id) means "report this payment once"
(`PaymentData`: amount, currency, method, reference = telegram_payment_charge_id, the
ticket's number when kind is "ticket", the counterparty's crm id when there is one).
The names below are re-exported so `from helpdesk import payments as pay` reads as before.
"""
from __future__ import annotations

from .accounts import (
    BALANCE_TIMEOUT,
    OWN,
    Account,
    account_for,
    accounts_of,
    balance_of,
    debt_of,
    may_pay_for,
)
from .errors import PaymentError, RequestNotOpen
from .invoices import check_pre_checkout, create_invoice_payment
from .methods import card_ready, payable, sbp_ready, warn_unusable_options
from .notifications import PAY_CALLBACK, notify_paid, payment_vars, request_vars
from .payload import payload_secret, sign_payload, verify_payload
from .recording import Recorded, record_payment
from .requests import (
    cancel_open_requests,
    open_request_for,
    request_for_payer,
    require_payment,
    settle_request,
)
from .tables import (
    CANCELLED,
    INVOICED,
    LATE_NOTE,
    OPEN,
    PAID,
    TICKET,
    TOPUP,
    UNMATCHED,
    Payment,
    PaymentRequest,
    PaySecret,
    UserBalance,
)

__all__ = ["Payment", "PaymentRequest", "UserBalance", "PaySecret", "PaymentError", "Account",
           "Recorded", "TOPUP", "TICKET", "INVOICED", "PAID", "UNMATCHED", "OPEN", "CANCELLED",
           "OWN", "BALANCE_TIMEOUT", "PAY_CALLBACK", "payload_secret", "sign_payload",
           "verify_payload", "accounts_of", "account_for", "card_ready", "sbp_ready", "payable",
           "create_invoice_payment", "check_pre_checkout", "record_payment", "require_payment",
           "settle_request", "request_for_payer", "open_request_for", "balance_of",
           "may_pay_for", "debt_of", "cancel_open_requests", "LATE_NOTE", "RequestNotOpen",
           "payment_vars", "request_vars", "notify_paid", "warn_unusable_options"]
