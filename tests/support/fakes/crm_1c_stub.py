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
- Tasks are counted the way 1C would see them: one per guid. A new guid carrying a ticket
  1C already holds (same partner, date and description) is recorded in `duplicates` as
  (new guid, earlier guid): the bug of a second task for one ticket, made visible.
- 1C's side of `nonSync` (1C calls the bot): `take_non_sync(bot)` reads the bot's
  `GET /api/tasks?nonSync=true` over HTTP and accepts each item under its guid (a known
  guid keeps its task and code); `confirm(bot, accepted)` posts them back to the bot's
  `PUT /api/task` with their codes. Both work while this stub is `down()` (1C's HTTP
  service is down, 1C itself is not). `bot` is a `BotApi(base, token)`.
"""
from __future__ import annotations

import base64
import uuid
from typing import Any

import requests

from .http_stub import Received, StubServer

__all__ = ["OneCStub", "BotApi"]

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
def _same_ticket(task: dict) -> tuple:
    """What a 1C operator would call the same ticket, whatever its guid."""
    return (task.get("guidPartner") or "", str(task.get("date") or "")[:19],
            (task.get("description") or "").strip())


class BotApi:
    """The bot's `/api` as the 1C extension calls it (the `token` header), over HTTP."""

    def __init__(self, base: str, token: str):
        self.base, self.http = base.rstrip("/"), requests.Session()
        self.http.headers["token"] = token

    def call(self, method: str, path: str, **kw) -> dict:
        r = self.http.request(method, self.base + path, timeout=60, **kw)
        return r.json()

    def close(self) -> None:
        self.http.close()


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
        self.duplicates: list[tuple[str, str]] = []
        self._other_guids: list[str] = []
        self._task_of: dict[tuple, str] = {}     # _same_ticket(task) -> its first guid
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
            if not isinstance(req.json, dict):      # a body cut short by down()
                return 400, _refused("the body is not an object")
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
        if name == "task" and self._other_guids:
            guid = self._other_guids.pop(0)
        self._store(store, guid, body)
        self.pushed.append((name, body))
        return _ok(guid=guid, code=store[guid]["code"])

    def _store(self, store: dict, guid: str, body: dict) -> None:
        """Upsert by guid, as 1C does; a task new by guid but known by content is a duplicate."""
        old = store.get(guid, {})
        if not old and store is self.tasks:
            earlier = self._task_of.setdefault(_same_ticket(body), guid)
            if earlier != guid:
                self.duplicates.append((guid, earlier))
        code = old.get("code") or self._next_code()
        store[guid] = {**old, **body, "guid": guid, "code": code}

    def store_next_task_under(self, guid: str) -> None:
        """A misbehaving 1C: the next task posted is kept and answered under `guid`."""
        with self._lock:
            self._other_guids.append(guid)

    # ---- 1C calling the bot (nonSync) ---------------------------------------------------
    def take_non_sync(self, bot: BotApi) -> list[dict]:
        """Read the bot's tickets 1C has not accepted and accept each under its own guid;
        returns [{guid, code}] to confirm. Items are read over HTTP from the bot."""
        items = bot.call("GET", "/api/tasks", params={"nonSync": "true"})["list"]
        with self._lock:
            for item in items:
                self._store(self.tasks, item["guid"], {k: v for k, v in item.items() if k != "code"})
            return [{"guid": i["guid"], "code": self.tasks[i["guid"]]["code"]} for i in items]

    def confirm(self, bot: BotApi, accepted: list[dict]) -> list[dict]:
        """Tell the bot 1C accepted them (`PUT /api/task {guid, code}`); the answers."""
        return [bot.call("PUT", "/api/task", json=a) for a in accepted]

    def _next_code(self) -> str:
        self._codes += 1
        return f"{self._codes:09d}"
