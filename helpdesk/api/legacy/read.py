"""1C's reads: bot rows as 1C objects (the stored body's extra fields kept), one by guid or
a filtered list (`nonSync=true`: the records 1C has not accepted yet).

Partner reads answer the bundle `{partners, departments, contracts, balance}` as the
original did (`GET /api/partner?guid=`, `GET /api/partners?inn=`, `?nonSync=true`): the
partners with their trade points, the contracts 1C sent for them and their absolute
balances. A lookup (guid, inn) that finds no partner is a 404 `{result: false}` (the
original: 200 with `result: false`, "Data not found"); a list with nothing in it (no
filter, `nonSync`) is an empty bundle."""
from __future__ import annotations

from helpdesk import directory
from helpdesk.directory.tables import Counterparty, TradePoint
from helpdesk.sync.references import ReferenceBook
from integrations.crm.onec import task_body

from ..onec_record import OneCRecord
from .balance import balance_rows
from .records import extras, guid_of, model_of, resolve, stored
from .wire import DATE_FORMAT, EMPTY_DATE, ok, refused

__all__ = ["get_one", "get_list", "as_1c", "partner_bundle"]


_MAX_ROWS = 5000        # a read answers at most this many rows per list (the bundle's too)


_MAX_PARTNERS = 1000    # partners per bundle: what POST /api/partner accepts in one


def _date(value) -> str:
    return value.strftime(DATE_FORMAT) if value else EMPTY_DATE


def _partner_json(cp: Counterparty) -> dict:
    guid = guid_of("partner", cp)
    return extras("partner", guid) | {
        "guid": guid, "name": cp.name, "inn": cp.inn, "kpp": cp.kpp or "",
        "ogrn": cp.ogrn or "", "markedForDel": False}


def _department_json(tp: TradePoint) -> dict:
    guid = guid_of("department", tp)
    return extras("department", guid) | {
        "guid": guid, "name": tp.name, "guidPartner": guid_of("partner", tp.counterparty),
        "markedForDel": False}


def _task_json(t, refs: ReferenceBook) -> dict:
    """The original's Task, built by the same function as the task posted to 1C
    (integrations.crm.onec.task_body), with the bot's guids for records 1C has not
    accepted; a value the bot does not know ("") leaves the one 1C last sent."""
    from helpdesk.sync.records import ticket_record
    guid = guid_of("task", t)
    record = ticket_record(t)
    record.company_crm_id = guid_of("partner", t.counterparty) if t.counterparty_id else None
    record.trade_point_crm_id = guid_of("department", t.trade_point) if t.trade_point_id else None
    shape = task_body(record, guid, refs, _date)
    sent = extras("task", guid)
    known = {k: v for k, v in shape.items() if v not in ("", None) or k not in sent}
    return sent | known | {"botNumber": t.number, "status": t.status}



_JSON = {"partner": _partner_json, "department": _department_json}     # tasks: _task_json


def as_1c(entity: str, row, refs: ReferenceBook | None = None) -> dict:
    """A bot row as 1C's object; `refs` map a task's status and type to 1C's guids."""
    if entity == "task":
        return _task_json(row, refs or ReferenceBook(None))
    return _JSON[entity](row)


def partner_bundle(partners: list[Counterparty]) -> dict:
    """The original's PartnerDataResponse: the partners, their trade points, the contracts
    1C sent for them (kept as sent) and their balances."""
    guids = {guid_of("partner", cp) for cp in partners}
    points = (TradePoint.select().where(TradePoint.counterparty.in_([cp.id for cp in partners]))
              .order_by(TradePoint.id).limit(_MAX_ROWS)) if partners else []
    contracts = [b for b in _contracts_of(guids) if b.get("guidPartner") in guids]
    return {"partners": [as_1c("partner", cp) for cp in partners],
            "departments": [as_1c("department", tp) for tp in points],
            "contracts": contracts, "balance": balance_rows(partners)}


def _contracts_of(guids: set[str]) -> list[dict]:
    """Contracts kept as sent that may belong to these partners: for a few partners only
    the rows whose text holds one of their guids are read (the exact check follows)."""
    rows = OneCRecord.select().where((OneCRecord.entity == "contract")
                                     & (OneCRecord.marked_for_del == False))  # peewee SQL: keep ==
    if not guids:
        return []
    if len(guids) <= 20:
        holds = [OneCRecord.data.contains(g) for g in sorted(guids)]
        cond = holds[0]
        for h in holds[1:]:
            cond |= h
        rows = rows.where(cond)
    return [r.body for r in rows.order_by(OneCRecord.id).limit(_MAX_ROWS)]


