"""The original product's `/api` paths (shared/seed/1c-contract.md, "1C -> bot"), so an
existing 1C:UNF extension works unchanged; only a token is now required (Bearer, the
`token` header or `?apiKey=`, see helpdesk.api.auth).

Per entity x (task, partner, department, contract, manager, taskType, taskStatus, bankDoc,
cardDoc, cashDoc): `GET /api/x?guid=`, `GET /api/xs` (filters; `nonSync=true`),
`POST|PUT /api/x` (upsert by guid), `DELETE /api/x?guid=` (marks deleted). `POST
/api/partner` also takes the bundle `{partners, departments, contracts, balance}`.
`GET /api/balance?inn=&guidPartner=`, `PUT /api/balance {guid, inn, kpp, amount}` (absolute).
Answers are the seed's envelope `{result, error, ...}`.

Where the bot has a table, 1C writes reach it: partner -> Counterparty, department ->
TradePoint, task -> an existing Ticket (status from closingDate / markedForDel, technician
from the manager's name, 1C guid and code linked). Every object 1C sends is also kept as
sent in `onec_record`, so the other entities (contracts, managers, statuses, documents) and
fields the bot has no column for read back unchanged. Records the bot created and 1C has
not accepted (`nonSync=true`) carry a bot-minted guid `b07000NN-0000-4000-8000-<id hex>`;
when 1C writes one back under that guid, the record is linked (its crm_id becomes it).
Tickets are created in the bot: a task 1C sends for a ticket the bot does not know is kept
in `onec_record` only.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

from engine.storage import write_tx
from helpdesk import directory
from helpdesk.directory.tables import Counterparty, TradePoint, utcnow

from . import apply, limits, schemas
from .onec_record import OneCRecord

__all__ = ["router", "ENTITIES", "OneCRecord", "OneCObject", "mint_guid", "DATE_FORMAT"]

ENTITIES = ("task", "partner", "department", "contract", "manager", "taskType",
            "taskStatus", "bankDoc", "cardDoc", "cashDoc")
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
EMPTY_DATE = "0001-01-01T00:00:00"
_MINT = {"partner": 1, "department": 2, "task": 3}
_MINTED = re.compile(r"^b07000(\d\d)-0000-4000-8000-([0-9a-f]{12})$")

Guid = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                        pattern=r"^[^\x00]+$")]


def _opt(n: int):
    return Annotated[str | None, Field(None, max_length=n)]


class OneCObject(BaseModel):
    """Any 1C object: the common fields are checked, every other field is kept as sent."""
    model_config = ConfigDict(extra="allow")
    guid: Guid | None = None
    code: _opt(32) = None
    name: _opt(500) = None
    markedForDel: bool = False
    inn: _opt(20) = None
    kpp: _opt(9) = None
    ogrn: _opt(15) = None
    guidPartner: _opt(64) = None
    guidDepartment: _opt(64) = None
    guidManager: _opt(64) = None
    description: _opt(3000) = None
    closingDate: _opt(40) = None

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value):
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class PartnerBody(OneCObject):
    """A partner, or the bundle {partners, departments, contracts, balance}."""
    partners: list[OneCObject] | None = Field(None, max_length=1000)
    departments: list[OneCObject] | None = Field(None, max_length=5000)
    contracts: list[OneCObject] | None = Field(None, max_length=5000)
    balance: list["BalanceBody"] | None = Field(None, max_length=1000)


class BalanceBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    guid: Guid | None = None
    inn: _opt(20) = None
    kpp: _opt(9) = None
    amount: Annotated[int | str, BeforeValidator(schemas.kopecks)] = Field(
        description="kopecks (the seed's contract: an integer sent as a string), as a number "
                    "or a string of digits; a fraction such as \"12.5\" is refused, not cut")


PartnerBody.model_rebuild()


def ok(**fields) -> dict:
    return {"result": True, "error": "", **fields}


def refused(status: int, message: str) -> JSONResponse:
    return JSONResponse({"result": False, "error": message}, status_code=status)


# ---- guids ------------------------------------------------------------------------------

def mint_guid(entity: str, row_id: int) -> str:
    """The guid a bot record shows 1C before 1C has accepted it."""
    return f"b07000{_MINT[entity]:02d}-0000-4000-8000-{row_id:012x}"


def _model(entity: str):
    if entity == "task":
        from helpdesk.tickets import Ticket
        return Ticket
    return {"partner": Counterparty, "department": TradePoint}.get(entity)


def _resolve(entity: str, guid: str | None):
    """The bot row 1C means by `guid` (its crm_id, or a guid the bot minted), or None."""
    model = _model(entity)
    if model is None or not guid:
        return None
    row = model.get_or_none(model.crm_id == guid)
    minted = _MINTED.match(guid)
    if row is None and minted and int(minted.group(1)) == _MINT[entity]:
        row = model.get_or_none(model.id == int(minted.group(2), 16))
    return row


def _guid_of(entity: str, row) -> str:
    return row.crm_id or mint_guid(entity, row.id)


# ---- the stored 1C bodies ---------------------------------------------------------------

def _record(entity: str, guid: str) -> OneCRecord | None:
    return OneCRecord.get_or_none((OneCRecord.entity == entity) & (OneCRecord.guid == guid))


def _row(entity: str, obj: OneCObject, guid: str, marked: bool | None = None) -> dict:
    data = json.dumps(obj.model_dump(mode="json") | {"guid": guid}, ensure_ascii=False)
    marked = obj.markedForDel if marked is None else marked
    return dict(entity=entity, guid=guid, code=obj.code, data=data, marked_for_del=marked,
                updated=utcnow())


_STORED = (OneCRecord.code, OneCRecord.data, OneCRecord.marked_for_del, OneCRecord.updated)
_BATCH = 100        # rows per INSERT: 600 parameters, inside every SQLite's limit


def _store(entity: str, obj: OneCObject, guid: str, marked: bool | None = None) -> OneCRecord:
    _store_rows([_row(entity, obj, guid, marked)])
    return _record(entity, guid)


def _store_rows(rows: list[dict]) -> None:
    """Upsert the bodies as sent, a hundred per statement (a bundle of 2,000 contracts is 20
    statements, not 4,000). The last of several rows with one guid wins, as if sent in turn."""
    unique = list({(r["entity"], r["guid"]): r for r in rows}.values())
    for start in range(0, len(unique), _BATCH):
        (OneCRecord.insert_many(unique[start:start + _BATCH])
         .on_conflict(conflict_target=[OneCRecord.entity, OneCRecord.guid], preserve=_STORED)
         .execute())


def _extras(entity: str, guid: str) -> dict:
    rec = _record(entity, guid)
    return rec.body if rec else {}


# ---- bot rows as 1C objects --------------------------------------------------------------

def _date(value) -> str:
    return value.strftime(DATE_FORMAT) if value else EMPTY_DATE


def _partner_json(cp: Counterparty) -> dict:
    guid = _guid_of("partner", cp)
    return _extras("partner", guid) | {
        "guid": guid, "name": cp.name, "inn": cp.inn, "kpp": cp.kpp or "",
        "ogrn": cp.ogrn or "", "markedForDel": False}


def _department_json(tp: TradePoint) -> dict:
    guid = _guid_of("department", tp)
    return _extras("department", guid) | {
        "guid": guid, "name": tp.name, "guidPartner": _guid_of("partner", tp.counterparty),
        "markedForDel": False}


def _task_json(t) -> dict:
    guid = _guid_of("task", t)
    return _extras("task", guid) | {
        "guid": guid, "code": t.crm_number or "", "botNumber": t.number,
        "date": _date(t.created), "description": t.description, "status": t.status,
        "guidPartner": _guid_of("partner", t.counterparty) if t.counterparty_id else "",
        "guidDepartment": _guid_of("department", t.trade_point) if t.trade_point_id else "",
        "closingDate": _date(t.closed), "markedForDel": t.status == "cancelled"}


_JSON = {"partner": _partner_json, "department": _department_json, "task": _task_json}


def _as_1c(entity: str, row) -> dict:
    return _JSON[entity](row)


# ---- reads ------------------------------------------------------------------------------

def get_one(entity: str, guid: str):
    row = _resolve(entity, guid)
    if row is not None:
        return ok(entity=_as_1c(entity, row))
    rec = _record(entity, guid)
    if rec is None or rec.marked_for_del:
        return refused(404, f"{entity} {guid} not found")
    return ok(entity=rec.body)


def _domain_rows(entity: str, f: dict, non_sync: bool) -> list:
    model = _model(entity)
    query = model.select().order_by(model.id)
    if non_sync:
        query = query.where(model.crm_id.is_null())
    if entity == "partner" and f.get("inn"):
        query = query.where(Counterparty.inn == f["inn"])
    if entity in ("department", "task") and f.get("guidPartner"):
        cp = _resolve("partner", f["guidPartner"])
        query = query.where(model.counterparty == (cp.id if cp else -1))
    if entity == "task":
        query = _task_filter(query, f)
    return [_as_1c(entity, r) for r in query.limit(5000)]


def _task_filter(query, f: dict):
    from helpdesk.tickets import ACTIVE, Ticket
    query = query.where(Ticket.status.in_(ACTIVE))
    if f.get("guidDepartment"):
        tp = _resolve("department", f["guidDepartment"])
        query = query.where(Ticket.trade_point == (tp.id if tp else -1))
    return query


def _stored_rows(entity: str, f: dict) -> list:
    rows = OneCRecord.select().where((OneCRecord.entity == entity)
                                     & (OneCRecord.marked_for_del == False))  # peewee SQL: keep ==
    bodies = [r.body for r in rows.order_by(OneCRecord.id).limit(5000)]
    return [b for b in bodies if all(str(b.get(k) or "") == v for k, v in f.items() if v)]


def get_list(entity: str, filters: dict, non_sync: bool):
    if _model(entity) is not None:
        items = _domain_rows(entity, filters, non_sync)
        if entity == "task" and filters.get("guidManager"):
            items = [t for t in items if t.get("guidManager") == filters["guidManager"]]
        return ok(list=items)
    return ok(list=[] if non_sync else _stored_rows(entity, filters))


# ---- writes -----------------------------------------------------------------------------

def _partner(obj: OneCObject, guid: str):
    row = _resolve("partner", guid)
    inn = obj.inn or (row.inn if row else None)
    if not inn:
        raise apply.ApplyError("inn", "a new partner needs its INN")
    if row is not None and row.crm_id != guid:
        row.crm_id = guid   # 1C accepted a record the bot created: link it
        row.save()
    cp, _ = directory.upsert_counterparty(inn=inn, name=obj.name or None, kpp=obj.kpp or None,
                                          ogrn=obj.ogrn or None, crm_id=guid)
    return cp


def _department(obj: OneCObject, guid: str):
    row = _resolve("department", guid)
    cp = _resolve("partner", obj.guidPartner) if obj.guidPartner else (
        row.counterparty if row else None)
    if cp is None:
        raise apply.NotFound("guidPartner", f"no partner {obj.guidPartner!r}")
    if row is not None and row.crm_id != guid:
        TradePoint.update(crm_id=guid).where(TradePoint.id == row.id).execute()
    name = obj.name or (row.name if row else "")
    tp, _ = directory.upsert_trade_point(cp, name=name, crm_id=guid)
    return tp


def _manager_name(guid: str | None) -> str | None:
    body = _extras("manager", guid) if guid else {}
    return str(body.get("name") or "")[:300] or None


def _task(app, obj: OneCObject, guid: str):
    ticket = _resolve("task", guid)
    if ticket is None and obj.code:
        from helpdesk.tickets import Ticket
        ticket = Ticket.get_or_none(Ticket.crm_number == obj.code)
    if ticket is None:
        return None
    closed = obj.closingDate and not obj.closingDate.startswith(EMPTY_DATE[:10])
    status = "cancelled" if obj.markedForDel else ("done" if closed else None)
    patch = schemas.TicketPatch(status=status, master=_manager_name(obj.guidManager),
                                crm_id=guid, crm_number=obj.code or None)
    return apply.patch_ticket(app, ticket, patch)


def _domain(app, entity: str, obj: OneCObject, guid: str) -> None:
    """The bot's own table, for the entities that have one."""
    if entity == "partner":
        _partner(obj, guid)
    elif entity == "department":
        _department(obj, guid)
    elif entity == "task":
        _task(app, obj, guid)


