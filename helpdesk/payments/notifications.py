"""Who is told what about payments, per settings notify.*: the ticket's author asked to pay
(with a Pay button) and told a request was settled; after a payment, the work group, the
ticket's author and the company's balance viewers (other than the payer). Unique keys, so a
retry never sends twice. Queued through helpdesk.notices, in each recipient's language.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from helpdesk import directory
from helpdesk.directory.roles import Right
from helpdesk.notices import queue_notice
from helpdesk.registry import registry
from helpdesk.tickets.tables import Ticket

from .methods import payable
from .tables import LATE_NOTE, TICKET, TOPUP, Payment, PaymentRequest

if TYPE_CHECKING:      # recording imports requests, which imports this module
    from .recording import Recorded

__all__ = ["PAY_CALLBACK", "payment_vars", "request_vars", "notify_paid", "notify_need_to_pay",
           "notify_author"]
# written by jobs and the CRM's changes, outside any action: checked and traced
registry.register_texts("payment notices", ("pay/notify_need_to_pay", "pay/btn_pay"))


PAY_CALLBACK = "pay"       # inline button "pay:<request id>" (helpdesk.actions.payments)


def request_vars(request: PaymentRequest) -> dict:
    ticket = request.ticket
    return {"id": request.id, "amount": request.amount, "currency": request.currency,
            "status": request.status, "ticket": {"id": ticket.id, "label": ticket.label,
                                                 "number": ticket.number, "type": ticket.type}}


def _templates(app):
    return app.engine.flowset.templates


def notify_need_to_pay(app, request: PaymentRequest, ticket: Ticket) -> None:
    s = app.settings
    if not (s.pay.use and s.notify.user.use and s.notify.user.need_to_pay_task):
        return
    # the Pay button only when a method can take money (payable): else the notice informs
    buttons = [[("pay/btn_pay", f"{PAY_CALLBACK}:{request.id}")]] if payable(s) else []
    queue_notice(_templates(app), ticket.author_id, "pay/notify_need_to_pay",
                 {"request": request_vars(request)}, key=f"payreq:{request.id}:{request.amount}",
                 buttons=buttons)


def notify_author(app, ticket: Ticket, template: str, key: str, enabled: bool, **vars_) -> None:
    s = app.settings
    if not (enabled and s.notify.user.use):
        return
    queue_notice(_templates(app), ticket.author_id, template, vars_, key=key)


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
        queue_notice(templates, s.notify.system.work_group_id, "pay/notify_group_paid", vars_,
                     key=f"payment:{p.id}:group", lang=templates.default)
    if not (s.notify.user.use and recorded.matched):
        return
    for user_id, template in _paid_recipients(s, p, recorded.credited):
        queue_notice(templates, user_id, template, vars_, key=f"payment:{p.id}:user:{user_id}")


def _paid_recipients(s, p: Payment, credited: bool) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    if p.kind == TICKET and p.ticket_id and s.notify.user.task_is_paid and not credited:
        out.append((p.ticket.author_id, "pay/notify_task_paid_by"))
    if p.counterparty_id and (p.kind == TOPUP or credited) and s.notify.user.balance_replenished:
        viewers = directory.company_people(p.counterparty_id, right=Right.VIEW_COMPANY_BALANCE)
        out += [(m.telegram_user_id, "pay/notify_balance_replenished") for m in viewers]
    seen = {p.telegram_user}
    return [(u, t) for u, t in out if not (u in seen or seen.add(u))]
