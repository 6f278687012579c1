"""Payments and balances: tables, signed invoice payloads, balance services, exactly-once
recording of Telegram payments, and tickets that need payment.

Money is an integer number of kopecks everywhere (as in the CRM contract); amounts in
settings (`pay.amounts`, `pay.min_amount`, `pay.max_amount`) are roubles.

Balances ("accounts")
    * a counterparty's balance is `Counterparty.balance`; a person's own balance (people with
      no company, or paying for themselves) is a `UserBalance` row per Telegram id.
    * who sees what follows helpdesk.directory.roles: everyone sees and tops up their own balance
      (VIEW_OWN_BALANCE / TOP_UP_OWN_BALANCE); a *confirmed* ADMINISTRATOR or DIRECTOR sees and
      tops up the counterparty's (VIEW_COMPANY_BALANCE / TOP_UP_COMPANY_BALANCE). Pending
      members see only their own. `accounts_of()` and `account_for()` enforce it.
    * "may this person pay for this company" is one function, `may_pay_for()`: a confirmed
      membership with TOP_UP_COMPANY_BALANCE. Top-ups of a company's balance, paying a
      colleague's ticket and a pre-checkout by someone other than the invoice's addressee
      all ask it.
    * an account key is "own" or "c<counterparty id>"; keys from slots are re-checked.
    * with a CRM configured (`app.services.crm`), a company balance is re-read from it
      (`get_balance`, at most BALANCE_TIMEOUT seconds) and stored; when the CRM is down the
      stored value is shown with a note (`Account.stale`). While a payment of that company
      still waits in the outbox, the CRM's figure is not stored (it would drop our credit).

Card payments (Telegram invoice)
    1. `create_invoice_payment()` stores a Payment (status "invoiced") with the amount,
       currency and target; the invoice payload is `v1.<payment id>.<HMAC>` (`sign_payload`),
       keyed by `pay.payload_secret`, or, when that is empty, by a random per-install secret
       created once in the database (table `pay_secret`): set the setting when several
       installations must accept each other's invoices.
    2. `check_pre_checkout()` accepts only a genuine payload whose payment is still unpaid,
       with the same amount and currency, and (for a ticket) an open request of that amount,
       paid by the invoice's addressee or by someone who `may_pay_for()` the company it
       credits (a forwarded invoice is refused for anybody else).
    3. `record_payment()` records a successful payment exactly once by Telegram's charge id
       (a unique column): the status, the balance credit (top-ups) or the request settlement
       (tickets), the CRM outbox row (`outbox.push("payment", id)`) and the notifications all
       commit in the caller's transaction; the same update again changes nothing. Money that
       arrives for an invoice already paid, or for a ticket request no longer open (the
       ticket was cancelled or closed between pre-checkout and payment), is recorded once,
       settles nothing and is credited to the account's balance (it was really taken): the
       note `LATE_NOTE` says why, the work group and the payer are told (a refund, if wanted,
       is support's decision), and the CRM gets the payment with that note as its comment.

Tickets that need payment
    `require_payment(app, ticket_id, amount, by)` (the CRM sync with by="crm", a technician
    with by=<their Telegram id>, who must be in `tickets.technicians`) opens a PaymentRequest
    and notifies the ticket's author with a Pay button (callback data "pay:<request id>")
    when `notify.user.use` and `notify.user.need_to_pay_task` are on. Repeating the call with
    the same amount changes nothing (the CRM re-sends tickets); a new amount updates the open
    request. `settle_request()` marks a request paid outside the bot (office, bank transfer)
    and notifies the author per `notify.user.task_is_paid`. Cancelling or closing a ticket
    (every path of helpdesk.tickets: client, administrator, technician, CRM/API) cancels
    its open requests in the same transaction (`cancel_open_requests`); the old Pay button
    then answers that nothing is due. The CRM re-sending the same amount for a ticket that
    is closed changes nothing; a new amount after closing (billing after the work) opens a
    new request.

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
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets as _secrets
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as _FutureTimeout
from dataclasses import dataclass
from typing import Any

import peewee as pw

from engine.errors import BotError
from engine.events import Button, Reply
from engine.ids import parse_id
from engine.notify import enqueue
from engine.storage import Table, db, write_tx
from helpdesk import directory, outbox
from helpdesk.directory.roles import Access, PermissionDenied, Right
from helpdesk.directory.tables import Counterparty, TelegramUser, utcnow
from helpdesk.tickets import Ticket

__all__ = ["Payment", "PaymentRequest", "UserBalance", "PaySecret", "PaymentError", "Account",
           "Recorded", "TOPUP", "TICKET", "INVOICED", "PAID", "UNMATCHED", "OPEN", "CANCELLED",
           "OWN", "BALANCE_TIMEOUT", "PAY_CALLBACK", "payload_secret", "sign_payload",
           "verify_payload", "accounts_of", "account_for", "card_ready", "sbp_ready",
           "create_invoice_payment", "check_pre_checkout", "record_payment", "require_payment",
           "settle_request", "request_for_payer", "open_request_for", "balance_of",
           "may_pay_for", "cancel_open_requests", "LATE_NOTE", "RequestNotOpen",
           "payment_vars", "request_vars", "notify_paid", "warn_unusable_options"]

log = logging.getLogger(__name__)

TOPUP, TICKET = "topup", "ticket"                              # Payment.kind
INVOICED, PAID, UNMATCHED = "invoiced", "paid", "unmatched"    # Payment.status
OPEN, CANCELLED = "open", "cancelled"                          # PaymentRequest.status (+ PAID)
OWN = "own"                                                    # the person's own account key
BALANCE_TIMEOUT = 3.0      # seconds to wait for the CRM's balance before showing the stored one
PAY_CALLBACK = "pay"       # inline button "pay:<request id>" (helpdesk.actions.payments)
LATE_NOTE = "request not open: credited"   # Payment.note of money for a cancelled/closed request
_PAYLOAD_VERSION = "v1"


class PaymentError(BotError, ValueError):
    """Bad input to a payment service; the message names the value."""


class RequestNotOpen(PaymentError):
    """The ticket's payment request was paid or cancelled since the dialog showed it."""


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