def upsert(app, entity: str, obj: OneCObject) -> dict:
    """Create or update by guid (a new guid when 1C sends none); one transaction."""
    guid = obj.guid or str(uuid.uuid4())
    with write_tx():
        _domain(app, entity, obj, guid)
        rec = _store(entity, obj, guid)
    return ok(guid=guid, code=rec.code or "")


def upsert_bundle(app, body: PartnerBody) -> dict:
    """The partner bundle: partners, then departments and contracts, then balances, in one
    transaction; the bodies as sent are written in batches (`_store_rows`)."""
    with write_tx():
        rows = []
        for entity, items in (("partner", body.partners), ("department", body.departments),
                              ("contract", body.contracts)):
            for obj in items or []:
                guid = obj.guid or str(uuid.uuid4())
                _domain(app, entity, obj, guid)
                rows.append(_row(entity, obj, guid))
        _store_rows(rows)
        for b in body.balance or []:
            put_balance(b)
        if body.inn or body.name:
            return upsert(app, "partner", OneCObject.model_validate(
                body.model_dump(exclude={"partners", "departments", "contracts", "balance"})))
    return ok(guid="", code="")


def delete(app, entity: str, guid: str):
    with write_tx():
        rec = _record(entity, guid)
        row = _resolve(entity, guid)
        if rec is None and row is None:
            return refused(404, f"{entity} {guid} not found")
        if entity == "task" and row is not None and row.status != "cancelled":
            apply.patch_ticket(app, row, schemas.TicketPatch(status="cancelled"))
        if rec is not None:
            rec.marked_for_del = True
            rec.save()
        else:
            _store(entity, OneCObject(guid=guid, markedForDel=True), guid)
    return ok()


