"""Company data by INN from DaData (`findById/party`), with requests.

POST `{url}/findById/party` `{"query": inn, "branch_type": "MAIN"}` with
`Authorization: Token <key>`; the first suggestion is the head office. Response shape:
dadata.ru/api/find-party/ (`suggestions[].data`: inn, kpp, ogrn, ogrn_date, okpo, type,
name.short_with_opf, management.name/post, fio for sole traders, state.status,
address.value).

No key: `find_company` returns None without a call, so the questionnaire goes on with
manual entry. Timeouts, 5xx and garbage raise IntegrationError("dadata", retryable=True);
a rejected key (401/403) raises a non-retryable one.

The answer is checked before it is used: every object is an object, every string a string
within its bound (MAX_CODE for the codes, MAX_TEXT for names, addresses and posts) and
`ogrn_date` a number of milliseconds within REGISTERED_RANGE; anything else is a
non-retryable IntegrationError naming the field (the dialog then offers manual entry),
never an AttributeError or OverflowError, and never a 2 MB name in the dialog's slots.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from engine.errors import IntegrationError

from .http import JsonHttp, make_session

__all__ = ["CompanyInfo", "DadataClient", "DEFAULT_URL", "MAX_CODE", "MAX_TEXT",
           "REGISTERED_RANGE"]

DEFAULT_URL = "https://suggestions.dadata.ru/suggestions/api/4_1/rs"
MAX_CODE = 20       # characters: INN 10/12, KPP 9, OGRN 13/15, OKPO 8/10 digits
MAX_TEXT = 500      # characters: a company name column holds 500; real names, addresses
                    # and posts are far shorter, so a longer one is garbage, not truncated
REGISTERED_RANGE = (date(1900, 1, 1), date(2100, 1, 1))   # ogrn_date outside: garbage


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


def _company(suggestion: Any) -> CompanyInfo:
    suggestion = _obj(suggestion, "suggestions.0")
    d = _obj(suggestion.get("data"), "data")
    name, boss = _obj(d.get("name"), "data.name"), _obj(d.get("management"), "data.management")
    return CompanyInfo(
        inn=_code(d, "inn"), kpp=_code(d, "kpp"), ogrn=_code(d, "ogrn"), okpo=_code(d, "okpo"),
        name=(_text(name, "short_with_opf", "data.name")
              or _text(name, "full_with_opf", "data.name")
              or _text(suggestion, "value", "suggestions.0")),
        address=_text(_obj(d.get("address"), "data.address"), "value", "data.address"),
        director_name=_text(boss, "name", "data.management") or _fio(d.get("fio")),
        director_post=_text(boss, "post", "data.management"),
        status=_text(_obj(d.get("state"), "data.state"), "status", "data.state"),
        kind=_text(d, "type", "data"), registered=_date(d.get("ogrn_date")))


def _refused(field: str, what: str) -> IntegrationError:
    return IntegrationError("dadata", f"findById/party: {field} {what}", retryable=False)


def _obj(value: Any, field: str) -> dict:
    """An object of the answer ({} when absent); anything else is refused."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _refused(field, f"is not an object but {type(value).__name__}")
    return value


def _text(parent: dict, key: str, where: str, limit: int = MAX_TEXT) -> str:
    """`parent[key]` as a string of at most `limit` characters ("" when absent)."""
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _refused(f"{where}.{key}", f"is not a string but {type(value).__name__}")
    if len(value) > limit:
        raise _refused(f"{where}.{key}", f"is longer than {limit} characters")
    return value


def _code(data: dict, key: str) -> str:
    return _text(data, key, "data", MAX_CODE)


def _fio(fio: Any) -> str:
    fio = _obj(fio, "data.fio")
    parts = (_text(fio, k, "data.fio") for k in ("surname", "name", "patronymic"))
    return " ".join(p for p in parts if p)


def _millis(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


_MILLIS_RANGE = tuple(_millis(day) for day in REGISTERED_RANGE)


def _date(millis: Any) -> date | None:
    """DaData dates are Unix milliseconds; bounded (REGISTERED_RANGE) before conversion."""
    if millis is None:
        return None
    if isinstance(millis, bool) or not isinstance(millis, (int, float)):
        raise _refused("data.ogrn_date", "is not a number of milliseconds")
    low, high = _MILLIS_RANGE
    if not low <= millis < high:                 # also refuses NaN and infinities
        raise _refused("data.ogrn_date", f"is outside {REGISTERED_RANGE[0]}..{REGISTERED_RANGE[1]}")
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).date()
