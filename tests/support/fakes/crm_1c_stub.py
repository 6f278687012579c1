"""A loopback stand-in for the original 1C:UNF HTTP service (integrations/crm/onec.py).

    with OneCStub(login="bot", password="p4ss", token="t0k") as c1:
        acme = c1.add_partner("ООО Ромашка", inn="7707083893", kpp="770701001", balance=150000)
        c1.add_department(acme, "Магазин на Ленина")
        c1.add_person("+79991234567", "Иванов Иван", [(acme, "Генеральный директор")])
        crm = OneCSeedCrm(c1.url, "bot", "p4ss", "t0k", timeout=1, retries=2, backoff=0.01)
        ...
        c1.pushed            # [(path, body)] of accepted POST/PUT in order
        c1.tasks[guid]       # stored tasks; also c1.partners, c1.card_docs, c1.departments

Besides the shared API of `http_stub.StubServer` (requests, faults, down/up):
- checks HTTP Basic (login/password) and the `token` header on every call, and `apiKey` on
  defaultData; a failure answers 401 `{result: false, error}`.
- `userdata?phone=` answers the person with `statusList` and `partnerListData`; an unknown
  phone answers `{result: false, error: "not found"}`. The phone is read from the decoded
  query, so an unencoded `+` arrives as a space and is not found (the original's bug).
- POST/PUT partner, task, cardDoc upsert by guid (a new guid when none is sent); a new
  object gets the next 9-digit `code`; a repeat keeps it. Answer `{result, error, guid, code}`.
- `add_task(...)` seeds tickets for `task` / `taskList` (active = no closingDate).
- `defaultData` answers `c1.default_data` (statuses Новая / В работе / Закрыта, one task
  type, one manager, a company and a division, with the default ids); a test replaces or
  edits it (a malformed answer, more managers). `add_contract` seeds a partner's contract
  (in `legal` / `userdata` bundles).
"""
from __future__ import annotations

import base64
import uuid
from typing import Any

from .http_stub import Received, StubServer

__all__ = ["OneCStub"]

_EMPTY_DATE = "0001-01-01T00:00:00"
_PUSHABLE = {"partner": "partners", "task": "tasks", "cardDoc": "card_docs"}


def _ok(**fields) -> dict:
    return {"result": True, "error": "", **fields}


def _refused(message: str) -> dict:
    return {"result": False, "error": message}


def _default_data() -> dict:
    return _ok(taskStatuses=[{"guid": "st-new", "name": "Новая"},
                             {"guid": "st-work", "name": "В работе"},
                             {"guid": "st-closed", "name": "Закрыта"}],
               taskTypes=[{"guid": "tt-default", "name": "Обращение"}],
               managers=[{"guid": "mgr-petrov", "name": "Петров Пётр"}],
               companies=[{"guid": "org-main", "name": "ООО Сервис"}],
               divisions=[{"guid": "div-main", "name": "Техподдержка"}],
               banks=[], bankAccounts=[], payTerminals=[], cashDeskKkms=[], cashDesks=[],
               guidInitialStatus="st-new", guidClosedStatus="st-closed",
               guidCompany="org-main", guidDivision="div-main", defaultTaskType="Обращение")