# ---- balance ----------------------------------------------------------------------------

def _balance_target(guid: str | None, inn: str | None) -> Counterparty | None:
    cp = _resolve("partner", guid) if guid else None
    if cp is None and inn:
        cp = directory.find_counterparty_by_inn(inn)
    return cp


def _balance_json(cp: Counterparty) -> dict:
    return {"guid": _guid_of("partner", cp), "inn": cp.inn, "kpp": cp.kpp or "",
            "amount": str(cp.balance)}


def get_balance(inn: str | None, guid: str | None):
    cp = _balance_target(guid, inn)
    if cp is None:
        return refused(404, "partner not found")
    return ok(entity=_balance_json(cp), list=[_balance_json(cp)])


def put_balance(body: BalanceBody):
    """Set the absolute balance; a repeat sets the same value (never counted twice)."""
    with write_tx():
        cp = _balance_target(body.guid, body.inn)
        if cp is None:
            raise apply.NotFound("guid", "no partner with this guid or INN")
        cp = apply.set_balance(cp, body.amount)
    return ok(entity=_balance_json(cp))


# ---- routes -----------------------------------------------------------------------------

GuidQuery = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
Filter = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")]
_ENVELOPE = {401: {"description": "missing or wrong token"},
             404: {"description": "not found"},
             422: {"description": "invalid request; `error` names the field"}}


