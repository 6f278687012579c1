"""1C's writes: partner -> Counterparty, department -> TradePoint, task -> a Ticket
(status from markedForDel, closingDate, else guidStatus through 1C's status list and
crm.statuses; technician from the manager's name in 1C's list; 1C guid and code linked;
1C's comment and decision on the card), each in one transaction with the body kept as
sent. Partners and departments keep their contract's guid (guidDefaultContract,
guidContract). A task 1C created for people who use the bot becomes their ticket
(incoming.py); one for nobody the bot knows is kept as sent only.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from engine.storage import write_tx
from helpdesk import directory
from helpdesk.directory.tables import Counterparty, TradePoint
from helpdesk.sync import references

from .. import apply, schemas
from . import incoming
from .balance import put_balance
from .records import body_row, extras, resolve, store, store_rows, stored
from .wire import EMPTY_DATE, OneCObject, PartnerBody, ok, refused

__all__ = ["upsert", "upsert_bundle", "delete"]


def _partner(obj: OneCObject, guid: str):
    row = resolve("partner", guid)
    inn = obj.inn or (row.inn if row else None)
    if not inn:
        raise apply.ApplyError("inn", "a new partner needs its INN")
    if row is not None and row.crm_id != guid:
        row.crm_id = guid   # 1C accepted a record the bot created: link it
        row.save()
    cp, _ = directory.upsert_counterparty(inn=inn, name=obj.name or None, kpp=obj.kpp or None,
                                          ogrn=obj.ogrn or None, crm_id=guid,
                                          contract_crm_id=_guid_field(obj, "guidDefaultContract"))
    return cp


def _guid_field(obj: OneCObject, name: str) -> str | None:
    """A guid among the fields kept as sent (not checked by OneCObject): text up to 64."""
    value = getattr(obj, name, None)
    return value.strip() if isinstance(value, str) and 0 < len(value.strip()) <= 64 else None


def _contract(obj: OneCObject) -> None:
    """A contract of a partner that names none as its default becomes its contract."""
    cp = resolve("partner", obj.guidPartner) if obj.guidPartner else None
    if cp is not None and not cp.contract_crm_id and obj.guid and not obj.markedForDel:
        (Counterparty.update(contract_crm_id=obj.guid)
         .where((Counterparty.id == cp.id) & Counterparty.contract_crm_id.is_null()).execute())


def _department(obj: OneCObject, guid: str):
    row = resolve("department", guid)
    cp = resolve("partner", obj.guidPartner) if obj.guidPartner else (
        row.counterparty if row else None)
    if cp is None:
        raise apply.NotFound("guidPartner", f"no partner {obj.guidPartner!r}")
    if row is not None and row.crm_id != guid:
        TradePoint.update(crm_id=guid).where(TradePoint.id == row.id).execute()
    name = obj.name or (row.name if row else "")
    tp, _ = directory.upsert_trade_point(cp, name=name, crm_id=guid,
                                         contract_crm_id=_guid_field(obj, "guidContract"))
    return tp


def _manager_name(guid: str | None) -> str | None:
    """The technician 1C assigned: its manager list (defaultData), else a manager it pushed."""
    if not guid:
        return None
    body = extras("manager", guid)
    return references.manager_name(guid) or str(body.get("name") or "")[:300] or None


def _is_date(value: str | None) -> bool:
    """A closingDate that is a date (1C's `2024-05-01T10:00:00`): blanks, "null" and junk
    close nothing."""
    try:
        datetime.fromisoformat(str(value or "").strip()[:19])
    except ValueError:
        return False
    return True


def _status(app, obj: OneCObject) -> str | None:
    """markedForDel cancels, a closingDate closes, else 1C's guidStatus (crm.statuses)."""
    if obj.markedForDel:
        return "cancelled"
    if _is_date(obj.closingDate) and not obj.closingDate.strip().startswith(EMPTY_DATE[:10]):
        return "done"
    return references.bot_status(getattr(app, "settings", None), _guid_field(obj, "guidStatus"))


def _task(app, obj: OneCObject, guid: str):
    ticket = resolve("task", guid)
    if ticket is None and obj.code:
        from helpdesk.tickets import Ticket
        ticket = Ticket.get_or_none(Ticket.crm_number == obj.code)
    status, master = _status(app, obj), _manager_name(obj.guidManager)
    if ticket is None:       # created in 1C: a ticket when it is for people of the bot
        return incoming.new_task(app, obj, guid, status=status or "new", master=master)
    patch = schemas.TicketPatch(status=status, master=master, crm_id=guid,
                                crm_number=obj.code or None)
    ticket = apply.patch_ticket(app, ticket, patch)
    incoming.record_notes(app, ticket, obj)
    return ticket


def _domain(app, entity: str, obj: OneCObject, guid: str) -> None:
    """The bot's own table, for the entities that have one."""
    if entity == "partner":
        _partner(obj, guid)
    elif entity == "department":
        _department(obj, guid)
    elif entity == "task":
        _task(app, obj, guid)
    elif entity == "contract":
        _contract(obj)


def upsert(app, entity: str, obj: OneCObject) -> dict:
    """Create or update by guid (a new guid when 1C sends none); one transaction. A task
    comes with its guid or the code of a ticket that has one: a task minted a new guid on
    every replay would be a new ticket each time."""
    guid = obj.guid or (_task_guid_by_code(obj.code) if entity == "task" else str(uuid.uuid4()))
    if guid is None:
        return refused(422, "guid: a task is sent with its 1C guid (or the code of a known one)")
    with write_tx():
        _domain(app, entity, obj, guid)
        rec = store(entity, obj, guid)
    return ok(guid=guid, code=rec.code or "")


def _task_guid_by_code(code: str | None) -> str | None:
    if not code:
        return None
    from helpdesk.tickets import Ticket
    found = Ticket.select(Ticket.crm_id).where(Ticket.crm_number == str(code)[:32]).scalar()
    return found or None


def upsert_bundle(app, body: PartnerBody) -> dict:
    """The partner bundle: partners, then departments and contracts, then balances, in one
    transaction; the bodies as sent are written in batches (`store_rows`)."""
    with write_tx():
        rows = []
        for entity, items in (("partner", body.partners), ("department", body.departments),
                              ("contract", body.contracts)):
            for obj in items or []:
                guid = obj.guid or str(uuid.uuid4())
                _domain(app, entity, obj, guid)
                rows.append(body_row(entity, obj, guid))
        store_rows(rows)
        for b in body.balance or []:
            put_balance(b)
        if body.inn or body.name:
            return upsert(app, "partner", OneCObject.model_validate(
                body.model_dump(exclude={"partners", "departments", "contracts", "balance"})))
    return ok(guid="", code="")


def delete(app, entity: str, guid: str):
    with write_tx():
        rec = stored(entity, guid)
        row = resolve(entity, guid)
        if rec is None and row is None:
            return refused(404, f"{entity} {guid} not found")
        if entity == "task" and row is not None and row.status != "cancelled":
            apply.patch_ticket(app, row, schemas.TicketPatch(status="cancelled"))
        if rec is not None:
            rec.marked_for_del = True
            rec.save()
        else:
            store(entity, OneCObject(guid=guid, markedForDel=True), guid)
    return ok()