def _partners(f: dict, non_sync: bool) -> list[Counterparty] | None:
    """The partners a read means; None when a lookup (inn, guidPartner) finds none."""
    if f.get("guidPartner"):
        cp = resolve("partner", f["guidPartner"])
        return [cp] if cp is not None and (cp.inn == f.get("inn") or not f.get("inn")) else None
    query = Counterparty.select().order_by(Counterparty.id)
    if non_sync:
        query = query.where(Counterparty.crm_id.is_null())
    if f.get("inn"):
        query = query.where(Counterparty.inn == f["inn"])
    rows = list(query.limit(_MAX_PARTNERS))
    return None if f.get("inn") and not rows else rows


def get_partners(filters: dict, non_sync: bool):
    partners = _partners(filters, non_sync)
    if partners is None:
        return refused(404, "Data not found: no partner with this inn / guidPartner")
    return ok(**partner_bundle(partners))


def get_one(entity: str, guid: str, settings=None):
    if entity == "partner":
        return get_partners({"guidPartner": guid}, False)
    row = resolve(entity, guid)
    if row is not None:
        return ok(entity=as_1c(entity, row, ReferenceBook(settings, memo=True)))
    rec = stored(entity, guid)
    if rec is None or rec.marked_for_del:
        return refused(404, f"{entity} {guid} not found")
    return ok(entity=rec.body)


def _domain_rows(entity: str, f: dict, non_sync: bool, settings=None) -> list:
    model = model_of(entity)
    query = model.select().order_by(model.id)
    if non_sync:
        query = query.where(model.crm_id.is_null())
    if entity in ("department", "task") and f.get("guidPartner"):
        cp = resolve("partner", f["guidPartner"])
        query = query.where(model.counterparty == (cp.id if cp else -1))
    if entity == "task":
        query = _task_filter(query, f)
    refs = ReferenceBook(settings, memo=True)        # one request: read each mapping once
    return [as_1c(entity, r, refs) for r in query.limit(_MAX_ROWS)]


def _task_filter(query, f: dict):
    from helpdesk.tickets import ACTIVE, Ticket
    query = query.where(Ticket.status.in_(ACTIVE))
    if f.get("guidDepartment"):
        tp = resolve("department", f["guidDepartment"])
        query = query.where(Ticket.trade_point == (tp.id if tp else -1))
    return query


def _stored_rows(entity: str, f: dict) -> list:
    rows = OneCRecord.select().where((OneCRecord.entity == entity)
                                     & (OneCRecord.marked_for_del == False))  # peewee SQL: keep ==
    bodies = [r.body for r in rows.order_by(OneCRecord.id).limit(_MAX_ROWS)]
    return [b for b in bodies if all(str(b.get(k) or "") == v for k, v in f.items() if v)]


_BY_PARTNER = ("department", "contract", "bankDoc", "cardDoc", "cashDoc")


_NO_PARTNER = "(no partner with this INN)"    # a guidPartner nothing has: an empty list


def _inn_as_partner(entity: str, f: dict) -> dict:
    """`inn=` on a partner's departments, contracts and documents means "of the partner with
    this INN", as the original read it (their bodies carry guidPartner, not the INN)."""
    if entity not in _BY_PARTNER or not f.get("inn"):
        return f
    cp = directory.find_counterparty_by_inn(f["inn"])
    return f | {"inn": None, "guidPartner": guid_of("partner", cp) if cp else _NO_PARTNER}


def get_list(entity: str, filters: dict, non_sync: bool, settings=None):
    if entity == "partner":
        return get_partners(filters, non_sync)
    filters = _inn_as_partner(entity, filters)
    if model_of(entity) is not None:
        items = _domain_rows(entity, filters, non_sync, settings)
        if entity == "task" and filters.get("guidManager"):
            items = [t for t in items if t.get("guidManager") == filters["guidManager"]]
        return ok(list=items)
    return ok(list=[] if non_sync else _stored_rows(entity, filters))
