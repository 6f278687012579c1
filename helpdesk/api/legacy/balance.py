"""1C's balance calls: `GET /api/balance?inn=&guidPartner=` and `PUT /api/balance {guid,
inn, kpp, amount}` (absolute kopecks: a repeat sets the same value, never counted twice)."""
from __future__ import annotations

from engine.storage import write_tx
from helpdesk import directory
from helpdesk.directory.tables import Counterparty

from .. import apply
from .records import guid_of, resolve
from .wire import BalanceBody, ok, refused

__all__ = ["get_balance", "put_balance"]


def _balance_target(guid: str | None, inn: str | None) -> Counterparty | None:
    cp = resolve("partner", guid) if guid else None
    if cp is None and inn:
        cp = directory.find_counterparty_by_inn(inn)
    return cp


def _balance_json(cp: Counterparty) -> dict:
    return {"guid": guid_of("partner", cp), "inn": cp.inn, "kpp": cp.kpp or "",
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
