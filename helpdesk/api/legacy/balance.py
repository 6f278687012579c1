"""1C's balance calls: `GET /api/balance?inn=&guidPartner=` and `PUT /api/balance {guid,
inn, kpp, amount}` (absolute kopecks: a repeat sets the same value, never counted twice).

The partner is the one 1C's `guid` names; without a guid (1C sends "" for a partner it has
not linked), the one with this INN and KPP, as the original did. A KPP that differs from
the stored one is another branch of the company (обособленное подразделение): its balance
is refused, never written over the head office's."""
from __future__ import annotations

from engine.storage import write_tx
from helpdesk import directory
from helpdesk.directory.tables import Counterparty

from .. import apply
from .records import guid_of, resolve
from .wire import BalanceBody, ok, refused

__all__ = ["get_balance", "put_balance"]


def _kpp_matches(cp: Counterparty, kpp: str | None) -> bool:
    return not kpp or not cp.kpp or cp.kpp == kpp


def _balance_target(guid: str | None, inn: str | None, kpp: str | None = None) -> Counterparty | None:
    cp = resolve("partner", guid) if guid else None
    if cp is None and inn:
        found = directory.find_counterparty_by_inn(inn)
        cp = found if found is not None and _kpp_matches(found, kpp) else None
    return cp


def _balance_json(cp: Counterparty) -> dict:
    return {"guid": guid_of("partner", cp), "inn": cp.inn, "kpp": cp.kpp or "",
            "amount": str(cp.balance)}


def balance_rows(partners: list[Counterparty]) -> list[dict]:
    """The bundle's `balance` list: one absolute balance per partner."""
    return [_balance_json(cp) for cp in partners]


def get_balance(inn: str | None, guid: str | None):
    cp = _balance_target(guid, inn)
    if cp is None:
        return refused(404, "partner not found")
    return ok(entity=_balance_json(cp), list=[_balance_json(cp)])


def _target_or_refuse(body: BalanceBody) -> Counterparty:
    if not body.guid and not body.inn:
        raise apply.ApplyError("guid", "a balance names its partner by guid, or by inn and kpp")
    cp = _balance_target(body.guid, body.inn, body.kpp)
    if cp is not None:
        return cp
    if body.guid:
        raise apply.NotFound("guid", "no partner with this guid or INN")
    raise apply.NotFound("inn", "no partner with this INN and KPP")


def put_balance(body: BalanceBody):
    """Set the absolute balance; a repeat sets the same value (never counted twice)."""
    with write_tx():
        cp = apply.set_balance(_target_or_refuse(body), body.amount)
    return ok(entity=_balance_json(cp))
