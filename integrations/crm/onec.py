"""Adapter for the original product's 1C:UNF HTTP service (`/hs/telegram/`); its wire facts
are below, and tests/fakes/crm_1c_stub.py serves them for the tests.

Wire facts: HTTP Basic (1C login/password) plus header `token`, and `?apiKey=<token>` on
`defaultData`; every answer is `{result, error, ...}`; dates `yyyy-MM-ddTHH:mm:ss` (1C's
empty date `0001-01-01T00:00:00` reads as None); money is kopecks as a string, read by the
bounded parser (integrations.money: no Decimal, within MAX_KOPECKS; a fraction, an
exponent or "Infinity" is a non-retryable IntegrationError naming the field). Query values
are URL-encoded (the original did not, and `+7...` phones broke).

Choices where the contract is silent (the 1C stub follows them):
- `userdata` for an unknown phone answers `result: false` with an error saying "not found"
  ("не найден"); any other `result: false` is a non-retryable IntegrationError.
- Pushes carry a guid: the record's crm_id, else one derived from the idempotency key, so a
  repeated POST upserts the same 1C object; that is why POSTs here are retried.
- 1C has no contact endpoint: `upsert_contact` sends nothing and returns None.
- 1C has no call that erases or anonymises a person (the contract's `DELETE` is on the
  bot's side, for 1C to call): `forget_person` only looks the person's guid up
  (`userdata` by the proven phone) and raises a non-retryable error naming it, so the
  item goes dead and the notify.bug user is told to erase them in 1C by hand (None when
  1C does not know them). 1C pushes its
  changes to the bot's `/api`, so `changes_since` returns no changes.
- `statusList` gives a post per partner; the role is left None for the caller to derive.
"""
from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from datetime import datetime, tzinfo
from typing import Any

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

__all__ = ["OneCSeedCrm", "DATE_FORMAT"]

log = logging.getLogger(__name__)

DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
_EMPTY_DATE = "0001-01-01T00:00:00"
_GUID_NS = uuid.UUID("6f1c0a52-5d7e-4c55-9a43-1c0de0000001")
_MISSING_WORDS = ("not found", "не найден")