class OneCStub(StubServer):
    PREFIX = "/base/hs/telegram/"

    def __init__(self, login: str = "bot", password: str = "p4ss-1c", token: str = "t0ken-1c"):
        super().__init__()
        self.login, self.password, self.token = login, password, token
        self.partners: dict[str, dict] = {}
        self.departments: dict[str, dict] = {}
        self.contracts: dict[str, dict] = {}
        self.balances: dict[str, int] = {}
        self.people: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.card_docs: dict[str, dict] = {}
        self.pushed: list[tuple[str, dict]] = []
        self._codes = 0
        self.default_data: Any = _default_data()

    @property
    def url(self) -> str:
        return self.base + self.PREFIX

    # ---- seeding ------------------------------------------------------------------------
    def add_partner(self, name: str, inn: str, kpp: str = "", ogrn: str = "",
                    guid: str | None = None, balance: int | None = None) -> str:
        guid = guid or str(uuid.uuid4())
        with self._lock:
            self.partners[guid] = {"guid": guid, "code": self._next_code(), "name": name,
                                   "inn": inn, "kpp": kpp, "ogrn": ogrn, "markedForDel": False}
            if balance is not None:
                self.balances[guid] = balance
        return guid

    def add_department(self, partner: str, name: str, guid: str | None = None,
                       contract: str | None = None) -> str:
        guid = guid or str(uuid.uuid4())
        with self._lock:
            self.departments[guid] = {"guid": guid, "code": self._next_code(), "name": name,
                                      "guidPartner": partner, "markedForDel": False,
                                      "guidContract": contract or ""}
        return guid

    def add_contract(self, partner: str, name: str, guid: str | None = None,
                     default: bool = False) -> str:
        """A contract of `partner`; `default` makes it the partner's guidDefaultContract."""
        guid = guid or str(uuid.uuid4())
        with self._lock:
            self.contracts[guid] = {"guid": guid, "code": self._next_code(), "name": name,
                                    "guidPartner": partner, "markedForDel": False,
                                    "isBilling": False}
            if default:
                self.partners[partner]["guidDefaultContract"] = guid
        return guid

    def add_person(self, phone: str, fio: str, statuses: list[tuple[str, str]],
                   guid: str | None = None, is_employee: bool = False) -> str:
        guid = guid or str(uuid.uuid4())
        with self._lock:
            self.people[phone] = {"guid": guid, "phone": phone, "fio": fio, "presentation": fio,
                                  "gender": "", "notValid": False, "isEmployee": is_employee,
                                  "isMaster": False, "birthday": _EMPTY_DATE,
                                  "statusList": [{"guid": p, "post": post} for p, post in statuses]}
        return guid

    def set_balance(self, partner: str, kopecks: int) -> None:
        with self._lock:
            self.balances[partner] = kopecks

    def add_task(self, partner: str, description: str, closed: bool = False, **fields) -> str:
        guid = fields.pop("guid", None) or str(uuid.uuid4())
        with self._lock:
            self.tasks[guid] = {"guid": guid, "code": self._next_code(), "guidPartner": partner,
                                "description": description, "date": "2024-05-01T10:00:00",
                                "closingDate": "2024-05-02T10:00:00" if closed else _EMPTY_DATE,
                                **fields}
        return guid

    # ---- protocol -----------------------------------------------------------------------
    def authorized(self, req: Received) -> bool:
        expected = base64.b64encode(f"{self.login}:{self.password}".encode()).decode()
        basic = req.headers.get("authorization") == f"Basic {expected}"
        api_key = req.path != self.PREFIX + "defaultData" or req.query.get("apiKey") == self.token
        return basic and req.headers.get("token") == self.token and api_key

    def error_body(self, status: int, message: str) -> Any:
        return _refused(message)

    def handle(self, req: Received) -> tuple[int, Any]:
        name = req.path[len(self.PREFIX):] if req.path.startswith(self.PREFIX) else ""
        if req.method in ("POST", "PUT") and name in _PUSHABLE:
            return 200, self._upsert(name, req.json)
        route = getattr(self, f"_get_{name}", None) if req.method == "GET" else None
        if route is None:
            return 404, _refused(f"no method {req.method} {req.path}")
        return 200, route(req.query)

    def _get_defaultData(self, q: dict) -> Any:
        return self.default_data

    def _get_legal(self, q: dict) -> dict:
        if q.get("guid"):
            guids = [q["guid"]] if q["guid"] in self.partners else []
        else:
            guids = [g for g, p in self.partners.items() if p["inn"] == q.get("inn")
                     and (not q.get("kpp") or p["kpp"] == q["kpp"])]
        return _ok(**self._bundle(guids))

    def _get_userdata(self, q: dict) -> dict:
        person = self.people.get(q.get("phone", ""))
        if person is None:
            return _refused("not found")
        partners = [s["guid"] for s in person["statusList"]]
        tasks = [t for t in self.tasks.values() if t.get("guidPartner") in partners]
        return _ok(**person, taskList=tasks, partnerListData=self._bundle(partners))

    def _get_task(self, q: dict) -> dict:
        found = [t for t in self.tasks.values()
                 if t["guid"] == q.get("guid") or (q.get("code") and t["code"] == q["code"])]
        return _ok(entity=found[0]) if found else _refused("not found")

    def _get_taskList(self, q: dict) -> dict:
        field, value = next(iter(q.items()))
        key = {"guidUser": "guidAuthor"}.get(field, field)
        return _ok(list=[t for t in self.tasks.values() if t.get(key) == value
                         and (t.get("closingDate") or _EMPTY_DATE) == _EMPTY_DATE])

    def _bundle(self, guids: list[str]) -> dict:
        return {"partners": [self.partners[g] for g in guids if g in self.partners],
                "departments": [d for d in self.departments.values() if d["guidPartner"] in guids],
                "contracts": [c for c in self.contracts.values() if c["guidPartner"] in guids],
                "balance": [{"guid": g, "inn": self.partners[g]["inn"],
                             "kpp": self.partners[g]["kpp"], "amount": str(self.balances[g])}
                            for g in guids if g in self.balances and g in self.partners]}

    def _upsert(self, name: str, body: dict) -> dict:
        store = getattr(self, _PUSHABLE[name])
        guid = body.get("guid") or str(uuid.uuid4())
        old = store.get(guid, {})
        code = old.get("code") or self._next_code()
        store[guid] = {**old, **body, "guid": guid, "code": code}
        self.pushed.append((name, body))
        return _ok(guid=guid, code=code)

    def _next_code(self) -> str:
        self._codes += 1
        return f"{self._codes:09d}"
