"""Company data by INN from DaData (`findById/party`), with requests.

POST `{url}/findById/party` `{"query": inn, "branch_type": "MAIN"}` with
`Authorization: Token <key>`; the first suggestion is the head office. Response shape:
dadata.ru/api/find-party/ (`suggestions[].data`: inn, kpp, ogrn, ogrn_date, okpo, type,
name.short_with_opf, management.name/post, fio for sole traders, state.status,
address.value).

No key: `find_company` returns None without a call, so the questionnaire goes on with
manual entry. Timeouts, 5xx and garbage raise IntegrationError("dadata", retryable=True);
a rejected key (401/403) raises a non-retryable one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from engine.errors import IntegrationError

from .http import JsonHttp, make_session

__all__ = ["CompanyInfo", "DadataClient", "DEFAULT_URL"]

DEFAULT_URL = "https://suggestions.dadata.ru/suggestions/api/4_1/rs"


@dataclass
class CompanyInfo:
    """What DaData knows of a company. `kind` is LEGAL or INDIVIDUAL (a sole trader:
    director_name is the trader, director_post empty); `status` is ACTIVE, LIQUIDATING,
    LIQUIDATED, BANKRUPT or REORGANIZING."""

    inn: str
    name: str
    kpp: str = ""
    ogrn: str = ""
    okpo: str = ""
    address: str = ""
    director_name: str = ""
    director_post: str = ""
    status: str = ""
    kind: str = ""
    registered: date | None = None

    @property
    def active(self) -> bool:
        return self.status in ("", "ACTIVE")


class DadataClient:
    """Find a company by INN.

    Args:
        api_key: DaData API key; empty disables lookups (find_company returns None).
        url: base URL (settings `dadata.url`), so a stub can stand in.
        timeout: seconds per connect / read; retries: attempts after the first (the call
            only reads, so POST is retried too).
    """

    def __init__(self, api_key: str, url: str = DEFAULT_URL, timeout: float = 3,
                 retries: int = 1, backoff: float = 0.2):
        self._enabled = bool(api_key)
        session = make_session(retries, backoff, retry_post=True)
        session.headers["Authorization"] = f"Token {api_key}"
        session.headers["Accept"] = "application/json"
        self._http = JsonHttp("dadata", url, session, timeout, secrets=(api_key,))

    @property
    def enabled(self) -> bool:
        return self._enabled

    def find_company(self, inn: str) -> CompanyInfo | None:
        """The head office with this INN, or None when unknown or no key is configured."""
        if not self._enabled:
            return None
        _, body = self._http.request("POST", "findById/party",
                                     json={"query": inn, "branch_type": "MAIN"})
        suggestions = body.get("suggestions") if isinstance(body, dict) else None
        if not isinstance(suggestions, list):
            raise IntegrationError("dadata", "findById/party: answer has no suggestions list",
                                   retryable=True)
        return _company(suggestions[0]) if suggestions else None

    def close(self) -> None:
        self._http.close()


def _company(suggestion: dict) -> CompanyInfo:
    d = suggestion.get("data") or {}
    name = d.get("name") or {}
    boss = d.get("management") or {}
    return CompanyInfo(
        inn=d.get("inn") or "", kpp=d.get("kpp") or "", ogrn=d.get("ogrn") or "",
        okpo=d.get("okpo") or "",
        name=(name.get("short_with_opf") or name.get("full_with_opf")
              or suggestion.get("value") or ""),
        address=(d.get("address") or {}).get("value") or "",
        director_name=boss.get("name") or _fio(d.get("fio")),
        director_post=boss.get("post") or "",
        status=(d.get("state") or {}).get("status") or "", kind=d.get("type") or "",
        registered=_date(d.get("ogrn_date")))


def _fio(fio: Any) -> str:
    if not isinstance(fio, dict):
        return ""
    return " ".join(p for p in (fio.get("surname"), fio.get("name"), fio.get("patronymic")) if p)


def _date(millis: Any) -> date | None:
    """DaData dates are Unix milliseconds."""
    if not isinstance(millis, (int, float)):
        return None
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).date()
