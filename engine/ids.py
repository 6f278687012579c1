"""Ids that arrive from outside (callback data, slots a button filled, API paths).

Telegram lets anybody send any callback data on any message of the bot in their own chat,
so an id in `wg:take:12` is a claim, not a fact. `parse_id` is the one gate every such id
passes before it reaches the database: ASCII digits only (str.isdigit() also accepts "²"
and "١", which int() then refuses or reads as another number), at most `MAX_DIGITS` of them
(so no 25-digit number overflows a 64-bit column), no sign, no spaces. Anything else is
None: for the caller a malformed id and a forged one are the same stale button.
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_id", "MAX_DIGITS"]

MAX_DIGITS = 18                       # fits a signed 64-bit integer column
_ASCII_ID = re.compile(r"[0-9]{1,%d}" % MAX_DIGITS)


def parse_id(value: Any) -> int | None:
    """A positive row id from untrusted text (or an int), else None; never raises."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 10 ** MAX_DIGITS else None
    if not isinstance(value, str) or not _ASCII_ID.fullmatch(value):
        return None
    number = int(value)
    return number or None