class OneCSeedCrm:
    """`CrmClient` over the 1C seed contract.

    Args:
        url: base URL of the HTTP service, e.g. `http://host/base/hs/telegram/`.
        login, password: the 1C user for HTTP Basic.
        token: sent as header `token` (and `apiKey` on defaultData).
        timeout: seconds per connect / read; retries: attempts after the first on
            idempotent calls; backoff: urllib3 backoff factor (seconds, doubled each time).
        tz: converts aware datetimes to the 1C server's zone (default: this machine's).
    """

    kind = "1c-seed"

    def __init__(self, url: str, login: str, password: str, token: str, *,
                 timeout: float = 10, retries: int = 3, backoff: float = 0.5,
                 tz: tzinfo | None = None):
        if not url:
            raise ValueError("crm.url is required when crm.kind is 1c-seed")
        session = make_session(retries, backoff)
        session.auth = (login, password)
        session.headers["token"] = token
        self._token = token
        self._tz = tz
        self._http = JsonHttp("crm", url, session, timeout, secrets=(password, token))

    # ---- reads -------------------------------------------------------------------------
    def find_person(self, phone_e164: str) -> Person | None:
        env = self._call("GET", "userdata", params={"phone": phone_e164}, missing_ok=True)
        if env is None:
            return None
        with _answer_shape("userdata"):
            body = env.get("entity") if isinstance(env.get("entity"), dict) else env
            return _person(body) if body.get("guid") else None

    def get_balance(self, inn: str, crm_id: str | None) -> int | None:
        params = {"guid": crm_id} if crm_id else {"inn": inn}
        env = self._call("GET", "legal", params=params)
        with _answer_shape("legal"):
            rows = [b for b in env.get("balance") or []
                    if b.get("guid") == crm_id or b.get("inn") == inn]
            return _kopecks(rows[0].get("amount"), "legal: balance.amount") if rows else None

    def find_company(self, inn: str, kpp: str = "") -> list[Company]:
        """Counterparties 1C knows under this INN (and KPP), with trade points and balance."""
        env = self._call("GET", "legal", params={"inn": inn, "kpp": kpp})
        with _answer_shape("legal"):
            return [_company(p, env) for p in env.get("partners") or [] if not p.get("markedForDel")]

    def default_data(self) -> dict[str, Any]:
        """1C reference lists and default ids (statuses, types, managers, ...), as sent."""
        return self._call("GET", "defaultData", params={"apiKey": self._token})

    def get_ticket(self, crm_id: str | None = None, number: str | None = None) -> TicketData | None:
        params = {"guid": crm_id} if crm_id else {"code": number}
        env = self._call("GET", "task", params=params, missing_ok=True)
        entity = env and env.get("entity")
        return _ticket(entity) if entity else None

    def active_tickets(self, **by: str) -> list[TicketData]:
        """Active tickets by one of guidPartner / guidUser / guidManager / guidDepartment."""
        env = self._call("GET", "taskList", params=by)
        return [_ticket(t) for t in env.get("list") or []]

    def changes_since(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return [], cursor

    # ---- pushes ------------------------------------------------------------------------
    def upsert_counterparty(self, company: Company, *, idempotency_key: str) -> str | None:
        body = _partner_body(company, _guid(company.crm_id, idempotency_key))
        return self._push("POST", "partner", body, idempotency_key)["guid"]

    def upsert_contact(self, contact: ContactData, *, idempotency_key: str) -> str | None:
        log.debug("1C seed contract has no contact endpoint; contact not sent")
        return None

    def upsert_ticket(self, ticket: TicketData, *, idempotency_key: str) -> tuple[str, str | None]:
        body = self._task_body(ticket, _guid(ticket.crm_id, idempotency_key))
        answer = self._push("PUT" if ticket.crm_id else "POST", "task", body, idempotency_key)
        return answer["guid"], answer.get("code") or None

    def report_payment(self, payment: PaymentData, *, idempotency_key: str) -> str | None:
        body = self._card_doc(payment, _guid(payment.crm_id, idempotency_key))
        return self._push("POST", "cardDoc", body, idempotency_key)["guid"]

    def forget_person(self, erasure: PersonErasure, *, idempotency_key: str) -> str | None:
        """1C cannot be told: find the person's guid (`userdata`, the one call the contract
        has for people) and fail naming it, for the operator to erase by hand."""
        guids = set(erasure.contact_crm_ids)
        for phone in erasure.phones:
            person = self.find_person(phone)
            if person is not None and person.crm_id:
                guids.add(person.crm_id)
        if not guids:
            return None                 # 1C does not know them
        raise IntegrationError("crm", "the 1C seed contract has no call to erase a person: "
                                      f"erase 1C contact(s) {', '.join(sorted(guids))} (Telegram "
                                      f"id {erasure.telegram_user_id}) by hand", retryable=False)

    def close(self) -> None:
        self._http.close()

    # ---- wire --------------------------------------------------------------------------
    def _push(self, method: str, path: str, body: dict, key: str) -> dict:
        env = self._call(method, path, json=body, key=key)
        if not env.get("guid"):
            raise IntegrationError("crm", f"{method} {path}: answer has no guid", retryable=True)
        return env

    def _call(self, method: str, path: str, *, params=None, json=None, key=None,
              missing_ok: bool = False) -> dict | None:
        headers = {IDEMPOTENCY_HEADER: key} if key else None
        _, env = self._http.request(method, path, params=params, json=json, headers=headers)
        if not isinstance(env, dict) or "result" not in env:
            raise IntegrationError("crm", f"{method} {path}: answer is not a {{result, error}} "
                                          "envelope", retryable=True)
        if env["result"] is True:
            return env
        error = str(env.get("error") or "result: false")[:200]
        if missing_ok and any(w in error.lower() for w in _MISSING_WORDS):
            return None
        raise IntegrationError("crm", f"{method} {path}: 1C refused: {error}", retryable=False)

    def _date(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(self._tz)
        return value.strftime(DATE_FORMAT)

    def _task_body(self, t: TicketData, guid: str) -> dict[str, Any]:
        return {
            "guid": guid, "code": t.number or "", "markedForDel": False,
            "date": self._date(t.created_at), "description": t.description,
            "comment": t.comment, "decision": t.decision, "guidPartner": t.company_crm_id,
            "guidDepartment": t.trade_point_crm_id, "guidAuthor": t.author_crm_id,
            "guidManager": t.master_crm_id, "guidStatus": t.status, "type": t.type,
            "highPriority": t.high_priority, "closingDate": self._date(t.closed_at),
        }

    def _card_doc(self, p: PaymentData, guid: str) -> dict[str, Any]:
        return {
            "guid": guid, "markedForDel": False, "date": self._date(p.paid_at),
            "guidPartner": p.company_crm_id, "totalAmount": str(int(p.amount_kopecks)),
            "ticketNumber": p.ticket_number or "", "referenceNumber": p.reference,
            "paymentTypeString": p.method, "comment": p.comment,
        }


def _guid(crm_id: str | None, key: str) -> str:
    """The record's 1C guid, else a stable one from the idempotency key."""
    if crm_id:
        return crm_id
    try:
        return str(uuid.UUID(key))
    except ValueError:
        return str(uuid.uuid5(_GUID_NS, key))


def _partner_body(c: Company, guid: str) -> dict[str, Any]:
    return {"guid": guid, "name": c.name, "inn": c.inn, "kpp": c.kpp, "ogrn": c.ogrn,
            "markedForDel": False}


def _person(body: dict) -> Person:
    partners = body.get("partnerListData") or {}
    companies = {p.get("guid"): _company(p, partners) for p in partners.get("partners") or []}
    memberships = [Membership(companies[s["guid"]], post=s.get("post") or "")
                   for s in body.get("statusList") or [] if s.get("guid") in companies]
    return Person(full_name=body.get("fio") or body.get("presentation") or "",
                  phone=body.get("phone") or "", crm_id=body["guid"], memberships=memberships,
                  is_employee=bool(body.get("isEmployee")))


def _company(partner: dict, bundle: dict) -> Company:
    guid = partner.get("guid")
    points = [TradePoint(d.get("guid"), d.get("name") or "")
              for d in bundle.get("departments") or []
              if d.get("guidPartner") == guid and not d.get("markedForDel")]
    amounts = [b.get("amount") for b in bundle.get("balance") or [] if b.get("guid") == guid]
    return Company(name=partner.get("name") or "", inn=partner.get("inn") or "",
                   kpp=partner.get("kpp") or "", ogrn=partner.get("ogrn") or "", crm_id=guid,
                   balance_kopecks=_kopecks(amounts[0], "balance.amount") if amounts else None,
                   trade_points=points)


def _ticket(e: dict) -> TicketData:
    return TicketData(
        description=e.get("description") or "", company_crm_id=e.get("guidPartner") or None,
        trade_point_crm_id=e.get("guidDepartment") or None,
        author_crm_id=e.get("guidAuthor") or None, crm_id=e.get("guid"),
        number=e.get("code") or None, status=e.get("guidStatus") or None,
        type=e.get("type") or None, master_crm_id=e.get("guidManager") or None,
        decision=e.get("decision") or "", comment=e.get("comment") or "",
        high_priority=bool(e.get("highPriority")), created_at=_parse_date(e.get("date")),
        closed_at=_parse_date(e.get("closingDate")))


def _parse_date(text: str | None) -> datetime | None:
    if not text or text.startswith(_EMPTY_DATE[:10]):
        return None
    try:
        return datetime.strptime(text[:19], DATE_FORMAT)
    except ValueError as e:
        raise IntegrationError("crm", f"bad 1C date {text[:30]!r}", retryable=False) from e


@contextmanager
def _answer_shape(method: str):
    """A 1C answer of the wrong shape (a row that is not an object, a list where a name
    goes) is the CRM's fault, told as such: IntegrationError, never AttributeError."""
    try:
        yield
    except (AttributeError, TypeError, KeyError) as e:
        raise IntegrationError("crm", f"bad 1C answer to {method}: {type(e).__name__}: {str(e)[:100]}",
                               retryable=False) from None


def _kopecks(value: Any, field: str) -> int | None:
    """1C's kopeck string (or number) as an int, bounded before it is parsed; None if empty."""
    if value in (None, ""):
        return None
    try:
        return parse_money(value, field, unit=KOPECKS, limit=MAX_KOPECKS)
    except MoneyError as e:
        raise IntegrationError("crm", f"bad 1C answer: {e} (got {str(value)[:30]!r})",
                               retryable=False) from None
