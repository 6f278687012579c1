"""Adapter for our own CRM contract, documented in docs/crm-api.md (any CRM can implement
it): JSON, bearer token, Idempotency-Key on every push, cursor-paged change feed.
Balances in answers are JSON integers of kopecks within MAX_KOPECKS (integrations.money);
anything else is a non-retryable IntegrationError naming the field."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any
from urllib.parse import quote

from engine.errors import IntegrationError

from ..http import IDEMPOTENCY_HEADER, JsonHttp, make_session
from ..money import KOPECKS, MAX_KOPECKS, MoneyError, parse_money
from .models import (
    Company,
    ContactData,
    Membership,
    PaymentData,
    Person,
    PersonErasure,
    TicketData,
    TradePoint,
)

__all__ = ["RestCrm", "CHANGES_PAGE"]

CHANGES_PAGE = 100


class RestCrm:
    """`CrmClient` over docs/crm-api.md.

    Args:
        url: base URL, e.g. `https://crm.example.com/bot-api/v1`.
        token: sent as `Authorization: Bearer <token>`.
        timeout, retries, backoff: as for `integrations.http.make_session`.
    """

    kind = "rest"

    def __init__(self, url: str, token: str, *, timeout: float = 10, retries: int = 3,
                 backoff: float = 0.5):
        if not url:
            raise ValueError("crm.url is required when crm.kind is rest")
        session = make_session(retries, backoff)
        session.headers["Authorization"] = f"Bearer {token}"
        session.headers["Accept"] = "application/json"
        self._http = JsonHttp("crm", url, session, timeout, secrets=(token,))

    def find_person(self, phone_e164: str) -> Person | None:
        body = self._get("persons", {"phone": phone_e164})
        items = body.get("items") or []
        return _person(items[0]) if items else None

    def get_balance(self, inn: str, crm_id: str | None) -> int | None:
        params = {"inn": inn, "counterparty_id": crm_id or ""}
        status, body = self._http.request("GET", "balance", params=params, allow=(404,))
        value = (body or {}).get("balance_kopecks") if status == 200 else None
        return None if value is None else _int(value, "balance_kopecks")

    def changes_since(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        body = self._get("changes", {"cursor": cursor or "", "limit": CHANGES_PAGE})
        items = body.get("items")
        if not isinstance(items, list):
            raise IntegrationError("crm", "GET changes: answer has no items list", retryable=True)
        return items, body.get("next_cursor") or cursor

    def upsert_counterparty(self, company: Company, *, idempotency_key: str) -> str | None:
        return self._upsert("counterparties", company.crm_id, _counterparty_json(company),
                            idempotency_key)["id"]

    def upsert_contact(self, contact: ContactData, *, idempotency_key: str) -> str | None:
        return self._upsert("contacts", contact.crm_id, _contact_json(contact),
                            idempotency_key)["id"]

    def upsert_ticket(self, ticket: TicketData, *, idempotency_key: str) -> tuple[str, str | None]:
        body = self._upsert("tickets", ticket.crm_id, _ticket_json(ticket), idempotency_key)
        return body["id"], body.get("number") or None

    def report_payment(self, payment: PaymentData, *, idempotency_key: str) -> str | None:
        return self._upsert("payments", None, _payment_json(payment), idempotency_key)["id"]

    def forget_person(self, erasure: PersonErasure, *, idempotency_key: str) -> str | None:
        return self._upsert("erasures", None, _wire(erasure), idempotency_key)["id"]

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, params: dict) -> dict:
        _, body = self._http.request("GET", path, params=params)
        if not isinstance(body, dict):
            raise IntegrationError("crm", f"GET {path}: answer is not an object", retryable=True)
        return body

    def _upsert(self, collection: str, crm_id: str | None, payload: dict, key: str) -> dict:
        method, path = ("PUT", f"{collection}/{quote(crm_id, safe='')}") if crm_id \
            else ("POST", collection)
        _, body = self._http.request(method, path, json=payload,
                                     headers={IDEMPOTENCY_HEADER: key})
        if not isinstance(body, dict) or not body.get("id"):
            raise IntegrationError("crm", f"{method} {collection}: answer has no id",
                                   retryable=True)
        return body


def _jsonable(data: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def _counterparty_json(c: Company) -> dict:
    return {"id": c.crm_id, "inn": c.inn, "kpp": c.kpp, "ogrn": c.ogrn, "name": c.name,
            "address": c.address,
            "trade_points": [{"id": t.crm_id, "name": t.name, "address": t.address}
                             for t in c.trade_points]}


def _contact_json(c: ContactData) -> dict:
    return {"id": c.crm_id, "full_name": c.full_name, "phone": c.phone,
            "counterparty_id": c.company_crm_id, "post": c.post, "role": c.role}


_WIRE_NAMES = {"crm_id": "id", "company_crm_id": "counterparty_id",
               "trade_point_crm_id": "trade_point_id", "author_crm_id": "author_id",
               "master_crm_id": "master_id", "ticket_crm_id": "ticket_id",
               "contact_crm_ids": "contact_ids"}


def _wire(record) -> dict:
    """A dataclass as the contract's JSON: our `*_crm_id` names become `*_id`."""
    return {_WIRE_NAMES.get(k, k): v for k, v in _jsonable(asdict(record)).items()}


_ONEC_ONLY = ("contract_crm_id", "is_billing")    # 1C's task fields docs/crm-api.md has not


def _ticket_json(t: TicketData) -> dict:
    return {k: v for k, v in _wire(t).items() if k not in _ONEC_ONLY}


def _payment_json(p: PaymentData) -> dict:
    data = _wire(p)
    data.pop("id")
    return data


def _person(p: dict) -> Person:
    return Person(full_name=p.get("full_name") or "", phone=p.get("phone") or "",
                  crm_id=p.get("id"), is_employee=bool(p.get("is_employee")),
                  memberships=[_membership(m) for m in p.get("memberships") or []])


def _membership(m: dict) -> Membership:
    return Membership(company=_company(m.get("counterparty") or {}), post=m.get("post") or "",
                      role=m.get("role") or None)


def _company(c: dict) -> Company:
    balance = c.get("balance_kopecks")
    return Company(name=c.get("name") or "", inn=c.get("inn") or "", kpp=c.get("kpp") or "",
                   ogrn=c.get("ogrn") or "", address=c.get("address") or "", crm_id=c.get("id"),
                   balance_kopecks=None if balance is None else _int(balance, "balance_kopecks"),
                   trade_points=[TradePoint(t.get("id"), t.get("name") or "",
                                            t.get("address") or "")
                                 for t in c.get("trade_points") or []])


def _int(value: Any, what: str) -> int:
    """A JSON integer of kopecks within MAX_KOPECKS (the bounded parser, as the API uses)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise IntegrationError("crm", f"{what} is not an integer: {str(value)[:30]!r}",
                               retryable=False)
    try:
        return parse_money(value, what, unit=KOPECKS, limit=MAX_KOPECKS)
    except MoneyError as e:
        raise IntegrationError("crm", f"bad CRM answer: {e}", retryable=False) from None
