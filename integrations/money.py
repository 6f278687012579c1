"""The one money parser: every amount that comes from outside (the REST API `/api/v1`, the
1C `/api`, the CRM's change feed, the CRM clients' answers, an amount a user types in the
dialog) goes through `parse_money`. It lives in `integrations` so the CRM clients can use
it (dependencies point helpdesk -> integrations); `helpdesk.money` re-exports it.

Money is an integer number of kopecks everywhere inside. What a value on the wire means
depends on the field's unit, which each caller names:

* unit "kopecks" (`/api/v1` `balance_kopecks`, `amount_kopecks`; the 1C `/api` Balance
  `amount`, "an integer number of kopecks sent as a string" in the seed's contract): an
  integer, as a JSON number or a string of ASCII digits with an optional sign. A fraction
  ("12.5") is refused, never truncated: 12.5 kopecks does not exist, and reading it as
  roubles would make "12" and "12.0" differ a hundredfold.
* unit "roubles" (the amount a user types): a decimal with at most two fraction digits,
  point or comma ("12.5" is 12 roubles 50 kopecks; "1 000" is allowed).

Text is bounded (MAX_TEXT characters) before anything parses it, and nothing here calls
float() or Decimal(): "1E10000000", "Infinity", "NaN" and 5,000 digits are refused at once
(a MoneyError naming the field), instead of freezing the event loop or raising a 500.
The bound (`limit`, kopecks) comes from settings (`api.max_amount_kopecks`, `pay.*_amount`);
MAX_KOPECKS is the outer bound of any money value the bot stores (a 64-bit column).
"""
from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["MoneyError", "parse_money", "MAX_TEXT", "MAX_KOPECKS", "KOPECKS", "ROUBLES"]

KOPECKS, ROUBLES = "kopecks", "roubles"
MAX_KOPECKS = 10 ** 15         # far beyond any real balance, well inside a 64-bit column
MAX_TEXT = 32                  # characters: far above any real amount, far below a slow parse
_KOPECKS = re.compile(r"[+-]?[0-9]{1,19}")
_ROUBLES = re.compile(r"([+-]?)([0-9]{1,17})(?:[.,]([0-9]{1,2}))?")


class MoneyError(ValueError):
    """A money value that is not one; the message names the field and the expected form."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


def parse_money(value: Any, field: str, *, unit: str = KOPECKS, limit: int,
                minimum: int | None = None) -> int:
    """`value` as kopecks, within -limit..limit (or minimum..limit); MoneyError otherwise.

    Args:
        value: a JSON number or a string (anything else is refused).
        field: the name the error gives (e.g. "balance.0.amount").
        unit: KOPECKS (integers only) or ROUBLES (up to two fraction digits).
        limit: the largest absolute amount, kopecks.
        minimum: the smallest amount, kopecks (default -limit).
    """
    kopecks = _kopecks(value, field, unit)
    low = -limit if minimum is None else minimum
    if not low <= kopecks <= limit:
        raise MoneyError(field, f"must be between {_show(low, unit)} and {_show(limit, unit)} {unit}")
    return kopecks


def _kopecks(value: Any, field: str, unit: str) -> int:
    if isinstance(value, bool):
        raise MoneyError(field, _expected(unit))
    if isinstance(value, int):
        return value * (100 if unit == ROUBLES else 1)
    if isinstance(value, float):
        return _from_float(value, field, unit)
    if not isinstance(value, str):
        raise MoneyError(field, _expected(unit))
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise MoneyError(field, f"is longer than {MAX_TEXT} characters; {_expected(unit)}")
    return _from_text(text.replace(" ", "").replace("\u00a0", "") if unit == ROUBLES else text,
                      field, unit)


def _from_text(text: str, field: str, unit: str) -> int:
    if unit == KOPECKS:
        if not _KOPECKS.fullmatch(text):
            raise MoneyError(field, _expected(unit))
        return int(text)
    match = _ROUBLES.fullmatch(text)
    if not match:
        raise MoneyError(field, _expected(unit))
    sign, whole, fraction = match.groups()
    kopecks = int(whole) * 100 + int((fraction or "0").ljust(2, "0"))
    return -kopecks if sign == "-" else kopecks


def _from_float(value: float, field: str, unit: str) -> int:
    """A JSON number with a fraction part: finite, and exact to the kopeck."""
    if not math.isfinite(value) or abs(value) > 1e17:
        raise MoneyError(field, _expected(unit))
    if unit == KOPECKS:
        if not value.is_integer():
            raise MoneyError(field, _expected(unit))
        return int(value)
    return _from_text(repr(value), field, unit)      # repr: the shortest exact spelling


def _expected(unit: str) -> str:
    if unit == KOPECKS:
        return "must be an integer number of kopecks (e.g. 1250 for 12.50 roubles)"
    return "must be an amount in roubles with at most two digits after the point (e.g. 12.50)"


def _show(kopecks: int, unit: str) -> str:
    return str(kopecks) if unit == KOPECKS else f"{kopecks / 100:.2f}"
