"""What each outbox entity sends to the CRM: the current rows of a counterparty, trade
point, contact person, ticket or payment as an integrations.crm record, the parents whose
older items must go first (a ticket never reaches the CRM before its company), and the ids
the CRM's answer writes back. Registered through the one registry (`registry.sync_entity`).
"""
from __future__ import annotations

from dataclasses import replace

from engine.errors import IntegrationError
from helpdesk.directory.tables import CONFIRMED, ContactPerson, Counterparty, Membership, TradePoint
from helpdesk.registry import registry
from integrations.crm import Company, ContactData, PaymentData, TicketData
from integrations.crm import TradePoint as CrmTradePoint

from . import batch_sql, identity, outbox
from .outbox import OutboxItem
from .push import Skip

__all__ = ["company_record", "ticket_record"]


def _row(model, item: OutboxItem):
    row = model.get_or_none(model.id == item.entity_id)
    if row is None:
        raise Skip(f"{item.entity} {item.entity_id} no longer exists")
    return row


def company_record(cp: Counterparty, trade_points: list | None = None) -> Company:
    """The company as the CRM record; `trade_points` already read (a batch), else read now."""
    if trade_points is None:
        trade_points = list(cp.trade_points.order_by(TradePoint.id))
    points = [CrmTradePoint(t.crm_id, t.name, t.address or "", contract_crm_id=t.contract_crm_id)
              for t in trade_points]
    return Company(name=cp.name, inn=cp.inn, kpp=cp.kpp or "", ogrn=cp.ogrn or "",
                   address=cp.legal_address or "", crm_id=cp.crm_id, trade_points=points,
                   contract_crm_id=cp.contract_crm_id)


def _set_crm_id(model, row_id: int, crm_id: str | None) -> None:
    """Store the CRM's id; one already taken by another row is a conflict the operator sees."""
    if not crm_id:
        return
    owner = model.get_or_none(model.crm_id == crm_id)
    if owner is not None and owner.id != row_id:
        raise IntegrationError("crm", f"crm id {crm_id} already belongs to "
                                      f"{model.__name__} {owner.id}", retryable=False)
    model.update(crm_id=crm_id).where(model.id == row_id).execute()


def _trade_point_parents(item: OutboxItem) -> list[tuple[str, int]]:
    tp = TradePoint.get_or_none(TradePoint.id == item.entity_id)
    return [("counterparty", tp.counterparty_id)] if tp else []


def _contact_parents(item: OutboxItem) -> list[tuple[str, int]]:
    c = ContactPerson.get_or_none(ContactPerson.id == item.entity_id)
    return [("counterparty", c.counterparty_id)] if c else []


def _companies(items: list[OutboxItem]) -> dict[int, Company]:
    """A batch's companies in two queries (rows, trade points); a gone row is left out
    (built alone, it is the item's Skip)."""
    rows = {c.id: c for c in Counterparty.select()
            .where(Counterparty.id.in_({i.entity_id for i in items}))}
    points: dict[int, list] = {cid: [] for cid in rows}
    for t in (TradePoint.select().where(TradePoint.counterparty.in_(list(rows)))
              .order_by(TradePoint.id)):
        points[t.counterparty_id].append(t)
    return {i.id: company_record(rows[i.entity_id], points[i.entity_id])
            for i in items if i.entity_id in rows}


def _set_crm_ids(model, pairs: list[tuple[OutboxItem, str | None]]) -> None:
    """`_set_crm_id` for a batch in two statements; any id already taken raises (the
    batch is then written back item by item, so the conflict is that item's alone)."""
    wanted = {item.entity_id: crm_id for item, crm_id in pairs if crm_id}
    if len(set(wanted.values())) < len(wanted):
        raise IntegrationError("crm", "one crm id answered for two rows", retryable=False)
    if not wanted:
        return
    table = model._meta.table_name
    owners = batch_sql.execute(
        f'SELECT "id", "crm_id" FROM "{table}" WHERE "crm_id" IN ({batch_sql.marks(len(wanted))})',
        list(wanted.values())).fetchall()
    if any(wanted.get(row_id) != crm_id for row_id, crm_id in owners):
        raise IntegrationError("crm", "a crm id already belongs to another row", retryable=False)
    batch_sql.update_case(table, "crm_id", wanted)


@registry.sync_entity(
    "counterparty", Company,
    send=lambda crm, rec, key: crm.upsert_counterparty(rec, idempotency_key=key),
    write_back=lambda item, crm_id: _set_crm_id(Counterparty, item.entity_id, crm_id),
    build_many=_companies, write_back_many=lambda pairs: _set_crm_ids(Counterparty, pairs))
def _counterparty(item: OutboxItem) -> Company:
    return company_record(_row(Counterparty, item))


@registry.sync_entity(
    "trade_point", Company,
    send=lambda crm, rec, key: crm.upsert_counterparty(rec, idempotency_key=key),
    parents=_trade_point_parents)
def _trade_point_company(item: OutboxItem) -> Company:
    return company_record(_row(TradePoint, item).counterparty)


@registry.sync_entity(
    "contact", ContactData,
    send=lambda crm, rec, key: crm.upsert_contact(rec, idempotency_key=key),
    parents=_contact_parents,
    write_back=lambda item, crm_id: _set_crm_id(ContactPerson, item.entity_id, crm_id))
def _contact(item: OutboxItem) -> ContactData:
    c = _row(ContactPerson, item)
    return ContactData(full_name=c.full_name, phone=c.phone or "",
                       company_crm_id=c.counterparty.crm_id, post=c.position or "",
                       role=c.role, crm_id=c.crm_id)


