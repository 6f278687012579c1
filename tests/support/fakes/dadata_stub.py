"""A loopback stand-in for DaData `findById/party` (dadata.ru/api/find-party/).

    with DadataStub(api_key="k3y") as dd:
        dd.add_company("7707083893", 'ПАО "СБЕРБАНК"', kpp="773601001", ogrn="1027700132195",
                       director="Греф Герман Оскарович", post="ПРЕЗИДЕНТ")
        DadataClient("k3y", url=dd.url, timeout=1).find_company("7707083893")

Besides the shared API of `http_stub.StubServer` (requests, faults, down/up): checks
`Authorization: Token <api_key>` (403 otherwise, as DaData does); answers
`{"suggestions": [...]}` with one suggestion per seeded company of that INN (empty list
for an unknown INN). `add_company(kind="INDIVIDUAL")` gives a sole trader (fio, no
management).
"""
from __future__ import annotations

from typing import Any

from .http_stub import Received, StubServer

__all__ = ["DadataStub"]


class DadataStub(StubServer):
    PREFIX = "/suggestions/api/4_1/rs"
    auth_status = 403

    def __init__(self, api_key: str = "dadata-k3y"):
        super().__init__()
        self.api_key = api_key
        self.companies: dict[str, list[dict]] = {}

    @property
    def url(self) -> str:
        return self.base + self.PREFIX

    def add_company(self, inn: str, name: str, kpp: str = "", ogrn: str = "",
                    address: str = "г Москва, ул Ленина, д 1", director: str = "",
                    post: str = "ГЕНЕРАЛЬНЫЙ ДИРЕКТОР", status: str = "ACTIVE",
                    kind: str = "LEGAL", okpo: str = "") -> dict:
        data = {"inn": inn, "kpp": kpp or None, "ogrn": ogrn, "okpo": okpo or None,
                "ogrn_date": 1029456000000, "type": kind, "branch_type": "MAIN",
                "name": {"full_with_opf": name, "short_with_opf": name},
                "state": {"status": status, "registration_date": 1029456000000},
                "address": {"value": address, "unrestricted_value": address, "data": {}}}
        if kind == "INDIVIDUAL":
            parts = director.split() + ["", "", ""]
            data["fio"] = {"surname": parts[0], "name": parts[1], "patronymic": parts[2]}
        elif director:
            data["management"] = {"name": director, "post": post}
        suggestion = {"value": name, "unrestricted_value": name, "data": data}
        with self._lock:
            self.companies.setdefault(inn, []).append(suggestion)
        return suggestion

    def authorized(self, req: Received) -> bool:
        return req.headers.get("authorization") == f"Token {self.api_key}"

    def error_body(self, status: int, message: str) -> Any:
        return {"family": "CLIENT_ERROR" if status < 500 else "SERVER_ERROR",
                "reason": message, "message": message}

    def handle(self, req: Received) -> tuple[int, Any]:
        if req.method != "POST" or req.path != self.PREFIX + "/findById/party":
            return 404, self.error_body(404, "not found")
        query = str((req.json or {})["query"])
        return 200, {"suggestions": list(self.companies.get(query, []))}
