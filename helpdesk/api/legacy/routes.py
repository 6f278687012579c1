"""The `/api` routes of the 1C extension (FastAPI): per entity `GET /api/x?guid=`,
`GET /api/xs`, `POST|PUT /api/x`, `DELETE /api/x?guid=`, and the balance."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from .. import limits
from .balance import get_balance, put_balance
from .read import get_list, get_one
from .wire import ENTITIES, BalanceBody, OneCObject, PartnerBody
from .write import delete, upsert, upsert_bundle

__all__ = ["router"]


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
    def one(guid: GuidQuery, request: Request):
        return get_one(entity, guid, _hd(request).settings)

    @r.get(f"/{entity}s", summary=f"{entity} list (filters; nonSync=true: not in 1C yet)",
           operation_id=f"list_{entity}s")
    def many(request: Request, inn: Filter = None, guidPartner: Filter = None, guidManager: Filter = None,
             guidDepartment: Filter = None, nonSync: bool = False):
        filters = {"inn": inn, "guidPartner": guidPartner, "guidManager": guidManager,
                   "guidDepartment": guidDepartment}
        return get_list(entity, filters, nonSync, _hd(request).settings)

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
