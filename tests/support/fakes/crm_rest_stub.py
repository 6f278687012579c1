"""A loopback reference server of our CRM contract (docs/crm-api.md).

    with RestCrmStub(token="s3cret") as crm_stub:
        c = crm_stub.add_counterparty("ООО Ромашка", "7707083893", balance=150000,
                                      trade_points=["Магазин"])
        crm_stub.add_person("+79991234567", "Иванов Иван", [(c, "Директор", "DIRECTOR")])
        crm = RestCrm(crm_stub.url, "s3cret", timeout=1, retries=2, backoff=0.01)
        ...
        crm_stub.items           # [(collection, method, body)] applied pushes, in order,
                                 # each idempotency key once
        crm_stub.store["tickets"][id]   # current objects by collection and id
        crm_stub.append_change("ticket", "t-1", {...}) -> cursor after it

Besides the shared API of `http_stub.StubServer` (requests, faults, down/up):
- checks `Authorization: Bearer <token>` (401 otherwise);
- POST/PUT require `Idempotency-Key` (400 without); a repeated key with the same body gets
  the first answer without applying again; with another body: 422 idempotency_mismatch;
- tickets get numbers `000000001`, ...; `changes` cursors are decimal offsets;
- POST erasures (a person who erased their data in the bot) removes the persons and
  contacts it names by id or phone, as a CRM that honours it would.
"""
from __future__ import annotations

import json
from typing import Any

from .http_stub import Received, StubServer

__all__ = ["RestCrmStub"]

_COLLECTIONS = ("counterparties", "contacts", "tickets", "payments", "erasures")


class RestCrmStub(StubServer):
    PREFIX = "/crm/v1"

    def __init__(self, token: str = "rest-t0ken"):
        super().__init__()
        self.token = token
        self.persons: list[dict] = []
        self.store: dict[str, dict[str, dict]] = {c: {} for c in _COLLECTIONS}
        self.balances: dict[str, int] = {}
        self.items: list[tuple[str, str, dict]] = []
        self.changes: list[dict] = []
        self._keys: dict[str, tuple[str, tuple[int, Any]]] = {}
        self._ids = 0

    @property
    def url(self) -> str:
        return self.base + self.PREFIX

    # ---- seeding ------------------------------------------------------------------------
    def add_counterparty(self, name: str, inn: str, kpp: str = "", balance: int | None = None,
                         trade_points: list[str] = ()) -> dict:
        with self._lock:
            cid = self._new_id("c")
            points = [{"id": self._new_id("tp"), "name": n, "address": ""} for n in trade_points]
            company = {"id": cid, "inn": inn, "kpp": kpp, "ogrn": "", "name": name,
                       "address": "", "balance_kopecks": balance, "trade_points": points}
            self.store["counterparties"][cid] = company
            if balance is not None:
                self.balances[cid] = balance
        return company

    def add_person(self, phone: str, full_name: str,
                   memberships: list[tuple[dict, str, str | None]]) -> dict:
        with self._lock:
            person = {"id": self._new_id("p"), "full_name": full_name, "phone": phone,
                      "is_employee": False,
                      "memberships": [{"counterparty": c, "post": post, "role": role}
                                      for c, post, role in memberships]}
            self.persons.append(person)
        return person

    def append_change(self, entity: str, id: str, data: dict | None = None,
                      op: str = "upsert", at: str = "2024-05-01T10:00:00+03:00") -> str:
        with self._lock:
            self.changes.append({"entity": entity, "op": op, "id": id, "at": at,
                                 "data": data or {}})
            return str(len(self.changes))

    # ---- protocol -----------------------------------------------------------------------
    def authorized(self, req: Received) -> bool:
        return req.headers.get("authorization") == f"Bearer {self.token}"

    def error_body(self, status: int, message: str) -> Any:
        code = {400: "bad_request", 401: "unauthorized", 404: "not_found", 409: "in_progress",
                422: "unprocessable"}.get(status, "server_error")
        return {"error": {"code": code, "message": message}}

    def handle(self, req: Received) -> tuple[int, Any]:
        parts = req.path[len(self.PREFIX):].strip("/").split("/")
        if req.method == "GET" and len(parts) == 1 and hasattr(self, f"_get_{parts[0]}"):
            return getattr(self, f"_get_{parts[0]}")(req.query)
        if req.method in ("POST", "PUT") and parts[0] in _COLLECTIONS and len(parts) <= 2:
            return self._push(req, parts[0], parts[1] if len(parts) == 2 else None)
        return 404, self.error_body(404, f"no route {req.method} {req.path}")

    def _get_persons(self, q: dict) -> tuple[int, Any]:
        return 200, {"items": [p for p in self.persons if p["phone"] == q.get("phone")]}

    def _get_balance(self, q: dict) -> tuple[int, Any]:
        by_inn = (c["id"] for c in self.store["counterparties"].values()
                  if c["inn"] == q.get("inn"))
        cid = q.get("counterparty_id") or next(by_inn, "")
        if cid not in self.balances:
            return 404, self.error_body(404, "no balance")
        return 200, {"balance_kopecks": self.balances[cid]}

    def _get_changes(self, q: dict) -> tuple[int, Any]:
        start, limit = int(q.get("cursor") or 0), int(q.get("limit") or 100)
        page = self.changes[start:start + limit]
        return 200, {"items": page, "next_cursor": str(start + len(page))}

    def _push(self, req: Received, collection: str, id: str | None) -> tuple[int, Any]:
        key = req.headers.get("idempotency-key")
        if not key:
            return 400, self.error_body(400, "Idempotency-Key header is required")
        fingerprint = f"{req.method} {req.path} {json.dumps(req.json, sort_keys=True)}"
        if key in self._keys:
            seen, answer = self._keys[key]
            return answer if seen == fingerprint else (
                422, self.error_body(422, "idempotency_mismatch"))
        answer = self._apply(collection, req.method, id, req.json)
        self._keys[key] = (fingerprint, answer)
        return answer

    def _apply(self, collection: str, method: str, id: str | None, body: dict) -> tuple[int, Any]:
        store = self.store[collection]
        if id is not None and id not in store:
            return 404, self.error_body(404, f"{collection}/{id} not found")
        id = id or self._new_id(collection[0])
        old = store.get(id, {})
        record = {**old, **body, "id": id}
        if collection == "tickets":  # the CRM owns numbers: the bot's value is ignored
            record["number"] = old.get("number") or f"{len(store) + 1:09d}"
        if collection == "payments" and record.get("counterparty_id") in self.balances:
            self.balances[record["counterparty_id"]] += int(record["amount_kopecks"])
        if collection == "erasures":
            self._erase(set(record.get("contact_ids") or []), set(record.get("phones") or []))
        store[id] = record
        self.items.append((collection, method, body))
        answer = {"id": id, "number": record["number"]} if collection == "tickets" else {"id": id}
        return (201 if method == "POST" else 200), answer

    def _erase(self, ids: set[str], phones: set[str]) -> None:
        self.persons = [p for p in self.persons if p["id"] not in ids and p["phone"] not in phones]
        for cid, contact in list(self.store["contacts"].items()):
            if cid in ids or contact.get("phone") in phones:
                del self.store["contacts"][cid]

    def _new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids}"
