"""Adapter for the original product's 1C:UNF HTTP service (`/hs/telegram/`); its wire facts
are below, and tests/support/fakes/crm_1c_stub.py serves them for the tests.

Wire facts: HTTP Basic (1C login/password) plus header `token`, and `?apiKey=<token>` on
`defaultData`; every answer is `{result, error, ...}`; dates `yyyy-MM-ddTHH:mm:ss` (1C's
empty date `0001-01-01T00:00:00` reads as None); money is kopecks as a string, read by the
bounded parser (integrations.money: no Decimal, within MAX_KOPECKS; a fraction, an
exponent or "Infinity" is a non-retryable IntegrationError naming the field). Query values
are URL-encoded (the original did not, and `+7...` phones broke).

Choices where the contract is silent (the 1C stub follows them):
- `userdata` for an unknown phone answers `result: false` with an error saying "not found"
  ("не найден"); any other `result: false` is a non-retryable IntegrationError.
- Pushes carry a guid: the record's crm_id, else (a ticket) the ticket's fixed `bot_guid`,
  else one derived from the idempotency key, so a repeated POST upserts the same 1C object;
  that is why POSTs here are retried. A ticket's guid is the one `nonSync` shows, so 1C
  accepting the pulled ticket and the bot's push of it are one task (docs/sync.md).
- 1C has no contact endpoint: `upsert_contact` sends nothing and returns None.
- 1C has no call that erases or anonymises a person (the contract's `DELETE` is on the
  bot's side, for 1C to call): `forget_person` only looks the person's guid up
  (`userdata` by the proven phone) and raises a non-retryable error naming it, so the
  item goes dead and the notify.bug user is told to erase them in 1C by hand (None when
  1C does not know them). 1C pushes its
  changes to the bot's `/api`, so `changes_since` returns no changes.
- `statusList` gives a post per partner; the role is left None for the caller to derive.
- A task posted to 1C has every field of the original's Task (`task_body`, also the bot's
  `/api` task reads): the bot's status and type name become 1C's guids through the
  `References` the caller passes (the bot's copy of defaultData); unknown, they go as "",
  1C's empty reference, never the bot's own word. `name` is the description's first line,
  `totalAmount` "0" and `guidCreator` "" (no 1C user created it), `isOutsourcing` false.
- A partner's contract is its `guidDefaultContract`, else its one contract in the bundle.
"""
from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from datetime import datetime, tzinfo
from typing import Any, Callable, Protocol

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

__all__ = ["OneCSeedCrm", "DATE_FORMAT", "References", "task_body"]

log = logging.getLogger(__name__)

DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
_EMPTY_DATE = "0001-01-01T00:00:00"
_GUID_NS = uuid.UUID("6f1c0a52-5d7e-4c55-9a43-1c0de0000001")
_MISSING_WORDS = ("not found", "не найден")
_NAME_MAX = 100


class References(Protocol):
    """What the 1C adapter asks of the bot's copy of 1C's reference lists (defaultData)."""

    def status_guid(self, status: str | None) -> str | None:
        """The bot's status as 1C's status guid; None when 1C's lists do not map it."""

    def type_guid(self, name: str | None) -> str | None:
        """A task type name as 1C's type guid; None when unknown."""

    def default(self, name: str) -> str | None:
        """One of 1C's defaults by name: company, division, initial_status, ..."""


class NoReferences:
    """No reference lists read (yet): every guid they would give is unknown."""

    def status_guid(self, status):
        return None

    def type_guid(self, name):
        return None

    def default(self, name):
        return None


