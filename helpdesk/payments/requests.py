"""Tickets that need payment.

`require_payment(app, ticket_id, amount, by)` (the CRM sync with by="crm", a technician
with by=<their Telegram id>, who must be the desk's staff: helpdesk/desk/staff.py) opens a PaymentRequest
and notifies the ticket's author with a Pay button (callback data "pay:<request id>")
when `notify.user.use` and `notify.user.need_to_pay_task` are on. Repeating the call with
the same amount changes nothing (the CRM re-sends tickets); a new amount updates the open
request. `settle_request()` marks a request paid outside the bot (office, bank transfer)
and notifies the author per `notify.user.task_is_paid`. Cancelling or closing a ticket
(every path of helpdesk.tickets) cancels its open requests in the same transaction
(`cancel_open_requests`); the old Pay button then answers that nothing is due. The CRM
re-sending the same amount for a closed ticket changes nothing; a new amount after closing
(billing after the work) opens a new request.
"""
from __future__ import annotations

import logging
from typing import Any

from engine.ids import parse_id
from engine.storage import write_tx
from helpdesk import directory
from helpdesk.desk import staff
from helpdesk.directory.roles import PermissionDenied, Right
from helpdesk.directory.tables import utcnow
from helpdesk.tickets.tables import Ticket

from .accounts import may_pay_for
from .errors import PaymentError
from .notifications import notify_author, notify_need_to_pay, request_vars
from .tables import CANCELLED, OPEN, PAID, PaymentRequest

__all__ = ["require_payment", "settle_request", "cancel_open_requests",
           "request_for_payer", "open_request_for", "check_amount", "settle_open"]

log = logging.getLogger(__name__)


def check_amount(amount: Any) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise PaymentError(f"amount must be a positive number of kopecks, got {amount!r}")
    return amount


def _requester(settings, by) -> str:
    if str(by) == "crm":
        return "crm"
    tech = parse_id(by)
    if tech is not None and staff.is_staff(tech):
        return f"tech:{tech}"
    raise PaymentError(f"payment request by {str(by)[:30]!r}: only 'crm' or the desk's staff "
                       "(technician or dispatcher) may ask for or settle payment")


def require_payment(app, ticket_id: int, amount: int, by) -> PaymentRequest:
    """Ask the ticket's author to pay `amount` kopecks for ticket `ticket_id`.

    Idempotent: an open or paid request of the same amount is returned unchanged; another
    amount updates the open request (and notifies again), or opens a new one after a paid one.
    """
    who = _requester(app.settings, by)
    amount = check_amount(amount)
    with write_tx():
        ticket = Ticket.get_or_none(Ticket.id == int(ticket_id))
        if ticket is None:
            raise directory.NotFound(f"ticket {ticket_id} does not exist")
        request, changed = _upsert_request(ticket, amount, who, app.settings.pay.currency)
        if changed:
            notify_need_to_pay(app, request, ticket)
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


def settle_open(request_id: int | None, payment_id: int | None, amount: int | None = None) -> bool:
    """Mark the request paid if it is still open (and, for a payment, still asks for the
    amount paid: a bill the CRM raised after the invoice is not settled by the old sum)."""
    if request_id is None:
        return False
    condition = (PaymentRequest.id == request_id) & (PaymentRequest.status == OPEN)
    if amount is not None:
        condition &= PaymentRequest.amount == amount
    return bool(PaymentRequest.update(status=PAID, paid_at=utcnow(), updated=utcnow(),
                                      payment_id=payment_id).where(condition).execute())


def settle_request(app, request_id: int, by) -> PaymentRequest:
    """Mark a request paid outside the bot (office, bank); notify per notify.user.task_is_paid."""
    who = _requester(app.settings, by)
    with write_tx():
        request = PaymentRequest.get_or_none(PaymentRequest.id == int(request_id))
        if request is None:
            raise directory.NotFound(f"payment request {request_id} does not exist")
        if settle_open(request.id, None):
            log.info("payment request %s settled outside the bot by %s", request.id, who)
            notify_author(app, request.ticket, "pay/notify_task_paid",
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