def router(auth) -> APIRouter:
    r = APIRouter(prefix="/api", dependencies=[auth], tags=["1C (seed contract)"],
                  responses=_ENVELOPE)
    _balance_routes(r)
    for entity in ENTITIES:
        _entity_routes(r, entity)
    return r


def _hd(request: Request):
    return request.app.state.helpdesk


def _balance_routes(r: APIRouter) -> None:
    @r.get("/balance", summary="A partner's balance (kopecks as a string)")
    def balance_get(inn: Filter = None, guidPartner: Filter = None):
        return get_balance(inn, guidPartner)

    @r.put("/balance", summary="Set a partner's absolute balance")
    def balance_put(body: BalanceBody, request: Request):
        return put_balance(limits.check(body, _hd(request).settings.api))


def _entity_routes(r: APIRouter, entity: str) -> None:
    body_model = PartnerBody if entity == "partner" else OneCObject

    @r.get(f"/{entity}", summary=f"One {entity} by guid", operation_id=f"get_{entity}")
    def one(guid: GuidQuery):
        return get_one(entity, guid)

    @r.get(f"/{entity}s", summary=f"{entity} list (filters; nonSync=true: not in 1C yet)",
           operation_id=f"list_{entity}s")
    def many(inn: Filter = None, guidPartner: Filter = None, guidManager: Filter = None,
             guidDepartment: Filter = None, nonSync: bool = False):
        filters = {"inn": inn, "guidPartner": guidPartner, "guidManager": guidManager,
                   "guidDepartment": guidDepartment}
        return get_list(entity, filters, nonSync)

    def write(body, request: Request):
        limits.check(body, _hd(request).settings.api)
        if entity == "partner" and (body.partners or body.departments or body.contracts
                                    or body.balance):
            return upsert_bundle(_hd(request), body)
        return upsert(_hd(request), entity, body)

    write.__annotations__["body"] = body_model   # a local class: give FastAPI the object
    r.post(f"/{entity}", summary=f"Create or update a {entity} by guid",
           operation_id=f"post_{entity}")(write)
    r.put(f"/{entity}", summary=f"Create or update a {entity} by guid",
          operation_id=f"put_{entity}")(write)

    @r.delete(f"/{entity}", summary=f"Mark a {entity} deleted", operation_id=f"delete_{entity}")
    def remove(guid: GuidQuery, request: Request):
        return delete(_hd(request), entity, guid)