class OneCSeedCrm:
    """`CrmClient` over the 1C seed contract.

    Args:
        url: base URL of the HTTP service, e.g. `http://host/base/hs/telegram/`.
        login, password: the 1C user for HTTP Basic.
        token: sent as header `token` (and `apiKey` on defaultData).
        timeout: seconds per connect / read; retries: attempts after the first on
            idempotent calls; backoff: urllib3 backoff factor (seconds, doubled each time).
        tz: converts aware datetimes to the 1C server's zone (default: this machine's).
        references: 1C's lists as the bot keeps them (References); default: none known.
    """

    kind = "1c-seed"

    def __init__(self, url: str, login: str, password: str, token: str, *,
                 timeout: float = 10, retries: int = 3, backoff: float = 0.5,
                 tz: tzinfo | None = None, references: References | None = None):
        if not url:
            raise ValueError("crm.url is required when crm.kind is 1c-seed")
        session = make_session(retries, backoff)
        # UTF-8, as 1C reads Basic credentials ("Администратор"); requests would encode a
        # str as Latin-1 and fail on the first Cyrillic letter
        session.auth = (login.encode("utf-8"), password.encode("utf-8"))
        session.headers["token"] = token
        self._token = token
        self._tz = tz
        self.references = references or NoReferences()
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
        # The ticket's one guid (helpdesk.sync.identity), never one per outbox item: 1C
        # may already hold the task under it (accepted from nonSync, or an earlier push
        # whose answer was lost), and a post under another guid would be a second task.
        body = self._task_body(ticket, _guid(ticket.crm_id or ticket.bot_guid, idempotency_key))
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
        return task_body(t, guid, self.references, self._date)

    def _card_doc(self, p: PaymentData, guid: str) -> dict[str, Any]:
        return {
            "guid": guid, "markedForDel": False, "date": self._date(p.paid_at),
            "guidPartner": p.company_crm_id, "totalAmount": str(int(p.amount_kopecks)),
            "ticketNumber": p.ticket_number or "", "referenceNumber": p.reference,
            "paymentTypeString": p.method, "comment": p.comment,
        }


def task_body(t: TicketData, guid: str, refs: References,
              date: Callable[[datetime | None], str | None]) -> dict[str, Any]:
    """The original's Task (common + document + task fields), as posted to 1C and as the
    bot's `/api` answers task reads: one shape for both. Unknown guids are "" (1C's empty)."""
    return {
        "guid": guid, "code": t.number or "", "name": _first_line(t.description),
        "markedForDel": t.status == "cancelled", "guidAuthor": t.author_crm_id or "",
        "date": date(t.created_at), "comment": t.comment, "guidCompany": refs.default("company") or "",
        "guidDepartment": t.trade_point_crm_id or "", "guidPartner": t.company_crm_id or "",
        "guidContract": t.contract_crm_id or "", "guidDivision": refs.default("division") or "",
        "guidManager": t.master_crm_id or "", "totalAmount": "0", "guidCreator": "",
        "description": t.description, "decision": t.decision,
        "guidStatus": refs.status_guid(t.status) or "", "closingDate": date(t.closed_at),
        "type": refs.type_guid(t.type) or "", "isOutsourcing": False,
        "highPriority": t.high_priority, "isBilling": t.is_billing,
    }


def _first_line(text: str) -> str:
    return (text or "").strip().split("\n", 1)[0][:_NAME_MAX]


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
    points = [TradePoint(d.get("guid"), d.get("name") or "",
                         contract_crm_id=_guid_text(d.get("guidContract")))
              for d in bundle.get("departments") or []
              if d.get("guidPartner") == guid and not d.get("markedForDel")]
    amounts = [b.get("amount") for b in bundle.get("balance") or [] if b.get("guid") == guid]
    return Company(name=partner.get("name") or "", inn=partner.get("inn") or "",
                   kpp=partner.get("kpp") or "", ogrn=partner.get("ogrn") or "", crm_id=guid,
                   balance_kopecks=_kopecks(amounts[0], "balance.amount") if amounts else None,
                   trade_points=points, contract_crm_id=_contract_of(partner, bundle))


def _contract_of(partner: dict, bundle: dict) -> str | None:
    """The partner's default contract, else its one live contract in the bundle."""
    if default := _guid_text(partner.get("guidDefaultContract")):
        return default
    own = [c.get("guid") for c in bundle.get("contracts") or []
           if c.get("guidPartner") == partner.get("guid") and not c.get("markedForDel")]
    return _guid_text(own[0]) if len(own) == 1 else None


def _guid_text(value: Any) -> str | None:
    """A guid 1C sent, or None for empty / not text / longer than a guid column."""
    return value.strip() if isinstance(value, str) and 0 < len(value.strip()) <= 64 else None


def _ticket(e: dict) -> TicketData:
    return TicketData(
        description=e.get("description") or "", company_crm_id=e.get("guidPartner") or None,
        trade_point_crm_id=e.get("guidDepartment") or None,
        author_crm_id=e.get("guidAuthor") or None, crm_id=e.get("guid"),
        number=e.get("code") or None, status=e.get("guidStatus") or None,
        type=e.get("type") or None, master_crm_id=e.get("guidManager") or None,
        decision=e.get("decision") or "", comment=e.get("comment") or "",
        high_priority=bool(e.get("highPriority")), created_at=_parse_date(e.get("date")),
        closed_at=_parse_date(e.get("closingDate")),
        contract_crm_id=_guid_text(e.get("guidContract")), is_billing=bool(e.get("isBilling")))


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