def _ticket_model():
    from helpdesk.tickets import Ticket
    return Ticket


def _author_crm_id(ticket) -> str | None:
    if ticket.counterparty_id is None:
        return None
    m = (Membership.select(Membership, ContactPerson).join(ContactPerson)
         .where((Membership.telegram_user == ticket.author_id)
                & (Membership.counterparty == ticket.counterparty_id)
                & (Membership.status == CONFIRMED)).first())     # an unproven link is nobody
    return (m.contact.person_crm_id or m.contact.crm_id) if m else None


def _ticket_parents(item: OutboxItem) -> list[tuple[str, int]]:
    t = _ticket_model().get_or_none(_ticket_model().id == item.entity_id)
    return [("counterparty", t.counterparty_id)] if t and t.counterparty_id else []


def _ticket_write_back(item: OutboxItem, answer) -> None:
    """The CRM's id and number through the one identity rule (helpdesk.sync.identity): an
    answer naming another id than the ticket's is an IdentityConflict (the item goes dead,
    the operator is told), a new or changed number a history event."""
    if not answer:
        return
    crm_id, number = answer
    try:
        identity.link_ticket(item.entity_id, crm_id, number)
    except identity.IdentityConflict as e:
        raise IntegrationError("crm", str(e), retryable=False) from None


def _ticket_refresh(item: OutboxItem, record: TicketData) -> TicketData:
    """A body frozen before tickets carried their guid (an item queued across the upgrade)
    is sent under the ticket's fixed guid too, the one `nonSync` has shown 1C."""
    if record.bot_guid:
        return record
    t = _ticket_model().get_or_none(_ticket_model().id == item.entity_id)
    return replace(record, bot_guid=identity.ticket_guid(t)) if t else record


@registry.sync_entity(
    "ticket", TicketData,
    send=lambda crm, rec, key: crm.upsert_ticket(rec, idempotency_key=key),
    parents=_ticket_parents, write_back=_ticket_write_back, refresh=_ticket_refresh)
def _ticket(item: OutboxItem) -> TicketData:
    return ticket_record(_row(_ticket_model(), item),
                         comment=outbox.payload_of(item).get("comment") or "")


def ticket_record(t, comment: str = "") -> TicketData:
    """A ticket as the CRM record (pushes, and the 1C `/api` task reads): the bot's status
    and type name (the 1C adapter maps them to 1C's guids), the technician as 1C's
    manager, the contract of its trade point or company, and what 1C last said of it
    (decision, isBilling) from the body 1C last sent."""
    cp, tp = t.counterparty, t.trade_point
    sent = _sent_body("task", t.crm_id)
    return TicketData(
        description=t.description, company_crm_id=cp.crm_id if cp else None,
        trade_point_crm_id=tp.crm_id if tp else None, author_crm_id=_author_crm_id(t),
        crm_id=t.crm_id, number=t.crm_number, status=t.status, type=t.type,
        master_crm_id=_master_crm_id(t, sent), decision=str(sent.get("decision") or ""),
        comment=comment, created_at=t.created, closed_at=t.closed,
        contract_crm_id=(tp.contract_crm_id if tp else None) or (cp.contract_crm_id if cp else None),
        is_billing=bool(sent.get("isBilling")), high_priority=bool(sent.get("highPriority")),
        bot_guid=identity.ticket_guid(t))


def _sent_body(entity: str, guid: str | None) -> dict:
    """The object as 1C last sent it to the bot's /api ({} when it never did)."""
    from helpdesk.api.onec_record import OneCRecord
    rec = OneCRecord.get_or_none((OneCRecord.entity == entity) & (OneCRecord.guid == guid)) \
        if guid else None
    body = rec.body if rec else {}
    return body if isinstance(body, dict) else {}


def _master_crm_id(t, sent: dict) -> str | None:
    """The technician as 1C's manager: the one 1C assigned, while the name is still theirs,
    else the manager of 1C's list with the ticket's technician's name."""
    from . import references
    if not t.master_name:
        return None
    assigned = str(sent.get("guidManager") or "") or None
    if assigned and references.manager_name(assigned) in (t.master_name, None):
        return assigned
    return references.manager_guid(t.master_name)


def _payment_model():
    from helpdesk.payments.tables import Payment
    return Payment


def _payment_parents(item: OutboxItem) -> list[tuple[str, int]]:
    p = _payment_model().get_or_none(_payment_model().id == item.entity_id)
    ids = [("counterparty", p.counterparty_id), ("ticket", p.ticket_id)] if p else []
    return [(e, i) for e, i in ids if i is not None]


@registry.sync_entity(
    "payment", PaymentData,
    send=lambda crm, rec, key: crm.report_payment(rec, idempotency_key=key),
    parents=_payment_parents)
def _payment(item: OutboxItem) -> PaymentData:
    """A recorded payment (helpdesk.payments.Payment), reported once: the reference is
    Telegram's charge id, the ticket's number is the CRM's when it has one."""
    p = _row(_payment_model(), item)
    t, cp = p.ticket, p.counterparty
    return PaymentData(
        amount_kopecks=p.amount, company_crm_id=cp.crm_id if cp else None,
        paid_at=p.paid_at or p.created, ticket_number=(t.crm_number or str(t.number)) if t else None,
        ticket_crm_id=t.crm_id if t else None, reference=p.telegram_payment_charge_id or "",
        method=p.method, comment=p.note or "")
