"""Rows as the API's answer bodies (helpdesk.api.schemas *Out models)."""
from __future__ import annotations

from typing import Any

from helpdesk.directory.tables import ContactPerson, Counterparty, TradePoint

from . import schemas

__all__ = ["counterparty", "trade_point", "contact", "ticket", "balance", "payment", "VIEWS"]


def trade_point(tp: TradePoint) -> schemas.TradePointOut:
    return schemas.TradePointOut(id=tp.id, crm_id=tp.crm_id, name=tp.name, address=tp.address)


def counterparty(cp: Counterparty) -> schemas.CounterpartyOut:
    points = [trade_point(t) for t in cp.trade_points.order_by(TradePoint.id)]
    return schemas.CounterpartyOut(id=cp.id, crm_id=cp.crm_id, inn=cp.inn, kpp=cp.kpp,
                                   ogrn=cp.ogrn, name=cp.name, address=cp.legal_address,
                                   balance_kopecks=cp.balance, trade_points=points)


def contact(c: ContactPerson) -> schemas.ContactOut:
    return schemas.ContactOut(id=c.id, crm_id=c.crm_id, counterparty_id=c.counterparty_id,
                              full_name=c.full_name, phone=c.phone, post=c.position,
                              role=c.role)


def ticket(t) -> schemas.TicketOut:
    return schemas.TicketOut(id=t.id, number=t.number, crm_id=t.crm_id, crm_number=t.crm_number,
                             counterparty_id=t.counterparty_id, trade_point_id=t.trade_point_id,
                             type=t.type, description=t.description, status=t.status,
                             master=t.master_name, created=t.created, updated=t.updated,
                             closed=t.closed, version=t.version)


def balance(cp: Counterparty) -> schemas.BalanceOut:
    return schemas.BalanceOut(counterparty_id=cp.id, crm_id=cp.crm_id, balance_kopecks=cp.balance)


def payment(p) -> dict[str, Any]:
    return {"id": p.id, "kind": p.kind, "method": p.method, "amount_kopecks": p.amount,
            "currency": p.currency, "status": p.status, "counterparty_id": p.counterparty_id,
            "ticket_id": p.ticket_id, "telegram_user_id": p.telegram_user,
            "reference": p.telegram_payment_charge_id,
            "paid_at": p.paid_at.isoformat() if p.paid_at else None}


def _ticket_row(entity_id: int):
    from helpdesk.tickets import Ticket
    return Ticket.get_or_none(Ticket.id == entity_id)


def _payment_row(entity_id: int):
    from helpdesk.payments import Payment
    return Payment.get_or_none(Payment.id == entity_id)


def _data(row, view) -> dict:
    if row is None:
        return {}
    value = view(row)
    return value if isinstance(value, dict) else value.model_dump(mode="json")


# outbox entity -> (row by id, view): what the changes feed shows as `data`
VIEWS = {
    "counterparty": (lambda i: Counterparty.get_or_none(Counterparty.id == i), counterparty),
    "trade_point": (lambda i: TradePoint.get_or_none(TradePoint.id == i), trade_point),
    "contact": (lambda i: ContactPerson.get_or_none(ContactPerson.id == i), contact),
    "ticket": (_ticket_row, ticket),
    "payment": (_payment_row, payment),
}


def data_of(entity: str, entity_id: int) -> dict:
    """The record now, as JSON; {} when it is gone or the entity has no view."""
    if entity not in VIEWS:
        return {}
    row_of, view = VIEWS[entity]
    return _data(row_of(entity_id), view)