# --- signed payloads ----------------------------------------------------------------------

def payload_secret(settings) -> bytes:
    """`pay.payload_secret`, or the per-install secret from the database (made on first use)."""
    configured = settings.pay.payload_secret.get_secret_value() if settings else ""
    if configured:
        return configured.encode()
    row = PaySecret.get_or_none(PaySecret.name == "payload")
    if row is None:
        with write_tx():
            PaySecret.insert(name="payload", value=_secrets.token_hex(32)).on_conflict_ignore().execute()
        row = PaySecret.get(PaySecret.name == "payload")
    return row.value.encode()


def _mac(payment_id: int, secret: bytes) -> str:
    digest = hmac.new(secret, f"{_PAYLOAD_VERSION}.{payment_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def sign_payload(payment_id: int, secret: bytes) -> str:
    """`v1.<id>.<22 characters of HMAC-SHA256>`: well under Telegram's 128 bytes."""
    return f"{_PAYLOAD_VERSION}.{int(payment_id)}.{_mac(int(payment_id), secret)}"


def verify_payload(payload: Any, secret: bytes) -> int | None:
    """The payment id a genuine payload names; None for anything forged or malformed."""
    parts = str(payload or "").split(".")
    payment_id = parse_id(parts[1]) if len(parts) == 3 and parts[0] == _PAYLOAD_VERSION else None
    if payment_id is None:
        return None
    return payment_id if hmac.compare_digest(parts[2], _mac(payment_id, secret)) else None


# --- balances -----------------------------------------------------------------------------

@dataclass
class Account:
    """A balance a person may see: their own, or a counterparty's."""

    key: str                      # "own" or "c<counterparty id>"
    kind: str                     # own | company
    title: str                    # the company's name ("" for own)
    amount: int                   # kopecks
    counterparty_id: int | None = None
    inn: str = ""
    can_top_up: bool = False
    stale: bool = False           # the CRM did not answer: the stored value is shown

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def balance_of(user_id: int) -> int:
    row = UserBalance.get_or_none(UserBalance.telegram_user == int(user_id))
    return row.balance if row else 0


def may_pay_for(user_id, counterparty_id) -> bool:
    """Whether `user_id` may pay for the counterparty (top up its balance, pay its tickets,
    pay an invoice issued to a colleague): a CONFIRMED membership whose role has
    TOP_UP_COMPANY_BALANCE. The one place this is decided; pending links never pay."""
    if counterparty_id is None or user_id is None:
        return False
    access = directory.access_in(user_id, counterparty_id)
    return access.confirmed and access.can(Right.TOP_UP_COMPANY_BALANCE)


def _own(user_id: int) -> Account:
    return Account(OWN, "own", "", balance_of(user_id), can_top_up=True)


def _company(cp: Counterparty, access: Access) -> Account:
    return Account(f"c{cp.id}", "company", cp.name, cp.balance, cp.id, cp.inn,
                   can_top_up=may_pay_for(access.who, cp.id))


def accounts_of(user_id: int, *, crm=None, timeout: float = BALANCE_TIMEOUT) -> list[Account]:
    """The balances `user_id` may see: own first, then each company where they hold
    VIEW_COMPANY_BALANCE (a confirmed ADMINISTRATOR or DIRECTOR), refreshed from `crm`."""
    out = [_own(user_id)]
    for m in directory.memberships_of(user_id, confirmed_only=True):
        access = Access(m.role_enum, m.is_confirmed, user_id, m.counterparty_id)
        if access.can(Right.VIEW_COMPANY_BALANCE):
            out.append(_refreshed(_company(m.counterparty, access), crm, timeout))
    return out


_COMPANY_RIGHT = {Right.TOP_UP_OWN_BALANCE: Right.TOP_UP_COMPANY_BALANCE,
                  Right.VIEW_OWN_BALANCE: Right.VIEW_COMPANY_BALANCE}


def account_for(user_id: int, key: str, right: Right = Right.TOP_UP_OWN_BALANCE) -> Account:
    """The account `key` if `user_id` may do `right` (view or top up) on it: anyone on their
    own, the company's counterpart of `right` on a company's; PermissionDenied otherwise."""
    key = str(key or OWN)
    if key == OWN:
        return _own(user_id)
    company_id = parse_id(key[1:]) if key.startswith("c") else None
    if company_id is None:
        raise PaymentError(f"account key {key[:20]!r} is neither 'own' nor 'c<id>'")
    cp = Counterparty.get_or_none(Counterparty.id == company_id)
    access = directory.access_in(user_id, cp.id if cp else company_id)
    needed = _COMPANY_RIGHT.get(right, right)
    if needed is Right.TOP_UP_COMPANY_BALANCE and not may_pay_for(user_id, access.counterparty):
        raise PermissionDenied(needed, who=user_id, counterparty=access.counterparty,
                               reason="may not pay for this company")
    access.require(needed)
    return _company(cp, access)


def _refreshed(account: Account, crm, timeout: float) -> Account:
    if crm is None or getattr(crm, "kind", "") == "none":
        return account
    value, failed = _crm_balance(crm, account, timeout)
    account.stale = failed
    if value is not None and not _unsent_payments(account.counterparty_id):
        account.amount = value
        with write_tx():
            Counterparty.update(balance=value).where(Counterparty.id == account.counterparty_id).execute()
    return account


def _crm_balance(crm, account: Account, timeout: float) -> tuple[int | None, bool]:
    """(the CRM's balance or None, whether the CRM failed); never waits past `timeout`."""
    crm_id = Counterparty.get_by_id(account.counterparty_id).crm_id
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-balance")
    try:
        return pool.submit(crm.get_balance, account.inn, crm_id).result(timeout=timeout), False
    except _FutureTimeout:
        log.warning("CRM balance of counterparty %s: no answer in %ss, showing the stored one",
                    account.counterparty_id, timeout)
    except Exception as e:  # noqa: BLE001 - the stored balance is the fallback for any failure
        log.warning("CRM balance of counterparty %s failed, showing the stored one: %s",
                    account.counterparty_id, e)
    finally:
        pool.shutdown(wait=False)
    return None, True


def _unsent_payments(counterparty_id: int) -> bool:
    return (outbox.OutboxItem.select()
            .join(Payment, on=(outbox.OutboxItem.entity_id == Payment.id))
            .where((outbox.OutboxItem.entity == "payment") & (outbox.OutboxItem.status == outbox.PENDING)
                   & (Payment.counterparty == counterparty_id)).exists())


def _credit(payment: Payment) -> None:
    """Add the payment to its account's balance (in the caller's transaction)."""
    if payment.counterparty_id:
        Counterparty.update(balance=Counterparty.balance + payment.amount, updated=utcnow()) \
            .where(Counterparty.id == payment.counterparty_id).execute()
        return
    (UserBalance.insert(telegram_user=payment.telegram_user, balance=payment.amount)
     .on_conflict(conflict_target=[UserBalance.telegram_user],
                  update={UserBalance.balance: UserBalance.balance + payment.amount,
                          UserBalance.updated: utcnow()}).execute())


# --- methods ------------------------------------------------------------------------------

def card_ready(settings) -> bool:
    """Card payment is on and a provider token is set (otherwise it is refused when chosen)."""
    return bool(settings.pay.card and settings.bot.payment.get_secret_value())


def sbp_ready(settings) -> bool:
    from integrations.payments import is_payment_link
    return bool(settings.pay.sbp_static and is_payment_link(settings.pay.sbp_static_link))


def warn_unusable_options(settings) -> None:
    """Say at start what is switched on but cannot work (the dialogs refuse it clearly)."""
    pay = settings.pay
    if pay.use and pay.card and not card_ready(settings):
        log.warning("pay.card is on but bot.payment (provider token) is empty: card payments "
                    "will be refused when chosen; set bot.payment or pay.card: false")
    if pay.use and pay.sbp_static and not sbp_ready(settings):
        log.warning("pay.sbp_static is on but pay.sbp_static_link is not an http(s) URL: "
                    "the SBP option is not offered")


# --- invoices -----------------------------------------------------------------------------

def _check_amount(amount: Any) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise PaymentError(f"amount must be a positive number of kopecks, got {amount!r}")
    return amount


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
            payment = Payment.create(kind=TOPUP, telegram_user=user_id, amount=_check_amount(amount),
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
    if _int(query.get("total_amount")) != payment.amount:
        return "amount"
    if not _may_pay_invoice(payer_id, payment):
        return "payer"
    return _request_problem(payment)


def _may_pay_invoice(payer_id, payment: Payment) -> bool:
    """The invoice's addressee, or a person who may pay for the company it credits."""
    if _int(payer_id) == payment.telegram_user:
        return True
    return payment.counterparty_id is not None and may_pay_for(_int(payer_id), payment.counterparty_id)


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


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- recording a successful payment -------------------------------------------------------

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
    return (_int(paid.get("total_amount")) != payment.amount
            or str(paid.get("currency") or "").upper() != payment.currency)


def _second_charge(original: Payment, fields: dict) -> Payment:
    log.error("payment %s was paid again (charge %s): the amount goes to the balance",
              original.id, fields["telegram_payment_charge_id"])
    data = {k: getattr(original, k) for k in ("kind", "method", "telegram_user", "amount", "currency", "payload")}
    return Payment.create(**data, counterparty=original.counterparty_id, ticket=original.ticket_id,
                          request=original.request_id, note="paid twice", **fields)


def _unmatched(paid: dict, charge: str, payer_id: int, known: Payment | None) -> Recorded:
    """Money arrived for no invoice we can match: keep it on record, touch no balance."""
    amount = _int(paid.get("total_amount")) or 0
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
    if payment.kind == TICKET and _settle(payment.request_id, payment.id, payment.amount):
        return False
    if payment.kind == TICKET:
        log.warning("payment %s: request %s no longer open or asks another amount, crediting the balance",
                    payment.id, payment.request_id)
        Payment.update(note=LATE_NOTE).where(Payment.id == payment.id).execute()
        payment.note = LATE_NOTE        # what the notifications read
    _credit(payment)
    return True


def _settle(request_id: int | None, payment_id: int | None, amount: int | None = None) -> bool:
    """Mark the request paid if it is still open (and, for a payment, still asks for the
    amount paid: a bill the CRM raised after the invoice is not settled by the old sum)."""
    if request_id is None:
        return False
    condition = (PaymentRequest.id == request_id) & (PaymentRequest.status == OPEN)
    if amount is not None:
        condition &= PaymentRequest.amount == amount
    return bool(PaymentRequest.update(status=PAID, paid_at=utcnow(), updated=utcnow(),
                                      payment_id=payment_id).where(condition).execute())


# --- tickets that need payment ------------------------------------------------------------

def _requester(settings, by) -> str:
    if str(by) == "crm":
        return "crm"
    tech = parse_id(by)
    if tech is not None and tech in settings.tickets.technicians:
        return f"tech:{tech}"
    raise PaymentError(f"payment request by {str(by)[:30]!r}: only 'crm' or a technician "
                       "listed in settings tickets.technicians may ask for or settle payment")


def require_payment(app, ticket_id: int, amount: int, by) -> PaymentRequest:
    """Ask the ticket's author to pay `amount` kopecks for ticket `ticket_id`.

    Idempotent: an open or paid request of the same amount is returned unchanged; another
    amount updates the open request (and notifies again), or opens a new one after a paid one.
    """
    who = _requester(app.settings, by)
    amount = _check_amount(amount)
    with write_tx():
        ticket = Ticket.get_or_none(Ticket.id == int(ticket_id))
        if ticket is None:
            raise directory.NotFound(f"ticket {ticket_id} does not exist")
        request, changed = _upsert_request(ticket, amount, who, app.settings.pay.currency)
        if changed:
            _notify_need_to_pay(app, request, ticket)
    return request


def _upsert_request(ticket: Ticket, amount: int, who: str, currency: str) -> tuple[PaymentRequest, bool]:
    rows = list(PaymentRequest.select().where((PaymentRequest.ticket == ticket.id)
                                              & (PaymentRequest.status.in_([OPEN, PAID])))
                .order_by(PaymentRequest.id.desc()))
    same = next((r for r in rows if r.amount == amount), None)
    if same is not None:
        return same, False
    cancelled = None if ticket.active else _cancelled_with(ticket, amount)
    if cancelled is not None:
        return cancelled, False     # the CRM re-sends a closed ticket: its request stays cancelled
    open_ = next((r for r in rows if r.status == OPEN), None)
    if open_ is not None:
        open_.amount, open_.requested_by, open_.updated = amount, who, utcnow()
        open_.save()
        return open_, True
    return PaymentRequest.create(ticket=ticket.id, amount=amount, requested_by=who,
                                 currency=currency.upper()), True


def _cancelled_with(ticket: Ticket, amount: int) -> PaymentRequest | None:
    return (PaymentRequest.select().where((PaymentRequest.ticket == ticket.id)
                                          & (PaymentRequest.status == CANCELLED)
                                          & (PaymentRequest.amount == amount)).first())


def cancel_open_requests(ticket_id: int) -> int:
    """Cancel the ticket's open payment requests (it was cancelled or closed), in the
    caller's transaction; invoices already sent for them are then refused at pre-checkout.
    Returns how many were cancelled."""
    n = (PaymentRequest.update(status=CANCELLED, updated=utcnow())
         .where((PaymentRequest.ticket == int(ticket_id)) & (PaymentRequest.status == OPEN))
         .execute())
    if n:
        log.info("ticket %s closed: %s open payment request(s) cancelled", ticket_id, n)
    return n


def settle_request(app, request_id: int, by) -> PaymentRequest:
    """Mark a request paid outside the bot (office, bank); notify per notify.user.task_is_paid."""
    who = _requester(app.settings, by)
    with write_tx():
        request = PaymentRequest.get_or_none(PaymentRequest.id == int(request_id))
        if request is None:
            raise directory.NotFound(f"payment request {request_id} does not exist")
        if _settle(request.id, None):
            log.info("payment request %s settled outside the bot by %s", request.id, who)
            _notify_author(app, request.ticket, "pay/notify_task_paid",
                           f"payreq:{request.id}:settled", app.settings.notify.user.task_is_paid,
                           request=request_vars(request))
        return PaymentRequest.get_by_id(request.id)


def request_for_payer(user_id: int, request_id) -> PaymentRequest:
    """The request if `user_id` may pay it: the ticket's author, or someone who
    `may_pay_for()` the ticket's company. NotFound / PermissionDenied otherwise (ids are not
    trusted)."""
    found = parse_id(request_id)
    request = PaymentRequest.get_or_none(PaymentRequest.id == found) if found else None
    if request is None:
        raise directory.NotFound(f"payment request {str(request_id)[:20]} does not exist")
    ticket = request.ticket
    if ticket.author_id != int(user_id) and not may_pay_for(user_id, ticket.counterparty_id):
        raise PermissionDenied(Right.TOP_UP_COMPANY_BALANCE, who=user_id,
                               counterparty=ticket.counterparty_id, reason=f"payment request {request.id}")
    return request


def open_request_for(ticket_id: int) -> PaymentRequest | None:
    """The ticket's open payment request (for a Pay button on a ticket card)."""
    return (PaymentRequest.select().where((PaymentRequest.ticket == ticket_id)
                                          & (PaymentRequest.status == OPEN)).first())


def request_vars(request: PaymentRequest) -> dict:
    ticket = request.ticket
    return {"id": request.id, "amount": request.amount, "currency": request.currency,
            "status": request.status, "ticket": {"id": ticket.id, "label": ticket.label,
                                                 "number": ticket.number, "type": ticket.type}}


def _lang_of(user_id: int, templates) -> str:
    user = TelegramUser.get_or_none(TelegramUser.id == user_id)
    return templates.lang(user.language if user else None)


def _templates(app):
    return app.engine.flowset.templates


def _notify_need_to_pay(app, request: PaymentRequest, ticket: Ticket) -> None:
    s = app.settings
    if not (s.pay.use and s.notify.user.use and s.notify.user.need_to_pay_task):
        return
    t = _templates(app)
    lang = _lang_of(ticket.author_id, t)
    vars_ = {"request": request_vars(request)}
    text = t.render("pay/notify_need_to_pay", lang, vars_)
    label = t.render_label("pay/btn_pay", lang, vars_)
    enqueue(Reply(ticket.author_id, text, buttons=[[Button(label, f"{PAY_CALLBACK}:{request.id}")]]),
            key=f"payreq:{request.id}:{request.amount}")


def _notify_author(app, ticket: Ticket, template: str, key: str, enabled: bool, **vars_) -> None:
    s = app.settings
    if not (enabled and s.notify.user.use):
        return
    t = _templates(app)
    enqueue(Reply(ticket.author_id, t.render(template, _lang_of(ticket.author_id, t), vars_)), key=key)


# --- notifications after a payment --------------------------------------------------------

def payment_vars(payment: Payment) -> dict:
    """What templates read about a payment."""
    cp = payment.counterparty if payment.counterparty_id else None
    ticket = payment.ticket if payment.ticket_id else None
    return {"id": payment.id, "kind": payment.kind, "amount": payment.amount,
            "currency": payment.currency, "payer": payment.telegram_user, "note": payment.note or "",
            "late": payment.note == LATE_NOTE,      # for a request cancelled or closed meanwhile
            "company": {"name": cp.name, "inn": cp.inn} if cp else None,
            "ticket": {"label": ticket.label, "number": ticket.number} if ticket else None}


def notify_paid(app_settings, templates, recorded: Recorded) -> None:
    """The work group, the ticket's author and the company's balance viewers (other than the
    payer), per notify.* settings; unique keys, so a retry never sends twice."""
    p, s = recorded.payment, app_settings
    vars_ = {"payment": payment_vars(p)}
    if s.notify.system.use and s.notify.system.work_group_id:
        enqueue(Reply(s.notify.system.work_group_id, templates.render("pay/notify_group_paid",
                                                                      templates.default, vars_)),
                key=f"payment:{p.id}:group")
    if not (s.notify.user.use and recorded.matched):
        return
    for user_id, template in _paid_recipients(s, p, recorded.credited):
        text = templates.render(template, _lang_of(user_id, templates), vars_)
        enqueue(Reply(user_id, text), key=f"payment:{p.id}:user:{user_id}")


def _paid_recipients(s, p: Payment, credited: bool) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    if p.kind == TICKET and p.ticket_id and s.notify.user.task_is_paid and not credited:
        out.append((p.ticket.author_id, "pay/notify_task_paid_by"))
    if p.counterparty_id and (p.kind == TOPUP or credited) and s.notify.user.balance_replenished:
        viewers = directory.company_people(p.counterparty_id, right=Right.VIEW_COMPANY_BALANCE)
        out += [(m.telegram_user_id, "pay/notify_balance_replenished") for m in viewers]
    seen = {p.telegram_user}
    return [(u, t) for u, t in out if not (u in seen or seen.add(u))]
